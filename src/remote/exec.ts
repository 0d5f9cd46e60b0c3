/**
 * Running a command somewhere: this machine ({@link localExec}) or an SSH host (src/remote/ssh). The
 * verification checklist, remote setup and the GPU probe are written against {@link Exec}, so the same
 * code checks a laptop and a cloud machine.
 *
 * Commands are argv arrays, never shell strings built from values. A transport that can only take a
 * string (SSH's exec channel) quotes each element with {@link shellQuote}.
 */
import { spawn } from "node:child_process";
import { AbortedError, DeadlineError } from "../base/errors.js";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  signal?: AbortSignal;
}

export interface Exec {
  /** Where commands run, for messages ("local", "root@203.0.113.7:22"). */
  readonly where: string;
  /**
   * Run argv and collect its output. Resolves with any exit code (a non-zero code is data, not an
   * error); rejects only when the command could not be started where that is distinguishable (code 127
   * is returned for "not found"), on timeout (DeadlineError) or abort (AbortedError).
   */
  run(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
}

/** POSIX single-quote quoting of one argv element. */
export function shellQuote(arg: string): string {
  if (arg === "") return "''";
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export const shellJoin = (argv: readonly string[]): string => argv.map(shellQuote).join(" ");

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * The once-only settlement of a running command, shared by {@link localExec} and the SSH transport:
 * its deadline and the caller's abort (also one that fired before the call) both `kill` it and reject
 * with DeadlineError / AbortedError naming `label`; otherwise `finish` settles it. The first one wins.
 */
export function settleOnce(label: string, timeoutMs: number, signal: AbortSignal | undefined, kill: () => void, reject: (e: unknown) => void) {
  let settled = false;
  const finish = (fn: () => void) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    fn();
  };
  const timer = setTimeout(() => {
    kill();
    finish(() => reject(new DeadlineError(label, timeoutMs)));
  }, timeoutMs);
  const onAbort = () => {
    kill();
    finish(() => reject(new AbortedError(label, { cause: signal?.reason })));
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  return { finish, settled: () => settled };
}

export const localExec: Exec = {
  where: "local",
  run(argv, opts = {}) {
    const [cmd, ...args] = argv;
    if (cmd === undefined) return Promise.reject(new TypeError("localExec.run: empty argv"));
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<ExecResult>((resolve, reject) => {
      const child = spawn(cmd, args, {
        cwd: opts.cwd,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      const { finish } = settleOnce(`\`${argv.join(" ")}\``, timeoutMs, opts.signal, () => child.kill("SIGKILL"), reject);
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
      });
      child.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") finish(() => resolve({ code: 127, stdout, stderr: `${cmd}: command not found` }));
        else finish(() => reject(e));
      });
      child.on("close", (code, sig) => finish(() => resolve({ code: code ?? (sig ? 128 + 9 : 1), stdout, stderr })));
      child.stdin.on("error", () => {
        // The child may exit before reading stdin (EPIPE); its exit code tells the story.
      });
      child.stdin.end(opts.stdin ?? "");
    });
  },
};
