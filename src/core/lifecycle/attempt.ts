/**
 * One attempt of a cloud job: a machine and a run on it, driven as named steps (docs/lifecycle.md §4).
 * Each step is recorded in the ledger (the attempt's `step`, and a `step` event) *before* it acts, so a
 * crash is attributable to a step and `kiln status` shows where a job is:
 *
 *   launch → boot → connect → verify → ship → restore → setup → start → monitor → collect → teardown
 *
 * A step that throws ends the straight path: what the machine produced is salvaged if it can be reached,
 * and teardown follows. Teardown never destroys outputs that were not saved (the machine is KEPT and the
 * user told), and otherwise terminates and confirms. How the attempt ended (succeeded, stopped, failed,
 * preempted, lost) is what the job's loop (./drive.ts) decides recovery on.
 */
import { errorMessage } from "../../base/errors.js";
import { stopRun } from "../../remote/session/run.js";
import { pullArtifacts } from "../../remote/sync/pull.js";
import type { CloudOffer } from "./cloud-file.js";
import { stopWatchdog } from "../watchdog/index.js";
import { ATTEMPT_STEPS } from "./attempt-steps.js";
import { type Attempt, type AttemptEnd, type JobContext, MachineGone, pullLogs } from "./attempt-context.js";
import { terminateAndConfirm } from "./teardown.js";

function enter(a: Attempt, step: string): void {
  a.job.ledger.setAttemptStep(a.id, step);
}

export async function runAttempt(job: JobContext, offers: CloudOffer[]): Promise<AttemptEnd> {
  const first = offers[0]?.provider ?? job.c.provider;
  const rec = job.ledger.startAttempt(job.c.jobId, first);
  const a: Attempt = { job, id: rec.id, n: rec.n, offers, steps: [], runStarted: false };
  let end: { state: AttemptEnd["state"]; reason: string };
  let unsaved: string | undefined;
  try {
    for (const step of ATTEMPT_STEPS) {
      enter(a, step.name);
      await step.run(a);
    }
    end = a.end as typeof end;
  } catch (e) {
    ({ end, unsaved } = await salvage(a, e));
  }
  a.conn?.close();
  enter(a, "teardown");
  const t = await teardown(a, end, unsaved);
  job.ledger.endAttempt(a.id, t.state, t.reason);
  return {
    ...t,
    ...(a.offer && { offer: a.offer }),
    ...(a.rp && a.offer && a.steps.length > 0 && { report: { steps: a.steps, remoteJobDir: a.rp.job, machine: a.offer } }),
  };
}

/**
 * A step failed. If the machine is gone (the provider says so), its outputs went with it: what the
 * periodic syncs saved is what there is. Otherwise keep what it produced before it goes; a failed pull
 * is recorded as unsaved outputs, which keeps the machine.
 */
async function salvage(a: Attempt, e: unknown): Promise<{ end: { state: AttemptEnd["state"]; reason: string }; unsaved?: string }> {
  const { job } = a;
  const log = job.o.logger;
  const gone = e instanceof MachineGone ? e : await askIfGone(a);
  if (gone) {
    log.warn(`attempt ${a.n}: ${gone.message}`);
    return { end: { state: gone.state, reason: gone.message } };
  }
  log.error(`cloud run failed: ${errorMessage(e)}`);
  const end = { state: "failed" as const, reason: errorMessage(e) };
  if (!a.conn || !a.rp) return { end, unsaved: "the machine could not be reached" };
  const { conn, rp } = a;
  if (job.isHost) {
    // The user's host is not torn down: the run itself must stop, or it keeps the GPU busy unseen.
    await stopRun(conn, rp.run, { graceMs: job.c.stopGraceMs }).catch((se: unknown) => log.warn(`could not stop the run on the host: ${errorMessage(se)}`));
    await stopWatchdog(conn, rp.watchdog).catch(() => undefined);
  }
  let unsaved: string | undefined;
  await pullArtifacts(conn, `${rp.job}/outputs`, job.layout.outputs, { signal: AbortSignal.timeout(120_000) })
    .then((pulled) => {
      for (const f of pulled.manifest) job.ledger.recordArtifact({ jobId: job.c.jobId, path: f.path, size: f.size, sha256: f.sha256, verified: true });
    })
    .catch((pe: unknown) => {
      unsaved = `its outputs could not be pulled: ${errorMessage(pe)}`;
    });
  await pullLogs(a);
  return unsaved === undefined ? { end } : { end, unsaved };
}

/** After a failure before the monitor saw it: did the provider take the machine away? One question, best effort. */
async function askIfGone(a: Attempt): Promise<MachineGone | undefined> {
  if (!a.cloud || !a.row?.provider_id || a.job.isHost) return undefined;
  try {
    const m = await a.cloud.provider.describe(a.row.provider_id, AbortSignal.timeout(30_000));
    if (m.reclaimed) return new MachineGone("preempted", `${m.provider} reclaimed ${m.id} (${m.reclaimed.reason})`);
    if (m.state === "terminated" || m.state === "terminating") return new MachineGone("lost", `${m.provider} says ${m.id} is ${m.providerState}`);
  } catch {
    // The API not answering says nothing about the machine.
  }
  return undefined;
}

/** Never destroy outputs that were not saved; otherwise terminate and confirm. */
async function teardown(a: Attempt, end: { state: AttemptEnd["state"]; reason: string }, unsaved: string | undefined): Promise<{ state: AttemptEnd["state"]; reason: string; machineKept: boolean }> {
  const { job } = a;
  const cur = a.row ? job.ledger.getMachine(a.row.id) : undefined;
  try {
    if (a.runStarted && unsaved !== undefined && !job.isHost && cur && cur.state !== "terminated") {
      const c = job.c;
      const why = `outputs of ${c.jobId} not saved (${unsaved}); machine ${cur.provider_id ?? cur.intent_id} KEPT and may still be billing: \`kiln down ${c.jobId}\` retries, \`kiln down ${c.jobId} --force\` terminates it without them`;
      job.ledger.addEvent({ jobId: c.jobId, attemptId: a.id, machineId: cur.id, kind: "alert", reason: why });
      job.o.logger.error(why);
      return { state: "failed", reason: `${end.reason}; ${why}`, machineKept: true };
    }
    if (a.cloud && cur && cur.provider_id !== null && cur.state !== "terminated") {
      const t = job.c.terminate;
      await terminateAndConfirm(a.cloud.provider, job.ledger, cur, end.state === "succeeded" ? "job finished" : end.reason, {
        ...t,
        logger: job.o.logger,
        env: job.o.env,
        signal: AbortSignal.timeout(t.timeoutMs + 60_000),
        ...(a.cloud.consoleUrl && { consoleUrl: a.cloud.consoleUrl }),
      });
    }
  } catch (e) {
    return { state: "failed", reason: `${end.reason}; ${errorMessage(e)}`, machineKept: false };
  }
  return { ...end, machineKept: false };
}
