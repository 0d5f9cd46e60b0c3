/**
 * Reconciliation: the ledger against the provider's listing. Only machines of jobs whose driver is gone
 * are considered (a live driver owns its machine), and only in mode `act` is anything changed: read-only
 * commands (`kiln status`, `kiln gc --dry-run`) run it in mode `report` and say what it would do.
 *
 * In mode `act`, per dead job, holding the job's lock (one recoverer per job; a job another process is
 * recovering is left alone and reported busy):
 * - an intent without a provider id whose `kiln-<intentId>` machine exists is adopted (its id recorded,
 *   billing counted from the intent — the earliest it can have started); one that is not listed is closed
 *   as never launched, but only once it is older than the provider's listing lag;
 * - a machine the provider says is gone is closed with its cost;
 * - a live machine of a dead job whose run had started is salvaged first (its run's outcome read, the run
 *   checkpointed, the outputs pulled and sha256-verified), then terminated with the termination confirmed.
 *   If the outputs could not be saved the machine is KEPT (and reported: it may still bill) unless
 *   `force`, which is recorded. A run that had finished records its job as finished, not interrupted.
 * Machines carrying Kiln's tag that the ledger does not know are reported: this installation's as
 * untracked (`kiln gc` terminates them), other installations' separately (never touched here).
 */
import { errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { installationOfIntent, type MachineRecord, type Provider } from "../../providers/provider.js";
import { type JobRecord, type Ledger, type MachineLedgerRecord, isTerminal } from "../../store/index.js";
import { tryLockJob } from "../jobs/lock.js";
import { NEVER_LAUNCHED } from "../lifecycle/launch.js";
import { confirmTermination, terminateAndConfirm } from "../lifecycle/teardown.js";
import { isJobProcess } from "../supervisor/process.js";
import type { Salvaged, Salvager, StoreFetcher } from "./salvage.js";

export type ReconcileMode = "act" | "report";

export interface ReconcileReport {
  adopted: string[];
  neverLaunched: string[];
  closed: string[];
  terminated: string[];
  unconfirmed: string[];
  /** This installation's Kiln machines that no open ledger row holds (`kiln gc` terminates them). */
  untracked: MachineRecord[];
  /** Kiln machines of other installations sharing the account: never touched without --all-installations. */
  otherInstallations: MachineRecord[];
  interruptedJobs: string[];
  /** Jobs whose run had finished when their driver died: closed as succeeded or failed, outputs verified. */
  finishedJobs: string[];
  /** Machines kept because their job's outputs could not be saved: they may still be billing. */
  kept: string[];
  /** Jobs another Kiln process is recovering: left alone. */
  busy: string[];
  /** Intents younger than the listing lag and not listed yet: maybe launched; looked at again next time. */
  pendingIntents: string[];
  /** Mode `report`: what mode `act` would do. */
  wouldDo: string[];
  /** Provider ssh: jobs whose driver is gone while their run goes on on the host (left running). */
  runningOnHost: string[];
  /** Provider ssh: jobs whose run ended on the host without its driver, closed with verified outputs. */
  finishedOnHost: string[];
  errors: string[];
}

export const emptyReport = (): ReconcileReport => ({
  adopted: [],
  neverLaunched: [],
  closed: [],
  terminated: [],
  unconfirmed: [],
  untracked: [],
  otherInstallations: [],
  interruptedJobs: [],
  finishedJobs: [],
  kept: [],
  busy: [],
  pendingIntents: [],
  wouldDo: [],
  runningOnHost: [],
  finishedOnHost: [],
  errors: [],
});

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
  /** `report`: change nothing, say what would be done (read-only commands, --dry-run). */
  mode: ReconcileMode;
  /** Who is acting, for the job lock and messages ("kiln gc"). */
  holder: string;
  /** Save what a dead job's machine holds before it is terminated (its run's outcome, the outputs). */
  salvage?: Salvager;
  /** A gone machine's outputs from the job's durable store (what its watchdog pushed at the cap). */
  fromStore?: StoreFetcher;
  /** Terminate even when the outputs could not be saved (recorded as a warning). */
  force?: boolean;
  /** How long an unlisted intent may still be a launch the listing has not caught up with. */
  listingLagMs?: number;
  /** The provider's console, named in the "may still be billing" message of a termination not confirmed. */
  consoleUrl?: string;
  now?: () => number;
}

/** Machines of `provider` the ledger still counts as open and whose job's driver is gone. */
export function needsReconcile(ledger: Ledger, provider: string): MachineLedgerRecord[] {
  return ledger.listMachines().filter((m) => m.provider === provider && isOpenMachine(m) && !isJobAlive(m.job_id ? ledger.getJob(m.job_id) : undefined));
}

export async function reconcileProvider(o: ReconcileOptions): Promise<ReconcileReport> {
  const { ledger, provider } = o;
  const r = emptyReport();
  const listed = await provider.listMachines(o.signal);
  const rows = ledger.listMachines().filter((m) => m.provider === provider.name);
  const byJob = new Map<string, MachineLedgerRecord[]>();
  for (const row of rows.filter(isOpenMachine)) byJob.set(row.job_id ?? "", [...(byJob.get(row.job_id ?? "") ?? []), row]);
  for (const [jobId, jobRows] of byJob) {
    const job = jobId ? ledger.getJob(jobId) : undefined;
    if (isJobAlive(job)) continue;
    const lock = o.mode === "act" && job ? tryLockJob(ledger, job.id, o.holder) : undefined;
    if (lock && !lock.ok) {
      r.busy.push(`${job!.id}: ${lock.why}`);
      continue;
    }
    try {
      let outcome: Salvaged | undefined;
      for (const row of jobRows) {
        try {
          outcome = (await reconcileMachine(o, r, listed, job, row)) ?? outcome;
        } catch (e) {
          r.errors.push(`machine ${row.intent_id}: ${errorMessage(e)}`);
        }
      }
      if (job && !isTerminal(job.state) && !ledger.listMachines(job.id).some(isOpenMachine)) closeJob(o, r, job, outcome);
    } finally {
      if (lock?.ok) lock.release();
    }
  }
  classifyListed(o, r, listed, rows);
  return r;
}

/** One open machine row of a dead job. Returns what salvage found, when it ran. */
async function reconcileMachine(o: ReconcileOptions, r: ReconcileReport, listed: MachineRecord[], job: JobRecord | undefined, row: MachineLedgerRecord): Promise<Salvaged | undefined> {
  const { ledger, provider } = o;
  const act = o.mode === "act";
  let rec = row.provider_id ? listed.find((m) => m.id === row.provider_id) : listed.find((m) => m.intentId === row.intent_id);
  if (row.provider_id === null) {
    if (!rec) {
      const ageMs = (o.now ?? Date.now)() - Date.parse(row.created_at);
      if (ageMs < (o.listingLagMs ?? 60_000)) {
        r.pendingIntents.push(row.intent_id);
        return undefined;
      }
      if (!act) r.wouldDo.push(`close intent kiln-${row.intent_id} as never launched (no machine of that name is listed)`);
      else ledger.setMachineState(row.id, NEVER_LAUNCHED, `no machine named kiln-${row.intent_id} exists: the launch never happened`);
      r.neverLaunched.push(row.intent_id);
      return undefined;
    }
    if (!act) r.wouldDo.push(`adopt ${rec.id} (named kiln-${row.intent_id}; its id was never recorded)`);
    else ledger.markMachineLaunched(row.id, rec.id, rec.providerState, row.created_at);
    r.adopted.push(rec.id);
  }
  const id = rec?.id ?? row.provider_id!;
  rec ??= await provider.describe(id, o.signal);
  // An id the provider does not know yet, launched within the listing lag: a lagging read, not a gone machine.
  if (rec.notFound && (o.now ?? Date.now)() - Date.parse(row.launched_at ?? row.created_at) < (o.listingLagMs ?? 60_000)) {
    r.pendingIntents.push(row.intent_id);
    return undefined;
  }
  if (rec.state === "terminated") {
    if (!act) r.wouldDo.push(`close ${id} in the ledger (${provider.name} says it is gone)`);
    else {
      const ended = billingEndedBy(ledger, row, (o.now ?? Date.now)());
      ledger.markMachineTerminated(row.id, `${provider.name} says ${id} is gone (closed at reconciliation${ended ? "; charged up to its watchdog's deadline" : ""})`, ended);
      // Gone with its outputs, unless its watchdog pushed them to the durable store at the cap.
      if (job && o.fromStore) {
        await o.fromStore(job).catch((e: unknown) => {
          ledger.addEvent({ jobId: job.id, machineId: row.id, kind: "alert", reason: `the outputs of ${job.id} could not be fetched from its durable store: ${errorMessage(e)}; \`kiln pull ${job.id} --from-store\` tries again` });
        });
      }
    }
    r.closed.push(id);
    return undefined;
  }
  // Outputs may exist only once the run was started on this machine. A machine already being terminated
  // (the ledger says so: the decision was made, after its outputs were verified or by --force) is only confirmed.
  const tearingDown = row.state === "terminating" || rec.state === "terminating";
  const started = !tearingDown && job !== undefined && ledger.listEvents(job.id, { kind: "run_started" }).some((e) => e.machine_id === row.id);
  const why = job ? `its job's driver is gone (${job.state})` : "no job";
  if (!act) {
    r.wouldDo.push(started ? `save the outputs of ${job!.id} from ${id} (${rec.providerState}), then terminate it` : `terminate ${id} (${rec.providerState}): ${why}`);
    return undefined;
  }
  let salvaged: Salvaged | undefined;
  let unsaved = "";
  if (started && rec.outputsGone) {
    // Nothing is left to save on it (its disks went with it): take what the watchdog pushed, then clear up.
    ledger.addEvent({ jobId: job!.id, machineId: row.id, kind: "warning", reason: `${id} is ${rec.providerState}: the machine and its disks are gone, so only what its watchdog pushed to a durable store survives; removing what is left of it` });
    if (o.fromStore) {
      await o.fromStore(job!).catch((e: unknown) => {
        ledger.addEvent({ jobId: job!.id, machineId: row.id, kind: "alert", reason: `the outputs of ${job!.id} could not be fetched from its durable store: ${errorMessage(e)}; \`kiln pull ${job!.id} --from-store\` tries again` });
      });
    }
  } else if (started) {
    if (rec.state !== "running" || !o.salvage) unsaved = `${id} is ${rec.providerState}, so its outputs cannot be read`;
    else {
      try {
        salvaged = await o.salvage(job!, rec);
      } catch (e) {
        unsaved = errorMessage(e);
      }
    }
  }
  if (unsaved) {
    if (!o.force) {
      ledger.addEvent({ jobId: job!.id, machineId: row.id, kind: "alert", reason: `outputs of ${job!.id} not saved (${unsaved}); machine ${id} KEPT and may still be billing: \`kiln down ${job!.id}\` retries, \`kiln down ${job!.id} --force\` terminates it without them` });
      r.kept.push(id);
      return undefined;
    }
    ledger.addEvent({ jobId: job!.id, machineId: row.id, kind: "warning", reason: `--force: terminating ${id} although its outputs were not saved (${unsaved})` });
  }
  try {
    // A machine whose compute went at its watchdog's deadline is charged up to then, not to this cleanup.
    const billedUntil = rec.outputsGone ? billingEndedBy(ledger, row, (o.now ?? Date.now)()) : undefined;
    await terminateAndConfirm(provider, ledger, ledger.getMachine(row.id)!, why, { ...o.terminate, signal: o.signal, logger: o.logger, ...(o.consoleUrl && { consoleUrl: o.consoleUrl }), ...(billedUntil && { billedUntil }) });
    r.terminated.push(id);
  } catch (e) {
    r.unconfirmed.push(id);
    r.errors.push(errorMessage(e));
  }
  return salvaged;
}

/** The dead job's machines are all closed: finished (its run had ended on its own, outputs verified) or interrupted. */
/**
 * When a machine found gone stopped billing at the latest, if its watchdog had a deadline that has passed:
 * the watchdog ends billing by its deadline (it reserves its own stop and push inside the cap), so a machine
 * that went while no client was here is charged up to that deadline plus a minute's margin, not up to now.
 * Undefined when there was no deadline or it has not passed (then "now" is the honest bound).
 */
function billingEndedBy(ledger: Ledger, row: MachineLedgerRecord, nowMs: number): string | undefined {
  if (!row.job_id) return undefined;
  const started = ledger.listEvents(row.job_id, { kind: "run_started" }).filter((e) => e.machine_id === row.id).at(-1);
  if (!started?.data_json) return undefined;
  let at: unknown;
  try {
    at = (JSON.parse(started.data_json) as { watchdogDeadlineAt?: unknown }).watchdogDeadlineAt;
  } catch {
    return undefined;
  }
  if (typeof at !== "string" || !Number.isFinite(Date.parse(at))) return undefined;
  const bound = Date.parse(at) + 60_000;
  return bound < nowMs ? new Date(bound).toISOString() : undefined;
}

function closeJob(o: ReconcileOptions, r: ReconcileReport, job: JobRecord, outcome: Salvaged | undefined): void {
  if (outcome?.exitCode === undefined) {
    if (o.mode === "act") closeDeadJob(o.ledger, job.id, r);
    else r.wouldDo.push(`record ${job.id} as interrupted (resumable)`);
    return;
  }
  const ok = outcome.exitCode === 0;
  const reason = `the run ${ok ? "finished" : `exited with code ${outcome.exitCode}`} after its driver was gone; ${outcome.verifiedFiles} outputs pulled and verified at reconciliation`;
  for (const a of o.ledger.listAttempts(job.id)) if (a.state === "running") o.ledger.endAttempt(a.id, ok ? "succeeded" : "failed", reason);
  o.ledger.transitionJob(job.id, ok ? "succeeded" : "failed", reason);
  r.finishedJobs.push(job.id);
}

/** Listed Kiln machines no open row holds: this installation's are untracked; others' are only reported. */
function classifyListed(o: ReconcileOptions, r: ReconcileReport, listed: MachineRecord[], rows: MachineLedgerRecord[]): void {
  const mine = o.ledger.installationId();
  const known = new Map(rows.map((m) => [m.intent_id, m]));
  for (const m of listed) {
    if (m.state === "terminated" || m.state === "terminating") continue;
    const row = m.intentId === undefined ? undefined : known.get(m.intentId);
    if (row && isOpenMachine(row)) continue;
    // Ours: our installation id, or an old-style name this ledger launched. Anything else is another installation's.
    if (row || installationOfIntent(m.intentId) === mine) r.untracked.push(m);
    else r.otherInstallations.push(m);
  }
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

/**
 * Terminate Kiln-tagged machines the ledger does not track (`kiln gc`), each confirmed gone the way a job's
 * teardown is ({@link confirmTermination}): a machine whose termination cannot be confirmed is `failed`
 * with the loud "may still be billing" message (recorded as an alert), never counted as terminated.
 */
export async function sweepUntracked(o: Pick<ReconcileOptions, "ledger" | "provider" | "signal" | "logger" | "terminate"> & { consoleUrl?: string }, machines: readonly MachineRecord[]): Promise<{ terminated: string[]; failed: string[] }> {
  const out = { terminated: [] as string[], failed: [] as string[] };
  for (const m of machines) {
    try {
      await confirmTermination(o.provider, o.ledger, { id: m.id, pricePerHour: m.pricePerHour, jobId: null }, { ...o.terminate, signal: o.signal, logger: o.logger, ...(o.consoleUrl && { consoleUrl: o.consoleUrl }) });
      o.ledger.addEvent({ kind: "gc", reason: `terminated untracked ${m.name} (${m.id}) on ${o.provider.name}, confirmed` });
      out.terminated.push(m.id);
    } catch (e) {
      if (o.signal.aborted) throw e;
      out.failed.push(`${m.id}: ${errorMessage(e)}`);
    }
  }
  return out;
}
