/**
 * A process whose only pending work is a monitor watching a machine whose every SSH request never settles
 * and ignores its abort (ssh2 can leave a request unanswered when its connection drops). Nothing else keeps
 * Node's event loop alive, so this shows whether the monitor's own deadline does: it prints the run's
 * outcome as JSON, or Node exits first with nothing printed. Used by ../monitor.test.ts.
 *
 *   vite-node stalled-monitor.ts DIR
 */
import { join } from "node:path";
import { nullLogger } from "../../../base/logger.js";
import type { MachineAccess } from "../../../remote/access.js";
import { Ledger } from "../../../store/index.js";
import { monitorRun } from "../monitor.js";

const dir = process.argv[2]!;
const never = () => new Promise<never>(() => undefined);
const access = { where: "stalled", alias: "stalled", run: never, runBuffer: never, upload: never, download: never, close: () => undefined } as unknown as MachineAccess;
const ledger = Ledger.open(join(dir, "ledger.db"));
ledger.createJob({ id: "j", name: "j", kind: "sae-pii", specYaml: "", jobDir: dir });
const attempt = ledger.startAttempt("j", "lambda");
const row = ledger.recordMachineIntent({ intentId: "i-j", jobId: "j", attemptId: attempt.id, provider: "lambda", offer: {}, pricePerHour: 1 });
ledger.markMachineLaunched(row.id, "m-1", "active");
const outcome = await monitorRun({
  conn: access,
  ledger,
  jobId: "j",
  machineRowId: row.id,
  runDir: "/nowhere/run",
  remoteOutputs: "/nowhere/outputs",
  localOutputs: join(dir, "outputs"),
  progressFile: join(dir, "progress.txt"),
  budget: { maxUsd: 100, alertFractions: [] },
  pollMs: 50,
  tickMs: 200,
  syncIntervalMs: 600_000,
  teardownReserveMs: 0,
  unreachableMs: 1000,
  signal: new AbortController().signal,
  logger: nullLogger,
});
ledger.close();
process.stdout.write(`${JSON.stringify(outcome)}\n`);
