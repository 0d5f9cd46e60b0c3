/**
 * Starting and stopping the on-machine watchdog (script in ./script.ts) over an {@link Exec}.
 *
 * @example
 *   await startWatchdog(conn, { dir: "kiln/jobs/J/watchdog", name: "kiln-wd-J", runDir: "kiln/jobs/J/run", remainingS: 3600, graceS: 60 });
 */
import type { Exec } from "../../remote/exec.js";
import { runChecked } from "../../remote/ssh/run-checked.js";
import { type RunHandle, startRun, stopRun } from "../../remote/session/run.js";
import { WATCHDOG_SCRIPT } from "./script.js";

export { WATCHDOG_SCRIPT } from "./script.js";

export interface WatchdogSpec {
  /** The watchdog's own run directory on the machine. */
  dir: string;
  name: string;
  /** The job's run directory, whose process group the watchdog stops. */
  runDir: string;
  remainingS: number;
  graceS: number;
  /** Opt-in self-termination: the provider API base URL, the API key and the instance id. */
  terminate?: { apiUrl: string; apiKey: string; instanceId: string };
}

export async function startWatchdog(exec: Exec, w: WatchdogSpec): Promise<RunHandle> {
  await runChecked(exec, ["mkdir", "-p", "--", w.dir], { what: "create the watchdog directory" });
  const script = `${w.dir}/kiln-watchdog.sh`;
  await runChecked(exec, ["sh", "-c", 'cat > "$1" && chmod 700 "$1"', "sh", script], { stdin: WATCHDOG_SCRIPT, what: "write the watchdog" });
  const argv = ["sh", script, w.runDir, String(Math.max(0, Math.floor(w.remainingS))), String(Math.ceil(w.graceS))];
  if (w.terminate) {
    const header = `${w.dir}/auth-header`;
    // umask first: the key must never exist world-readable, even for a moment.
    await runChecked(exec, ["sh", "-c", 'umask 077 && cat > "$1"', "sh", header], { stdin: `Authorization: Bearer ${w.terminate.apiKey}\n`, what: "write the watchdog's key" });
    argv.push(w.terminate.apiUrl, header, w.terminate.instanceId);
  }
  return startRun(exec, { name: w.name, dir: w.dir, argv, method: "setsid" });
}

export async function stopWatchdog(exec: Exec, dir: string): Promise<void> {
  await stopRun(exec, dir, { graceMs: 2_000 });
  await exec.run(["rm", "-f", "--", `${dir}/auth-header`]);
}
