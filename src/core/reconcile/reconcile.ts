/**
 * Reconciliation: the ledger against the provider's listing, run by every command that touches a
 * cloud. Only machines of jobs whose driver is gone are acted on (a live driver owns its machine):
 * - an intent without a provider id whose `kiln-<intentId>` machine exists is adopted (its id recorded,
 *   billing counted from the intent — the earliest it can have started), then handled like the rest;
 * - an intent with no such machine never launched: closed at zero cost;
 * - a machine the provider says is gone is closed with its cost;
 * - a live machine of a dead job is salvaged (SIGTERM → checkpoint, pull the outputs) and terminated,
 *   with the termination confirmed; unconfirmed ones stay "terminating" and are re-checked next time.
 * Machines carrying Kiln's tag that the ledger does not know are reported as untracked (`kiln gc`
 * terminates them); machines without Kiln's tag never appear here, so they are never touched.
 */
import { errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { MachineRecord, Provider } from "../../providers/provider.js";
import { type JobRecord, type Ledger, type MachineLedgerRecord, isTerminal } from "../../store/index.js";
import { NEVER_LAUNCHED } from "../lifecycle/launch.js";
import { terminateAndConfirm } from "../lifecycle/teardown.js";
import { isJobProcess } from "../supervisor/process.js";

export interface ReconcileReport {
  adopted: string[];
  neverLaunched: string[];
  closed: string[];
  terminated: string[];
  unconfirmed: string[];
  untracked: MachineRecord[];
  interruptedJobs: string[];
  /** Provider ssh: jobs whose driver is gone while their run goes on on the host (left running). */
  runningOnHost: string[];
  /** Provider ssh: jobs whose run ended on the host without its driver, closed with verified outputs. */
  finishedOnHost: string[];
  errors: string[];
}

export const emptyReport = (): ReconcileReport => ({ adopted: [], neverLaunched: [], closed: [], terminated: [], unconfirmed: [], untracked: [], interruptedJobs: [], runningOnHost: [], finishedOnHost: [], errors: [] });

export const CLOSED_MACHINE_STATES: readonly string[] = ["terminated", NEVER_LAUNCHED];
export const isOpenMachine = (m: MachineLedgerRecord): boolean => !CLOSED_MACHINE_STATES.includes(m.state);

export function isJobAlive(job: JobRecord | undefined): boolean {
  return job !== undefined && !isTerminal(job.state) && isJobProcess(job.supervisor_pid, job.id);
}

export interface ReconcileOptions {
  ledger: Ledger;
  provider: Provider;
  signal: AbortSignal;
  logger: Logger;
  terminate: { pollMs: number; timeoutMs: number };
  /** Save what a dead job's machine holds before it is terminated (stop the run, pull). Best effort. */
  salvage?: (job: JobRecord, machine: MachineRecord) => Promise<void>;
}

/** Machines of `provider` the ledger still counts as open and whose job's driver is gone. */
export function needsReconcile(ledger: Ledger, provider: string): MachineLedgerRecord[] {
  return ledger.listMachines().filter((m) => m.provider === provider && isOpenMachine(m) && !isJobAlive(m.job_id ? ledger.getJob(m.job_id) : undefined));
}

export async function reconcileProvider(o: ReconcileOptions): Promise<ReconcileReport> {
  const { ledger, provider } = o;
  const r = emptyReport();
  const listed = await provider.listMachines(o.signal);
  const byIntent = new Map(listed.filter((m) => m.intentId !== undefined).map((m) => [m.intentId!, m]));
  const rows = ledger.listMachines().filter((m) => m.provider === provider.name);
  const deadJobs = new Set<string>();
  for (const row of rows.filter(isOpenMachine)) {
    const job = row.job_id ? ledger.getJob(row.job_id) : undefined;
    if (isJobAlive(job)) continue;
    if (job && !isTerminal(job.state)) deadJobs.add(job.id);
    try {
      let rec = row.provider_id ? listed.find((m) => m.id === row.provider_id) : byIntent.get(row.intent_id);
      if (row.provider_id === null) {
        if (!rec) {
          ledger.setMachineState(row.id, NEVER_LAUNCHED, `no machine named kiln-${row.intent_id} exists: the launch never happened`);
          r.neverLaunched.push(row.intent_id);
          continue;
        }
        ledger.markMachineLaunched(row.id, rec.id, rec.providerState, row.created_at);
        r.adopted.push(rec.id);
      }
      const id = rec?.id ?? row.provider_id!;
      rec ??= await provider.describe(id, o.signal);
      const cur = ledger.getMachine(row.id)!;
      if (rec.state === "terminated") {
        ledger.markMachineTerminated(row.id, `${provider.name} says ${id} is gone (closed at reconciliation)`);
        r.closed.push(id);
        continue;
      }
      if (job && o.salvage && rec.state === "running") {
        await o.salvage(job, rec).catch((e: unknown) => {
          ledger.addEvent({ jobId: job.id, machineId: row.id, kind: "warning", reason: `could not save the machine's outputs before teardown: ${errorMessage(e)}` });
        });
      }
      try {
        await terminateAndConfirm(provider, ledger, cur, job ? `its job's driver is gone (${job.state})` : "no job", { ...o.terminate, signal: o.signal, logger: o.logger });
        r.terminated.push(id);
      } catch (e) {
        r.unconfirmed.push(id);
        r.errors.push(errorMessage(e));
      }
    } catch (e) {
      r.errors.push(`machine ${row.intent_id}: ${errorMessage(e)}`);
    }
  }
  const known = new Map(rows.map((m) => [m.intent_id, m]));
  for (const m of listed) {
    if (m.state === "terminated" || m.state === "terminating") continue;
    const row = m.intentId === undefined ? undefined : known.get(m.intentId);
    // Unknown to this ledger, or billing although the ledger closed it: an orphan carrying Kiln's tag.
    if (!row || !isOpenMachine(row)) r.untracked.push(m);
  }
  for (const jobId of deadJobs) closeDeadJob(ledger, jobId, r);
  return r;
}

/** A job whose driver died: attempts and job become interrupted (resumable), with the reason. */
export function closeDeadJob(ledger: Ledger, jobId: string, r: ReconcileReport): void {
  const job = ledger.getJob(jobId);
  if (!job || isTerminal(job.state) || isJobAlive(job)) return;
  const why = `cloud driver ${job.supervisor_pid ?? "?"} is gone; reconciled with the provider`;
  for (const a of ledger.listAttempts(jobId)) if (a.state === "running") ledger.endAttempt(a.id, "interrupted", why);
  ledger.transitionJob(jobId, "interrupted", why);
  r.interruptedJobs.push(jobId);
}

/** Terminate Kiln-tagged machines the ledger does not track (`kiln gc`). */
export async function sweepUntracked(o: ReconcileOptions, machines: readonly MachineRecord[]): Promise<{ terminated: string[]; failed: string[] }> {
  const out = { terminated: [] as string[], failed: [] as string[] };
  for (const m of machines) {
    try {
      await o.provider.terminate(m.id, o.signal);
      o.ledger.addEvent({ kind: "gc", reason: `terminated untracked ${m.name} (${m.id}) on ${o.provider.name}` });
      out.terminated.push(m.id);
    } catch (e) {
      out.failed.push(`${m.id}: ${errorMessage(e)}`);
    }
  }
  return out;
}
