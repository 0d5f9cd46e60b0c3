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
}

export const TERMINATE_DEFAULTS = { pollMs: 30_000, timeoutMs: 15 * 60_000 } as const;

export async function terminateAndConfirm(provider: Provider, ledger: Ledger, row: MachineLedgerRecord, reason: string, o: TerminateOptions): Promise<void> {
  const id = row.provider_id;
  if (id === null) throw new KilnError("no_provider_id", `machine ${row.intent_id} has no provider id; reconcile it by name first`);
  if (row.state !== "terminating") ledger.setMachineState(row.id, "terminating", reason);
  const poll = { timeoutMs: o.timeoutMs, backoff: 2, maxIntervalMs: o.pollMs, signal: o.signal, isPermanent: isPermanentProviderError };
  try {
    await pollUntil(async () => provider.terminate(id, o.signal).then(() => true), { what: `asking ${provider.name} to terminate ${id}`, intervalMs: 500, ...poll });
    crashPoint("after-terminate-call", o.env);
    await pollUntil(
      async () => {
        const m = await provider.describe(id, o.signal);
        return m.state === "terminated" ? m : undefined;
      },
      { what: `${provider.name} to confirm ${id} terminated`, intervalMs: Math.min(o.pollMs, 1_000), ...poll },
    );
  } catch (e) {
    if (o.signal.aborted && !(e instanceof DeadlineError)) throw e;
    const where = o.consoleUrl ? ` Check ${o.consoleUrl}` : ` Check ${provider.name}'s console`;
    const loud = `MACHINE ${id} ON ${provider.name.toUpperCase()} MAY STILL BE BILLING ($${row.price_per_hour.toFixed(2)}/h): its termination could not be confirmed (${errorMessage(e)}).${where}, then run \`kiln down ${row.job_id ?? "JOB"} --force\` or \`kiln gc\``;
    ledger.addEvent({ jobId: row.job_id, machineId: row.id, kind: "alert", reason: loud });
    o.logger.error(loud);
    throw new KilnError("termination_unconfirmed", loud, { cause: e });
  }
  crashPoint("after-confirm", o.env);
  ledger.markMachineTerminated(row.id, `confirmed terminated by ${provider.name} (${reason})`);
}
