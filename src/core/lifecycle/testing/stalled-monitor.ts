/**
 * A process whose only pending work is a monitor watching a machine whose every SSH request never settles
 * and ignores its abort (ssh2 can leave a request unanswered when its connection drops). Nothing else keeps
 * Node's event loop alive, so this shows whether the monitor's own deadline does: it prints the run's
 * outcome as JSON, or Node exits first with nothing printed. Used by ../monitor.test.ts.
 *
 *   vite-node stalled-monitor.ts DIR
 */
import { monitorRun } from "../monitor.js";
import { monitoredMachine, silentAccess } from "./monitored-machine.js";

const m = monitoredMachine(process.argv[2]!, "stalled", "lambda", "m-1", "active");
const outcome = await monitorRun(m.options({ conn: silentAccess(), pollMs: 50, tickMs: 200, unreachableMs: 1000 }));
m.ledger.close();
process.stdout.write(`${JSON.stringify(outcome)}\n`);
