/**
 * Reconciliation for the CLI: which providers to ask, with what credentials, and the simulated
 * clouds of `--sim` runs (their emulator lived in the driver, so a dead driver took its machines with
 * it; only the sshd processes it started may remain, in its process group).
 */
import { KilnError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { type Ledger, isTerminal } from "../../store/index.js";
import type { KilnPaths } from "../home.js";
import { readCloudFile } from "../lifecycle/cloud-file.js";
import { jobGroupMembers } from "../supervisor/process.js";
import { rentableClouds } from "../../providers/registry.js";
import { howToConfigure } from "../lifecycle/providers.js";
import { tryLockJob } from "../jobs/lock.js";
import { type ReconcileMode, type ReconcileReport, closeDeadJob, emptyReport, isJobAlive, isOpenMachine, needsReconcile, reconcileProvider } from "./reconcile.js";
import { salvager, storeFetcher } from "./salvage.js";
import { terminateSettings } from "./settings.js";
import { reconcileSshJobs } from "./ssh.js";

export { type ReconcileMode, type ReconcileReport, closeDeadJob, emptyReport, isJobAlive, isOpenMachine, needsReconcile, reconcileProvider, sweepUntracked } from "./reconcile.js";
export { type Salvaged, type Salvager, salvager } from "./salvage.js";

export interface ReconcileContext {
  ledger: Ledger;
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  signal: AbortSignal;
  /** `act` only in commands that exist to change things (status --refresh, gc, down, run); else `report`. */
  mode: ReconcileMode;
  /** The command acting, for job locks and messages ("kiln gc"). */
  holder: string;
}

export { hostConnectTimeoutMs, terminateSettings } from "./settings.js";
export { UNDRIVEN_EVENT, reconcileSshJobs } from "./ssh.js";

/** Close the machines of dead `--sim` drivers and stop what their emulator left running. */
export function reconcileSimulated(ctx: ReconcileContext, r: ReconcileReport): void {
  for (const job of ctx.ledger.listJobs()) {
    if (isJobAlive(job)) continue;
    const open = ctx.ledger.listMachines(job.id).filter(isOpenMachine);
    if (open.length === 0 && isTerminal(job.state)) continue;
    const c = readCloudFile(job.job_dir);
    if (!c?.sim) continue;
    if (ctx.mode === "report") {
      r.wouldDo.push(`close ${job.id}'s simulated machines (their emulator ended with the driver)`);
      continue;
    }
    withJobLock(ctx, job.id, r, () => {
      if (job.supervisor_pid !== null) stopSimulatedMachines(job.supervisor_pid, job.id);
      for (const m of open) {
        ctx.ledger.markMachineTerminated(m.id, "simulated machine: its emulator ended with the driver");
        r.closed.push(m.provider_id ?? m.intent_id);
      }
      closeDeadJob(ctx.ledger, job.id, r);
    });
  }
}

/**
 * The dead driver led its own process group (detached); its loopback sshd's may still be in it. Only the
 * group's processes that are this job's are signalled: the driver's pid, and so the group id, may have been
 * reused by now (pid_max is 32768 on small machines).
 */
function stopSimulatedMachines(pgid: number, jobId: string): void {
  const members = jobGroupMembers(pgid, jobId);
  for (const target of members ?? [-pgid]) {
    try {
      process.kill(target, "SIGTERM");
    } catch {
      // Already gone.
    }
  }
}

/** Run `fn` holding the job's lock, or report the job busy. */
function withJobLock(ctx: ReconcileContext, jobId: string, r: ReconcileReport, fn: () => void): void {
  const lock = tryLockJob(ctx.ledger, jobId, ctx.holder);
  if (!lock.ok) {
    r.busy.push(`${jobId}: ${lock.why}`);
    return;
  }
  try {
    fn();
  } finally {
    lock.release();
  }
}

/** Cloud jobs whose driver died holding no machine (e.g. before launching): interrupted at once. */
function closeDriverlessJobs(ctx: ReconcileContext, r: ReconcileReport): void {
  for (const job of ctx.ledger.listJobs()) {
    if (isTerminal(job.state) || isJobAlive(job) || !readCloudFile(job.job_dir)) continue;
    if (ctx.ledger.listMachines(job.id).some(isOpenMachine)) continue;
    if (ctx.mode === "report") r.wouldDo.push(`record ${job.id} as interrupted (its driver is gone and it holds no machine)`);
    else withJobLock(ctx, job.id, r, () => closeDeadJob(ctx.ledger, job.id, r));
  }
}

/**
 * Reconcile every cloud the ledger has open machines on (or all configured ones with `everyCloud`, which
 * also lists untracked Kiln machines for `kiln gc`), and the users' ssh hosts of jobs whose driver died.
 * In mode `report` nothing changes: the report's `wouldDo` says what `act` would do.
 */
export async function reconcileClouds(ctx: ReconcileContext, opts: { everyCloud?: boolean; force?: boolean } = {}): Promise<ReconcileReport> {
  const r = emptyReport();
  reconcileSimulated(ctx, r);
  await reconcileSshJobs(ctx, r);
  const pctx = { env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger };
  for (const d of rentableClouds()) {
    const pending = needsReconcile(ctx.ledger, d.name);
    if (pending.length === 0 && !(opts.everyCloud && d.hasCredentials?.(pctx) !== false)) continue;
    const cloud = await d.configured?.(pctx);
    if (!cloud) {
      if (pending.length > 0) throw new KilnError("no_credentials", `${pending.length} ${d.title} machine(s) in the ledger need reconciling but ${d.title} is not configured: ${howToConfigure(d, ctx.paths.credentials)}, then run \`kiln status --refresh\``);
      continue;
    }
    const sub = await reconcileProvider({
      ledger: ctx.ledger,
      provider: cloud.provider,
      signal: ctx.signal,
      logger: ctx.logger,
      terminate: terminateSettings(ctx.env),
      mode: ctx.mode,
      holder: ctx.holder,
      ...(opts.force && { force: true }),
      listingLagMs: Number(ctx.env["KILN_LISTING_LAG_MS"] ?? "") || d.listingLagMs,
      ...(d.consoleUrl && { consoleUrl: d.consoleUrl }),
      salvage: salvager({ ledger: ctx.ledger, paths: ctx.paths, logger: ctx.logger, signal: ctx.signal }),
      fromStore: storeFetcher({ ledger: ctx.ledger, paths: ctx.paths, env: ctx.env, signal: ctx.signal, ...(d.cap?.volumeStore && { volumes: { provider: cloud.provider, logger: ctx.logger, listingLagMs: Number(ctx.env["KILN_LISTING_LAG_MS"] ?? "") || d.listingLagMs } }) }),
    });
    for (const k of Object.keys(r) as (keyof ReconcileReport)[]) (r[k] as unknown[]).push(...(sub[k] as unknown[]));
  }
  closeDriverlessJobs(ctx, r);
  return r;
}

/** The report's lines a person should read: what was done, what is kept billing, what would be done. */
export function describeReport(r: ReconcileReport): { notes: string[]; warnings: string[] } {
  const notes = [
    ...r.terminated.map((id) => `terminated ${id} (its job's driver was gone)`),
    ...r.closed.map((id) => `closed ${id} in the ledger (the provider says it is gone)`),
    ...r.finishedJobs.map((id) => `job ${id} had finished: recorded as finished, outputs verified`),
    ...r.interruptedJobs.map((id) => `job ${id} recorded as interrupted (resumable)`),
  ];
  const warnings = [
    ...r.kept.map((id) => `machine ${id} KEPT: its job's outputs could not be saved, and it may still be billing (see \`kiln status\`; \`kiln down JOB --force\` terminates it)`),
    ...r.busy.map((b) => `left alone, another Kiln process is recovering job ${b}`),
    ...r.wouldDo.map((w) => `\`kiln status --refresh\` would ${w}`),
    ...r.errors.map((e) => `reconciliation: ${e}`),
  ];
  return { notes, warnings };
}
