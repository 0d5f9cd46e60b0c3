/**
 * Starting and stopping the on-machine watchdog (script in ./script.ts) over an {@link Exec}, and reading
 * what it did at the cap (./outcome.ts). {@link watchdogForJob} (./for-job.ts) builds the spec from a job.
 *
 * Everything secret (the end-billing credential, the store's keys) goes into `DIR/private`, a 0700
 * directory made under umask 077, as 0600 files; argv carries only paths and numbers (`ps` shows argv).
 *
 * @example
 *   await startWatchdog(conn, watchdogForJob({ … }));
 *   const o = await readCapOutcome(conn, "kiln/jobs/J/watchdog");
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { EndBilling } from "../../providers/descriptor.js";
import type { Exec } from "../../remote/exec.js";
import { runChecked } from "../../remote/ssh/run-checked.js";
import { type RunHandle, startRun, stopRun } from "../../remote/session/run.js";
import { type StorePushConfig, storePushConfigJson } from "../artifact-store/push-config.js";
import { WATCHDOG_SCRIPT } from "./script.js";

export { WATCHDOG_SCRIPT } from "./script.js";
export { type CapEvent, type CapOutcome, type PushResult, readCapOutcome } from "./outcome.js";
export { type WatchdogForJobInput, DEFAULT_PUSH_ALLOWANCE_S, END_BILLING_ALLOWANCE_S, secondsUntilCap, watchdogForJob } from "./for-job.js";

/** The machine-side push module, shipped beside the watchdog (stdlib-only Python, run as a file). */
const PUSH_MODULE = resolve(import.meta.dirname, "..", "..", "..", "workload", "kiln_sae", "store_push.py");

export interface WatchdogPush {
  /** A python3 on the machine (≥ 3.8; the push module needs only the standard library). */
  python: string;
  /** The job's outputs directory on the machine: everything under it is pushed. */
  outputsDir: string;
  /** The store and its credentials; written 0600 into the private directory. */
  config: StorePushConfig;
  /** The push's own deadline (writing and reading back every file). */
  timeoutS: number;
  /** keep-machine only: seconds between retries of a failed push, and how long to keep retrying. */
  retryS: number;
  keepForS: number;
}

export interface WatchdogSpec {
  /** The watchdog's own run directory on the machine; its cap-events and push-result.json go here too. */
  dir: string;
  name: string;
  /** The job's run directory, whose process group the watchdog stops. */
  runDir: string;
  remainingS: number;
  graceS: number;
  /** The provider's way to end billing (its descriptor's `endBilling` for this machine, or a shutdown where that terminates). */
  endBilling?: EndBilling;
  /** Push the outputs to the durable store after the checkpoint, before billing ends. */
  push?: WatchdogPush;
  /**
   * When the outputs are not durable at the deadline (no store, or the push failed): `keep-machine`
   * (budget.on_cap_offline: keep-data) or `end-billing` (stop-billing). Absent: `end-billing`, which is
   * what the `--watchdog-terminate` opt-in meant before the store existed; {@link watchdogForJob} always sets it.
   */
  whenNotDurable?: "keep-machine" | "end-billing";
}

async function writePrivate(exec: Exec, priv: string, name: string, content: string): Promise<string> {
  await runChecked(exec, ["sh", "-c", 'umask 077 && cat > "$1"', "sh", `${priv}/${name}`], { stdin: content, what: `write the watchdog's ${name}` });
  return `${priv}/${name}`;
}

export async function startWatchdog(exec: Exec, w: WatchdogSpec): Promise<RunHandle> {
  await runChecked(exec, ["mkdir", "-p", "--", w.dir], { what: "create the watchdog directory" });
  // A restarted watchdog must not report an earlier deadline's outcome as its own.
  await runChecked(exec, ["rm", "-f", "--", `${w.dir}/cap-events`, `${w.dir}/push-result.json`], { what: "clear the watchdog's old outcome" });
  const script = `${w.dir}/kiln-watchdog.sh`;
  await runChecked(exec, ["sh", "-c", 'cat > "$1" && chmod 700 "$1"', "sh", script], { stdin: WATCHDOG_SCRIPT, what: "write the watchdog" });
  const argv = ["sh", script, "--run-dir", w.runDir, "--remaining", String(Math.max(0, Math.floor(w.remainingS))), "--grace", String(Math.ceil(w.graceS))];
  argv.push("--state-dir", w.dir, "--when-not-durable", w.whenNotDurable ?? "end-billing");
  const priv = `${w.dir}/private`;
  if (w.endBilling || w.push) {
    // Its own private directory (0700), made under umask 077: a credential never exists readable by others.
    await runChecked(exec, ["sh", "-c", 'umask 077 && mkdir -p -- "$1"', "sh", priv], { what: "create the watchdog's private directory" });
  }
  if (w.push) {
    const p = w.push;
    const pushScript = `${w.dir}/store-push.py`;
    await runChecked(exec, ["sh", "-c", 'cat > "$1"', "sh", pushScript], { stdin: readFileSync(PUSH_MODULE, "utf8"), what: "write the watchdog's push module" });
    const config = await writePrivate(exec, priv, "store.json", storePushConfigJson(p.config));
    argv.push("--push", p.python, pushScript, p.outputsDir, config, String(Math.ceil(p.timeoutS)), String(Math.ceil(p.retryS)), String(Math.ceil(p.keepForS)));
  }
  if (w.endBilling) {
    for (const f of w.endBilling.files) await writePrivate(exec, priv, f.name, f.content);
    argv.push("--end-billing", await writePrivate(exec, priv, "end-billing.sh", w.endBilling.script), ...w.endBilling.args);
  }
  return startRun(exec, { name: w.name, dir: w.dir, argv, method: "setsid" });
}

/**
 * Give a running watchdog fresh store credentials (temporary ones run out after at most 12 h, which a
 * longer cap outlives): its store.json is replaced atomically (written beside it under umask 077, then
 * renamed), and the push reads the file only when it starts, so a push never sees half a file.
 */
export async function replaceStoreConfig(exec: Exec, dir: string, config: StorePushConfig): Promise<void> {
  const priv = `${dir}/private`;
  await writePrivate(exec, priv, "store.json.next", storePushConfigJson(config));
  await runChecked(exec, ["mv", "-f", "--", `${priv}/store.json.next`, `${priv}/store.json`], { what: "replace the watchdog's store credentials" });
}

/** Stop the watchdog (a client is back and holds the cap itself) and remove the credentials it held. */
export async function stopWatchdog(exec: Exec, dir: string): Promise<void> {
  await stopRun(exec, dir, { graceMs: 2_000 });
  // The end-billing script, the store's keys and what they read go with it.
  await exec.run(["rm", "-rf", "--", `${dir}/private`]);
}

/** For tests and `kiln` diagnostics: the push module's path in this installation. */
export const pushModulePath = (): string => PUSH_MODULE;
export const watchdogFile = (dir: string, name: "cap-events" | "push-result.json"): string => join(dir, name);
