/**
 * Terminate and confirm. The ledger says "terminating" *before* the call, so a crash between the call
 * and the confirmation is visible to reconciliation; the machine is closed (billing ends) only when the
 * provider says `terminated`. Polls every `pollMs` up to `timeoutMs` (30 s / 15 min by default), then
 * fails loudly: a machine that will not die is still billing.
 */
import { pollUntil } from "../../base/deadline.js";
import { DeadlineError, KilnError, errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { isPermanentProviderError, type Provider } from "../../providers/provider.js";
import type { Ledger, MachineLedgerRecord } from "../../store/index.js";
import { crashPoint } from "./crash.js";

export interface TerminateOptions {
  pollMs: number;
  timeoutMs: number;
  signal: AbortSignal;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Where the user can see the machine in the provider's console, for the "may still be billing" message. */
  consoleUrl?: string;
  /** When its billing ended before this terminate (its watchdog ended it at the cap): the ledger charges up to then. */
  billedUntil?: string;
}

export const TERMINATE_DEFAULTS = { pollMs: 30_000, timeoutMs: 15 * 60_000 } as const;

export async function terminateAndConfirm(provider: Provider, ledger: Ledger, row: MachineLedgerRecord, reason: string, o: TerminateOptions): Promise<void> {
  const id = row.provider_id;
  if (id === null) throw new KilnError("no_provider_id", `machine ${row.intent_id} has no provider id; reconcile it by name first`);
  if (row.state !== "terminating") ledger.setMachineState(row.id, "terminating", reason);
  await confirmTermination(provider, ledger, { id, pricePerHour: row.price_per_hour, jobId: row.job_id, rowId: row.id }, o);
  crashPoint("after-confirm", o.env);
  ledger.markMachineTerminated(row.id, `confirmed terminated by ${provider.name} (${reason})`, o.billedUntil);
}

/** A machine to end: its provider id, price, and the ledger row and job that hold it, when any do. */
export interface MachineToEnd {
  id: string;
  pricePerHour: number;
  jobId: string | null;
  /** The ledger row, absent for a machine no row holds (`kiln gc`'s untracked sweep). */
  rowId?: number;
}

/**
 * Ask the provider to terminate `m` and poll until it says `terminated`. A machine the provider will not
 * confirm gone is recorded as an alert and thrown as `termination_unconfirmed` with the loud "may still be
 * billing" message (where to look, what to run). Changes no machine row: the caller closes its own.
 */
export async function confirmTermination(provider: Provider, ledger: Ledger, m: MachineToEnd, o: TerminateOptions): Promise<void> {
  const poll = { timeoutMs: o.timeoutMs, backoff: 2, maxIntervalMs: o.pollMs, signal: o.signal, isPermanent: isPermanentProviderError };
  try {
    await pollUntil(async () => provider.terminate(m.id, o.signal).then(() => true), { what: `asking ${provider.name} to terminate ${m.id}`, intervalMs: 500, ...poll });
    crashPoint("after-terminate-call", o.env);
    await pollUntil(
      async () => {
        const d = await provider.describe(m.id, o.signal);
        return d.state === "terminated" ? d : undefined;
      },
      { what: `${provider.name} to confirm ${m.id} terminated`, intervalMs: Math.min(o.pollMs, 1_000), ...poll },
    );
  } catch (e) {
    if (o.signal.aborted && !(e instanceof DeadlineError)) throw e;
    const where = o.consoleUrl ? ` Check ${o.consoleUrl}` : ` Check ${provider.name}'s console`;
    // No job holds an untracked machine: `kiln gc` is what finds it again.
    const next = m.jobId ? `\`kiln down ${m.jobId} --force\` or \`kiln gc\`` : "`kiln gc` again (it terminates Kiln machines no job holds)";
    const loud = `MACHINE ${m.id} ON ${provider.name.toUpperCase()} MAY STILL BE BILLING ($${m.pricePerHour.toFixed(2)}/h): its termination could not be confirmed (${errorMessage(e)}).${where}, then run ${next}`;
    ledger.addEvent({ jobId: m.jobId, ...(m.rowId !== undefined && { machineId: m.rowId }), kind: "alert", reason: loud });
    o.logger.error(loud);
    throw new KilnError("termination_unconfirmed", loud, { cause: e });
  }
}
