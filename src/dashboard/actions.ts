/**
 * Stop, down and resume from the dashboard: each calls the core function its CLI command calls, with the
 * command's defaults, so the page does exactly what `kiln stop JOB`, `kiln down JOB` and
 * `kiln run --resume JOB` do (and the ledger records it the same way; stop's reason names the page).
 *
 * An action runs in the background of the server: the POST answers at once with a page that follows the
 * job, and the action's outcome (or its error, with the next step a UserError names) is kept in
 * {@link ActionLog} for that page to show. One action per job at a time.
 */
import { UserError, errorMessage } from "../base/errors.js";
import type { Logger } from "../base/logger.js";
import type { KilnPaths } from "../core/home.js";
import { isCloudJob, requireJob, resumeJob, stopJob } from "../core/jobs/index.js";
import type { Ledger } from "../store/index.js";

export const ACTIONS = ["stop", "down", "resume"] as const;
export type ActionName = (typeof ACTIONS)[number];

/** What each action does, said on its confirm page. */
export const ACTION_TEXT: Record<ActionName, { title: string; does: string; cli: string }> = {
  stop: { title: "Stop", does: "The workload checkpoints and exits (SIGKILL after 60 s); the job can be resumed from that checkpoint.", cli: "kiln stop" },
  down: { title: "Down", does: "Verified teardown of a cloud job's machine: checkpoint, pull and verify the artifacts by sha256, terminate, confirm with the provider. Nothing is terminated while artifacts are unverified.", cli: "kiln down" },
  resume: { title: "Resume", does: "A new attempt from the newest saved checkpoint: here for a local job, on a new machine for a cloud job. Spend so far counts against the cap.", cli: "kiln run --resume" },
};

export interface ActionContext {
  /** Opens a ledger for the action's own use (an action may outlive a request). */
  openLedger: () => Ledger;
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  signal: AbortSignal;
}

export interface ActionRecord {
  id: number;
  jobId: string;
  action: ActionName;
  startedAt: string;
  state: "running" | "done" | "failed";
  message: string;
  hint?: string;
}

const GRACE_MS = 60_000;

async function perform(action: ActionName, jobId: string, ctx: ActionContext): Promise<string> {
  const ledger = ctx.openLedger();
  try {
    const job = requireJob(ledger, jobId);
    if (action === "stop") {
      const r = await stopJob(ledger, job.id, { graceMs: GRACE_MS, signal: ctx.signal, reason: "kiln stop (from the dashboard)" });
      return `stopped: ${r.how === "terminated" ? "it checkpointed and exited" : r.how === "killed" ? "it did not exit within 60 s and was killed" : r.how === "gone" ? "it had already exited" : "no workload process was running"}; state ${r.job.state}`;
    }
    if (action === "down") {
      const { downJob } = await import("../core/lifecycle/down.js");
      const r = await downJob(job, { ledger, paths: ctx.paths, env: ctx.env, logger: ctx.logger, signal: ctx.signal, force: false });
      const now = ledger.getJob(job.id)!;
      return r.how === "nothing" ? `no machine running; state ${now.state}` : `${r.terminated.length} machine(s) terminated and confirmed, ${r.verifiedFiles} artifact file(s) verified; state ${now.state}`;
    }
    if (isCloudJob(ctx.paths, job)) {
      const { reconcileClouds } = await import("../core/reconcile/index.js");
      const { resumeCloudJob } = await import("../core/lifecycle/resume.js");
      await reconcileClouds({ ledger, paths: ctx.paths, env: ctx.env, logger: ctx.logger, signal: ctx.signal, mode: "act", holder: "kiln run --resume" });
      const r = resumeCloudJob(ledger, requireJob(ledger, job.id), ctx.env);
      return `resumed on a new machine from its newest saved checkpoint (driver pid ${r.driverPid})`;
    }
    const { supervisorEntry } = await import("../core/supervisor/launch.js");
    const r = await resumeJob(ledger, ctx.paths, job.id, { entry: supervisorEntry(ctx.env["KILN_SUPERVISOR_ENTRY"]), env: ctx.env, graceMs: GRACE_MS, signal: ctx.signal });
    return `resumed (supervisor pid ${r.supervisorPid})`;
  } finally {
    ledger.close();
  }
}

export class ActionLog {
  private next = 1;
  private readonly records: ActionRecord[] = [];
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly ctx: ActionContext) {}

  /** Start `action` on `jobId`; a second action on a job whose first is still running is refused. */
  start(action: ActionName, jobId: string): ActionRecord {
    const busy = this.records.find((r) => r.jobId === jobId && r.state === "running");
    if (busy) throw new UserError(`${busy.action} is still running on ${jobId}`, { hint: "wait for it to finish; the job page shows its outcome" });
    const rec: ActionRecord = { id: this.next++, jobId, action, startedAt: new Date().toISOString(), state: "running", message: `${action} requested` };
    this.records.push(rec);
    this.ctx.logger.info(`dashboard: ${action} ${jobId}`);
    const p = perform(action, jobId, this.ctx).then(
      (message) => {
        rec.state = "done";
        rec.message = message;
      },
      (e: unknown) => {
        rec.state = "failed";
        rec.message = errorMessage(e);
        if (e instanceof UserError && e.hint) rec.hint = e.hint;
        this.ctx.logger.debug(`dashboard: ${action} ${jobId} failed`, { error: errorMessage(e), stack: e instanceof Error ? e.stack : undefined });
      },
    );
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    return rec;
  }

  forJob(jobId: string): ActionRecord[] {
    return this.records.filter((r) => r.jobId === jobId);
  }

  /** Resolves when every started action has ended (they end on their own deadlines, or on the server's abort). */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
