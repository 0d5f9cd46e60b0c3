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
import { configuredLambda } from "../lifecycle/providers.js";
import { type ReconcileReport, closeDeadJob, emptyReport, isJobAlive, isOpenMachine, needsReconcile, reconcileProvider } from "./reconcile.js";
import { salvager } from "./salvage.js";
import { terminateSettings } from "./settings.js";
import { reconcileSshJobs } from "./ssh.js";

export { type ReconcileReport, closeDeadJob, emptyReport, isJobAlive, isOpenMachine, needsReconcile, reconcileProvider, sweepUntracked } from "./reconcile.js";
export { salvager } from "./salvage.js";

export interface ReconcileContext {
  ledger: Ledger;
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  signal: AbortSignal;
}

export { terminateSettings } from "./settings.js";
export { UNDRIVEN_EVENT, reconcileSshJobs } from "./ssh.js";

/** Close the machines of dead `--sim` drivers and stop what their emulator left running. */
export function reconcileSimulated(ctx: ReconcileContext, r: ReconcileReport): void {
  for (const job of ctx.ledger.listJobs()) {
    if (isJobAlive(job)) continue;
    const open = ctx.ledger.listMachines(job.id).filter(isOpenMachine);
    if (open.length === 0 && isTerminal(job.state)) continue;
    const c = readCloudFile(job.job_dir);
    if (!c?.sim) continue;
    if (job.supervisor_pid !== null) {
      try {
        // The driver led its own process group (detached); its loopback sshd's are still in it.
        process.kill(-job.supervisor_pid, "SIGTERM");
      } catch {
        // Already gone.
      }
    }
    for (const m of open) {
      ctx.ledger.markMachineTerminated(m.id, "simulated machine: its emulator ended with the driver");
      r.closed.push(m.provider_id ?? m.intent_id);
    }
    closeDeadJob(ctx.ledger, job.id, r);
  }
}

/** Cloud jobs whose driver died holding no machine (e.g. before launching): interrupted at once. */
function closeDriverlessJobs(ctx: ReconcileContext, r: ReconcileReport): void {
  for (const job of ctx.ledger.listJobs()) {
    if (isTerminal(job.state) || isJobAlive(job) || !readCloudFile(job.job_dir)) continue;
    if (ctx.ledger.listMachines(job.id).some(isOpenMachine)) continue;
    closeDeadJob(ctx.ledger, job.id, r);
  }
}

/**
 * Reconcile every cloud the ledger has open machines on (or all configured ones with `force`, which
 * also lists untracked Kiln machines for `kiln gc`), and the users' ssh hosts of jobs whose driver died.
 */
export async function reconcileClouds(ctx: ReconcileContext, opts: { force?: boolean } = {}): Promise<ReconcileReport> {
  const r = emptyReport();
  reconcileSimulated(ctx, r);
  await reconcileSshJobs(ctx, r);
  const pending = needsReconcile(ctx.ledger, "lambda");
  if (pending.length === 0 && !opts.force) {
    closeDriverlessJobs(ctx, r);
    return r;
  }
  const provider = await configuredLambda({ env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger });
  if (!provider) {
    if (pending.length > 0) throw new KilnError("no_credentials", `${pending.length} Lambda machine(s) in the ledger need reconciling but no Lambda API key is configured; set LAMBDA_API_KEY and run \`kiln status --refresh\``);
    return r;
  }
  const sub = await reconcileProvider({
    ledger: ctx.ledger,
    provider,
    signal: ctx.signal,
    logger: ctx.logger,
    terminate: terminateSettings(ctx.env),
    salvage: salvager({ ledger: ctx.ledger, paths: ctx.paths, logger: ctx.logger, signal: ctx.signal }),
  });
  for (const k of Object.keys(r) as (keyof ReconcileReport)[]) (r[k] as unknown[]).push(...(sub[k] as unknown[]));
  closeDriverlessJobs(ctx, r);
  return r;
}
