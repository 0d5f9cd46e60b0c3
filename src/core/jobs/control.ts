/**
 * Acting on existing jobs: find one by id/prefix/name, notice a dead supervisor (→ `interrupted`),
 * stop a job (SIGTERM to the workload's group → checkpoint → SIGKILL after the grace), and resume
 * one in its own job dir (the engine resumes from its newest checkpoint).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { JobRecord, Ledger } from "../../store/index.js";
import { sleep } from "../../base/deadline.js";
import { UserError } from "../../base/errors.js";
import type { KilnPaths } from "../home.js";
import { jobLayout, readRunFile } from "../job/index.js";
import { isJobProcess, stopGroup } from "../supervisor/process.js";
import { launchSupervisor } from "../supervisor/launch.js";
import { isTerminal } from "../../store/index.js";

const CREATED_GRACE_MS = 30_000;

export function requireJob(ledger: Ledger, ref: string): JobRecord {
  const job = ledger.findJob(ref);
  if (!job) throw new UserError(`no job "${ref}"`, { exitCode: 2, hint: "run `kiln status` to list jobs" });
  return job;
}

/** Jobs with a driver, not a supervisor: a cloud.json, or machines other than this computer. */
function hasCloudMachines(ledger: Ledger, job: JobRecord): boolean {
  return existsSync(join(job.job_dir, "cloud.json")) || ledger.listMachines(job.id).some((m) => m.provider !== "local");
}

/**
 * Mark jobs whose supervisor is gone (SIGKILL, OOM, reboot) as `interrupted`, closing their open
 * attempt and machine rows. Returns the ids it changed. Cheap; `kiln status` calls it every time.
 */
export function reconcileJobs(ledger: Ledger): string[] {
  const changed: string[] = [];
  for (const job of ledger.listJobs()) {
    if (isTerminal(job.state)) continue;
    // Cloud jobs have a driver, not a supervisor, and their machines may still be billing: only the
    // cloud reconciliation (src/core/reconcile), which asks the provider, may close them.
    if (hasCloudMachines(ledger, job)) continue;
    if (isJobProcess(job.supervisor_pid, job.id)) continue;
    // A job just (re)submitted has no supervisor pid for a moment: give the launch time to record it.
    const lastChange = ledger.listEvents(job.id, { kind: "job_state" }).at(-1)?.ts;
    if (job.state === "created" && lastChange !== undefined && Date.now() - Date.parse(lastChange) < CREATED_GRACE_MS) continue;
    // Re-read: the supervisor may have finished between listJobs and the liveness check.
    const now = ledger.getJob(job.id);
    if (!now || isTerminal(now.state)) continue;
    const why = `supervisor process ${job.supervisor_pid ?? "?"} is gone`;
    for (const a of ledger.listAttempts(job.id)) if (a.state === "running") ledger.endAttempt(a.id, "interrupted", why);
    for (const m of ledger.listMachines(job.id)) if (m.state !== "terminated") ledger.markMachineTerminated(m.id, `${why}; local machine released`);
    const orphan = isJobProcess(now.workload_pid, job.id);
    ledger.transitionJob(job.id, "interrupted", orphan ? `${why} (workload ${now.workload_pid} still running; \`kiln stop\` or \`kiln run --resume\` stops it)` : why);
    changed.push(job.id);
  }
  return changed;
}

export interface StopResult {
  job: JobRecord;
  how: "gone" | "terminated" | "killed" | "not-running";
}

export async function stopJob(ledger: Ledger, ref: string, opts: { graceMs: number; signal?: AbortSignal; reason?: string }): Promise<StopResult> {
  reconcileJobs(ledger);
  let job = requireJob(ledger, ref);
  const workloadAlive = isJobProcess(job.workload_pid, job.id);
  if (isTerminal(job.state) && !workloadAlive) {
    throw new UserError(`job ${job.name} (${job.id}) is already ${job.state}`, { hint: job.state === "succeeded" ? `see \`kiln report ${job.id}\`` : `resume it with \`kiln run --resume ${job.id}\`` });
  }
  if (!isTerminal(job.state)) job = ledger.transitionJob(job.id, "stopping", opts.reason ?? "kiln stop");
  const how = job.workload_pid !== null && workloadAlive ? await stopGroup(job.workload_pid, opts.graceMs, () => !isJobProcess(job.workload_pid, job.id), opts.signal) : "not-running";
  // Give the supervisor a moment to record the final state; if it is gone, record it ourselves.
  for (let i = 0; i < 100; i++) {
    const cur = ledger.getJob(job.id)!;
    if (isTerminal(cur.state)) return { job: cur, how };
    if (!isJobProcess(cur.supervisor_pid, cur.id)) break;
    await sleep(100, opts.signal);
  }
  const cur = ledger.getJob(job.id)!;
  if (!isTerminal(cur.state)) {
    reconcileJobs(ledger);
    const after = ledger.getJob(job.id)!;
    if (after.state === "interrupted" || after.state === "stopping") return { job: ledger.transitionJob(job.id, "stopped", opts.reason ?? "kiln stop"), how };
    return { job: after, how };
  }
  return { job: cur, how };
}

/**
 * A cloud job's checkpoints are on its (gone) machine and in its pulled outputs; resuming it on a new
 * machine is not built yet (docs/lifecycle.md §5): say so, rather than start a local supervisor for it.
 */
/** A job run by the cloud driver (a rented machine or the user's ssh host): it has a cloud.json. */
export function isCloudJob(paths: KilnPaths, job: JobRecord): boolean {
  return existsSync(join(jobLayout(paths.jobs, job.id).dir, "cloud.json"));
}

export async function resumeJob(ledger: Ledger, paths: KilnPaths, ref: string, opts: { entry: string; env: NodeJS.ProcessEnv; graceMs: number; signal?: AbortSignal }): Promise<{ job: JobRecord; supervisorPid: number }> {
  reconcileJobs(ledger);
  const job = requireJob(ledger, ref);
  if (!isTerminal(job.state)) throw new UserError(`job ${job.name} (${job.id}) is ${job.state}`, { hint: `follow it with \`kiln logs -f ${job.id}\`` });
  if (job.state === "succeeded") throw new UserError(`job ${job.name} (${job.id}) already succeeded; nothing to resume`, { hint: `see \`kiln report ${job.id}\`` });
  // An orphaned workload (its supervisor was killed) must not train alongside the new attempt.
  if (job.workload_pid !== null && isJobProcess(job.workload_pid, job.id)) await stopGroup(job.workload_pid, opts.graceMs, () => !isJobProcess(job.workload_pid, job.id), opts.signal);
  const layout = jobLayout(paths.jobs, job.id);
  if (isCloudJob(paths, job)) throw new UserError(`job ${job.name} (${job.id}) runs through the cloud driver`, { hint: `\`kiln run --resume ${job.id}\` resumes it on a new machine` });
  readRunFile(layout.runFile); // fail here, in the foreground, if the run file is damaged
  // Back to "created" *before* the launch, so a follower never mistakes the old terminal state for the end.
  ledger.setProcesses(job.id, { supervisorPid: null, workloadPid: null });
  const queued = ledger.transitionJob(job.id, "created", `kiln run --resume (was ${job.state})`);
  const pid = launchSupervisor(layout.dir, { entry: opts.entry, env: opts.env, jobId: job.id });
  ledger.setProcesses(job.id, { supervisorPid: pid });
  return { job: queued, supervisorPid: pid };
}
