/**
 * Terminate and confirm. The ledger says "terminating" *before* the call, so a crash between the call
 * and the confirmation is visible to reconciliation; the machine is closed (billing ends) only when the
 * provider says `terminated`. Polls every `pollMs` up to `timeoutMs` (30 s / 15 min by default), then
 * fails loudly: a machine that will not die is still billing.
 */
import { pollUntil } from "../../base/deadline.js";
import { KilnError, errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { Provider } from "../../providers/provider.js";
import type { Ledger, MachineLedgerRecord } from "../../store/index.js";
import { crashPoint } from "./crash.js";

export interface TerminateOptions {
  pollMs: number;
  timeoutMs: number;
  signal: AbortSignal;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

export const TERMINATE_DEFAULTS = { pollMs: 30_000, timeoutMs: 15 * 60_000 } as const;

export async function terminateAndConfirm(provider: Provider, ledger: Ledger, row: MachineLedgerRecord, reason: string, o: TerminateOptions): Promise<void> {
  const id = row.provider_id;
  if (id === null) throw new KilnError("no_provider_id", `machine ${row.intent_id} has no provider id; reconcile it by name first`);
  if (row.state !== "terminating") ledger.setMachineState(row.id, "terminating", reason);
  await pollUntil(async () => provider.terminate(id, o.signal).then(() => true), { what: `asking ${provider.name} to terminate ${id}`, timeoutMs: o.timeoutMs, intervalMs: 500, backoff: 2, maxIntervalMs: o.pollMs, signal: o.signal });
  crashPoint("after-terminate-call", o.env);
  try {
    await pollUntil(
      async () => {
        const m = await provider.describe(id, o.signal);
        return m.state === "terminated" ? m : undefined;
      },
      { what: `${provider.name} to confirm ${id} terminated`, timeoutMs: o.timeoutMs, intervalMs: Math.min(o.pollMs, 1_000), backoff: 2, maxIntervalMs: o.pollMs, signal: o.signal },
    );
  } catch (e) {
    ledger.addEvent({ jobId: row.job_id, machineId: row.id, kind: "alert", reason: `TERMINATION NOT CONFIRMED for ${id} after ${Math.round(o.timeoutMs / 1000)} s: it may still be billing` });
    o.logger.error(`termination of ${id} not confirmed: ${errorMessage(e)}`);
    throw new KilnError("termination_unconfirmed", `${provider.name} has not confirmed that ${id} is terminated after ${Math.round(o.timeoutMs / 1000)} s; it may still be billing. Check the provider's console, then run \`kiln gc\``, { cause: e });
  }
  crashPoint("after-confirm", o.env);
  ledger.markMachineTerminated(row.id, `confirmed terminated by ${provider.name} (${reason})`);
}
