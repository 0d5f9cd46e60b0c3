/**
 * The smallest world `monitorRun` needs, for its tests: a ledger holding one job with one attempt and one
 * launched machine billing $1/h, and the monitor's options around it (paths under `dir`, a $100 cap with no
 * alerts, syncs far apart). Tests override what they exercise.
 */
import { join } from "node:path";
import { nullLogger } from "../../../base/logger.js";
import type { MachineAccess } from "../../../remote/access.js";
import { Ledger } from "../../../store/index.js";
import type { MonitorOptions } from "../monitor.js";

/** A machine access whose every request is accepted and never answered, the abort unheard; `onCall` counts them. */
export function silentAccess(onCall: () => void = () => undefined): MachineAccess {
  const never = () => {
    onCall();
    return new Promise<never>(() => undefined);
  };
  return { where: "silent", alias: "silent", run: never, runBuffer: never, upload: never, download: never, close: () => undefined } as unknown as MachineAccess;
}

export function monitoredMachine(dir: string, name: string, provider: string, providerId: string, providerState: string): { ledger: Ledger; options(o: Partial<MonitorOptions> & Pick<MonitorOptions, "conn">): MonitorOptions } {
  const ledger = Ledger.open(join(dir, `${name}.db`));
  ledger.createJob({ id: "j", name: "j", kind: "sae-pii", specYaml: "", jobDir: dir });
  const attempt = ledger.startAttempt("j", provider);
  const row = ledger.recordMachineIntent({ intentId: "i-j", jobId: "j", attemptId: attempt.id, provider, offer: {}, pricePerHour: 1 });
  ledger.markMachineLaunched(row.id, providerId, providerState);
  return {
    ledger,
    options: (o) => ({
      ledger,
      jobId: "j",
      machineRowId: row.id,
      runDir: "/nowhere/run",
      remoteOutputs: "/nowhere/outputs",
      localOutputs: join(dir, `${name}-outputs`),
      progressFile: join(dir, `${name}-progress.txt`),
      budget: { maxUsd: 100, alertFractions: [] },
      pollMs: 100,
      syncIntervalMs: 600_000,
      teardownReserveMs: 0,
      signal: new AbortController().signal,
      logger: nullLogger,
      ...o,
    }),
  };
}
