/**
 * Starting and stopping the on-machine watchdog (script in ./script.ts) over an {@link Exec}.
 *
 * @example
 *   await startWatchdog(conn, { dir: "kiln/jobs/J/watchdog", name: "kiln-wd-J", runDir: "kiln/jobs/J/run", remainingS: 3600, graceS: 60 });
 */
import type { EndBilling } from "../../providers/descriptor.js";
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
  /** Opt-in: the provider's way to end billing (its descriptor's `endBilling` for this machine). */
  endBilling?: EndBilling;
}

export async function startWatchdog(exec: Exec, w: WatchdogSpec): Promise<RunHandle> {
  await runChecked(exec, ["mkdir", "-p", "--", w.dir], { what: "create the watchdog directory" });
  const script = `${w.dir}/kiln-watchdog.sh`;
  await runChecked(exec, ["sh", "-c", 'cat > "$1" && chmod 700 "$1"', "sh", script], { stdin: WATCHDOG_SCRIPT, what: "write the watchdog" });
  const argv = ["sh", script, w.runDir, String(Math.max(0, Math.floor(w.remainingS))), String(Math.ceil(w.graceS))];
  if (w.endBilling) {
    // Its own private directory (0700), made under umask 077: a credential never exists readable by others.
    const priv = `${w.dir}/private`;
    await runChecked(exec, ["sh", "-c", 'umask 077 && mkdir -p -- "$1"', "sh", priv], { what: "create the watchdog's private directory" });
    for (const f of [...w.endBilling.files, { name: "end-billing.sh", content: w.endBilling.script }]) {
      await runChecked(exec, ["sh", "-c", 'umask 077 && cat > "$1"', "sh", `${priv}/${f.name}`], { stdin: f.content, what: `write the watchdog's ${f.name}` });
    }
    argv.push(`${priv}/end-billing.sh`, ...w.endBilling.args);
  }
  return startRun(exec, { name: w.name, dir: w.dir, argv, method: "setsid" });
}

export async function stopWatchdog(exec: Exec, dir: string): Promise<void> {
  await stopRun(exec, dir, { graceMs: 2_000 });
  // The end-billing script and the credential it reads go with it.
  await exec.run(["rm", "-rf", "--", `${dir}/private`]);
}
