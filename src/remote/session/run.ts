/**
 * A persistent run: the training command runs on the machine detached from SSH, so a dropped
 * connection, a sleeping laptop or Kiln exiting does not stop it (and a later Kiln can find it again).
 *
 * Layout, all under the run's state directory `dir` on the machine:
 *   run.sh     the wrapper Kiln writes: records pid/pgid, runs the command, records the exit code
 *   pid, pgid  the wrapper's pid and process group (stop signals the whole group)
 *   exit_code  written (atomically, via rename) when the command ends; its absence means "not ended"
 *
 * Started in a tmux session when tmux exists (a person can `tmux attach` to watch), else with
 * `setsid nohup` (its own session and process group, immune to the SSH hangup). Either way status and
 * stop go through the files above, never through tmux, so both methods behave the same.
 *
 * @example
 *   await startRun(conn, { name: "kiln-j42", dir: "kiln/run", argv: ["python", "-m", "kiln_sae", "train", "--config", "c.json"], log: "kiln/run/output.log" });
 *   const s = await runStatus(conn, "kiln/run"); // { state: "running", pid } | { state: "exited", code }
 *   await stopRun(conn, "kiln/run", { graceMs: 30_000 });
 */
import { z } from "zod";
import { pollUntil, sleep } from "../../base/deadline.js";
import { DeadlineError, KilnError } from "../../base/errors.js";
import { type Exec, shellQuote } from "../exec.js";
import { commandLine } from "../ssh/command-line.js";
import { runChecked } from "../ssh/run-checked.js";

export interface RunSpec {
  /** tmux session name; letters, digits, `-` and `_` only. */
  name: string;
  /** State directory on the machine (relative paths start in the remote home). */
  dir: string;
  argv: readonly string[];
  cwd?: string;
  env?: Record<string, string>;
  /** File receiving the command's stdout and stderr (appended). Default `<dir>/output.log`. */
  log?: string;
  /** Default "auto": tmux when the machine has it. */
  method?: "auto" | "tmux" | "setsid";
}

export type RunStatus =
  | { state: "absent" }
  | { state: "running"; pid: number }
  | { state: "exited"; code: number }
  /** The process group is gone but no exit code was written (killed with SIGKILL, machine rebooted). */
  | { state: "lost" };

export interface RunHandle {
  name: string;
  dir: string;
  log: string;
  method: "tmux" | "setsid";
  /** False when a run was already going in `dir` and was adopted instead of started again. */
  started: boolean;
}

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function wrapperScript(spec: RunSpec, log: string): string {
  const d = shellQuote(spec.dir);
  const cmd = commandLine(spec.argv, { ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }), ...(spec.env ? { env: spec.env } : {}) });
  return [
    "#!/bin/sh",
    "# Written by Kiln: run the job detached from SSH and record pid, process group and exit code.",
    `d=${d}`,
    'echo $$ > "$d/pid"',
    // Field 5 of /proc/PID/stat is the process group; `stop` signals the whole group.
    'read -r _ _ _ _ pg _ < /proc/$$/stat && echo "$pg" > "$d/pgid"',
    "trap '' HUP",
    // A trapped TERM lets the wrapper outlive its child long enough to record the exit code.
    "trap 'kiln_term=1' TERM",
    `( ${cmd} ) >> ${shellQuote(log)} 2>&1 < /dev/null`,
    "code=$?",
    'echo "$code" > "$d/exit_code.tmp" && mv -f "$d/exit_code.tmp" "$d/exit_code"',
    "",
  ].join("\n");
}

const STATUS_SCRIPT = [
  'd="$1"',
  'if [ -f "$d/exit_code" ]; then echo "exited $(cat "$d/exit_code")"; exit 0; fi',
  'if [ ! -f "$d/pid" ]; then echo absent; exit 0; fi',
  'pg=$(cat "$d/pgid" 2>/dev/null || cat "$d/pid")',
  'if kill -0 -"$pg" 2>/dev/null; then echo "running $(cat "$d/pid")"; else echo lost; fi',
].join("\n");

const StatusLine = z.union([
  z.tuple([z.literal("exited"), z.coerce.number().int()]),
  z.tuple([z.literal("running"), z.coerce.number().int().positive()]),
  z.tuple([z.literal("absent")]),
  z.tuple([z.literal("lost")]),
]);

export async function runStatus(exec: Exec, dir: string, signal?: AbortSignal): Promise<RunStatus> {
  const r = await runChecked(exec, ["sh", "-c", STATUS_SCRIPT, "sh", dir], { what: "check the run's status", ...(signal && { signal }) });
  const parsed = StatusLine.safeParse(r.stdout.trim().split(/\s+/));
  if (!parsed.success) throw new KilnError("remote-output-unparsable", `unexpected run status from ${exec.where}: ${JSON.stringify(r.stdout.slice(0, 200))}`);
  const v = parsed.data;
  if (v[0] === "exited") return { state: "exited", code: v[1] };
  if (v[0] === "running") return { state: "running", pid: v[1] };
  return { state: v[0] };
}

/** Start the run, or adopt it when one is already running (or finished) in `spec.dir`. */
export async function startRun(exec: Exec, spec: RunSpec, opts: { startTimeoutMs?: number } = {}): Promise<RunHandle> {
  if (!NAME_RE.test(spec.name)) throw new TypeError(`run name must match ${NAME_RE}: ${JSON.stringify(spec.name)}`);
  const log = spec.log ?? `${spec.dir}/output.log`;
  await runChecked(exec, ["mkdir", "-p", "--", spec.dir], { what: "create the run directory" });
  const before = await runStatus(exec, spec.dir);
  const hasTmux = spec.method === "setsid" ? false : (await exec.run(["sh", "-c", "command -v tmux"])).code === 0;
  if (spec.method === "tmux" && !hasTmux) throw new KilnError("tmux-missing", `tmux is not installed on ${exec.where}`);
  const method = hasTmux ? "tmux" : "setsid";
  if (before.state === "running" || before.state === "exited") return { name: spec.name, dir: spec.dir, log, method, started: false };
  // A lost or never-finished earlier attempt leaves pid files behind; start clean.
  await runChecked(exec, ["rm", "-f", "--", `${spec.dir}/pid`, `${spec.dir}/pgid`, `${spec.dir}/exit_code`], { what: "clear old run state" });
  const script = `${spec.dir}/run.sh`;
  await runChecked(exec, ["sh", "-c", 'cat > "$1" && chmod 700 "$1"', "sh", script], { stdin: wrapperScript(spec, log), what: "write the run wrapper" });
  if (method === "tmux") {
    await runChecked(exec, ["tmux", "new-session", "-d", "-s", spec.name, "sh", script], { what: "start the run in tmux" });
  } else {
    await runChecked(exec, ["sh", "-c", 'setsid nohup sh "$1" > /dev/null 2>&1 < /dev/null &', "sh", script], { what: "start the run" });
  }
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  try {
    await pollUntil(async () => ((await runStatus(exec, spec.dir)).state === "absent" ? undefined : true), { what: `the run ${spec.name} to start`, timeoutMs, intervalMs: 100 });
  } catch (e) {
    if (!(e instanceof DeadlineError)) throw e;
    throw new KilnError("run-start-failed", `the run ${spec.name} did not start on ${exec.where} (no pid file after ${timeoutMs} ms)`, { cause: e });
  }
  return { name: spec.name, dir: spec.dir, log, method, started: true };
}

/**
 * Stop the run: SIGTERM to its process group, SIGKILL after `graceMs`. Idempotent; returns the final
 * status. A run killed with SIGKILL gets exit code 137 recorded so its status is "exited", not "lost".
 */
export async function stopRun(exec: Exec, dir: string, opts: { graceMs?: number; pollMs?: number } = {}): Promise<RunStatus> {
  const graceMs = opts.graceMs ?? 30_000;
  const s = await runStatus(exec, dir);
  if (s.state !== "running") return s;
  const group = async (action: "TERM" | "KILL" | "0") =>
    (await exec.run(["sh", "-c", `pg=$(cat "$1/pgid" 2>/dev/null || cat "$1/pid") && kill -${action} -"$pg" 2>/dev/null`, "sh", dir])).code === 0;
  await group("TERM");
  // Wait for the whole group, not just the wrapper: a child that outlives it would keep the GPU busy.
  const deadline = Date.now() + graceMs;
  let alive = true;
  while (alive && Date.now() < deadline) {
    await sleep(opts.pollMs ?? 200);
    alive = await group("0");
  }
  if (alive) {
    await group("KILL");
    await sleep(opts.pollMs ?? 200);
  }
  await exec.run(["sh", "-c", '[ -f "$1/exit_code" ] || echo 137 > "$1/exit_code"', "sh", dir]);
  return runStatus(exec, dir);
}
