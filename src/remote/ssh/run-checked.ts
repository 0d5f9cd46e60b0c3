/**
 * Run a command that must succeed, and fail with its evidence: a non-zero exit becomes
 * `KilnError("remote-command-failed")` carrying the exit code and the last lines of stdout and stderr
 * (in `details` and in the message), so "setup failed" arrives with the reason attached.
 *
 * @example
 *   await runChecked(conn, ["python3", "-m", "venv", "/opt/kiln/venv"], { what: "create the venv", timeoutMs: 120_000 });
 */
import { KilnError } from "../../base/errors.js";
import type { Exec, ExecOptions, ExecResult } from "../exec.js";
import { tail } from "./command-line.js";

export interface CheckedOptions extends ExecOptions {
  /** What the command is for, in words ("install the workload"); used in the error message. */
  what?: string;
  /** Exit codes that count as success (default [0]). */
  okCodes?: readonly number[];
}

export async function runChecked(exec: Exec, argv: readonly string[], opts: CheckedOptions = {}): Promise<ExecResult> {
  const { what, okCodes = [0], ...execOpts } = opts;
  const r = await exec.run(argv, execOpts);
  if (okCodes.includes(r.code)) return r;
  const stdoutTail = tail(r.stdout);
  const stderrTail = tail(r.stderr);
  const shown = stderrTail || stdoutTail;
  throw new KilnError(
    "remote-command-failed",
    `${what ? `${what}: ` : ""}\`${argv.join(" ")}\` exited with code ${r.code} on ${exec.where}${shown ? `\n--- last output ---\n${shown}` : ""}`,
    { details: { where: exec.where, argv: [...argv], exitCode: r.code, stdoutTail, stderrTail } },
  );
}
