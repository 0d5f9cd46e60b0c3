/**
 * One recoverer per job. Recovery, pull and teardown of a job — by its driver, `kiln down`, `kiln gc` or
 * `kiln status --refresh`, in any number of processes at once — first take the job's lock in the ledger.
 * Four recovery commands racing on one dead job used to interleave their saves and lose the trained SAE;
 * now the first takes the lock and the others leave that job alone and say who has it.
 *
 * A lock whose holder died (pid gone, or the pid now belongs to another process: its start time differs)
 * is taken over, and the takeover is recorded as an event.
 *
 * @example
 *   const lock = tryLockJob(ledger, job.id, "kiln gc");
 *   if (!lock.ok) report.busy.push(`${job.id}: ${lock.why}`);
 *   else try { … } finally { lock.release(); }
 */
import { UserError } from "../../base/errors.js";
import type { JobLockRecord, Ledger } from "../../store/index.js";
import { isAlive, processStartToken } from "../supervisor/process.js";

export type JobLock = { ok: true; release(): void; tookOver?: JobLockRecord } | { ok: false; heldBy: JobLockRecord; why: string };

/** Whether a lock's holder is gone: its pid is dead, or was reused by a process that started later. */
export function isStaleLock(lock: JobLockRecord): boolean {
  if (!isAlive(lock.pid)) return true;
  if (lock.pid_start === null) return false;
  const now = processStartToken(lock.pid);
  return now !== undefined && now !== lock.pid_start;
}

/** Try to take `jobId`'s lock for this process, named `holder` in messages. Never waits. */
export function tryLockJob(ledger: Ledger, jobId: string, holder: string, pid: number = process.pid): JobLock {
  const pidStart = processStartToken(pid);
  const r = ledger.acquireJobLock(jobId, { holder, pid, ...(pidStart !== undefined && { pidStart }) }, isStaleLock);
  if (!r.acquired) return { ok: false, heldBy: r.heldBy, why: `${r.heldBy.holder} (pid ${r.heldBy.pid}) has been handling it since ${r.heldBy.acquired_at.split("#")[0]}` };
  return { ok: true, release: () => ledger.releaseJobLock(jobId, r.acquiredAt), ...(r.tookOver && { tookOver: r.tookOver }) };
}

/** Take the lock or fail with a user error naming the holder (for commands about one job: `kiln down`). */
export function lockJobOrFail(ledger: Ledger, jobId: string, holder: string): { release(): void } {
  const lock = tryLockJob(ledger, jobId, holder);
  if (!lock.ok) {
    throw new UserError(`job ${jobId} is being recovered by another Kiln process: ${lock.why}`, {
      hint: `wait for it to finish (\`kiln status ${jobId}\` shows the outcome), then run the command again`,
    });
  }
  return lock;
}
