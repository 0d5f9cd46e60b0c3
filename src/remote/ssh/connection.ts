/**
 * One SSH connection to a machine, reused for many commands (each command is a channel), with host-key
 * pinning, connect retries until a deadline, keepalive and automatic reconnect.
 *
 * {@link SshConnection} implements {@link Exec}, so the verification checklist, remote setup and the GPU
 * probe run over SSH exactly as they run locally. A command that was running when the connection
 * dropped rejects with `ssh-disconnected` (it is not re-run: commands are not assumed idempotent); the
 * next command reconnects first. Long-lived work belongs in a persistent run (src/remote/session), which
 * survives the drop.
 *
 * @example
 *   const conn = await SshConnection.open(
 *     { host: "203.0.113.7", user: "ubuntu", privateKey: readFileSync(keyPath), hostKeyAlias: "lambda-0b1c" },
 *     { knownHosts: new KnownHosts(paths.knownHosts), timeoutMs: 300_000, logger },
 *   );
 *   const { code, stdout } = await conn.run(["nvidia-smi", "-L"]);
 *   conn.close();
 */
import type { Client, ClientChannel, SFTPWrapper } from "ssh2";
import { unlessAborted } from "../../base/deadline.js";
import { AbortedError, KilnError } from "../../base/errors.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import type { BufferResult, FileDigest, MachineAccess, TransferOptions, TransferResult } from "../access.js";
import { type ExecOptions, type ExecResult, settleOnce } from "../exec.js";
import { commandLine } from "./command-line.js";
import { type ConnectOptions, connectWithRetry, parseKeyOrThrow, type SshTarget } from "./dial.js";
import { hostPortAlias } from "./known-hosts.js";
import { downloadFile, uploadFile } from "./sftp.js";

export type { ConnectOptions, SshTarget } from "./dial.js";

export interface StreamOptions extends ExecOptions {
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export type { BufferResult } from "../access.js";

const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
// OpenSSH's MaxSessions defaults to 10 channels per connection; stay under it.
const MAX_CHANNELS = 8;
const SFTP_OPEN_TIMEOUT_MS = 60_000;
const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, SEGV: 11, PIPE: 13, TERM: 15 };

class Slots {
  private free: number;
  private waiters: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  /**
   * Wait for a free channel. An abort while waiting rejects at once, and the slot granted later is handed
   * straight on: a caller whose tick ran out must not stay queued behind channels of a dying connection.
   */
  async take(signal?: AbortSignal, label = "an SSH command"): Promise<() => void> {
    if (signal?.aborted) throw new AbortedError(label, { cause: signal.reason });
    if (this.free > 0) this.free--;
    else await this.queue(signal, label);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    };
  }

  private queue(signal: AbortSignal | undefined, label: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const granted = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(granted);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new AbortedError(label, { cause: signal?.reason }));
      };
      this.waiters.push(granted);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/**
 * Quirk: ssh2's `Channel.signal()` silently does nothing once our side has sent EOF, and every command
 * here gets EOF on stdin right away. The protocol allows a signal request after EOF, so send it through
 * the same protocol call `Channel.signal()` makes.
 */
function sendSignal(channel: ClientChannel, name: "KILL" | "TERM"): void {
  const ch = channel as unknown as { outgoing?: { id?: number; state?: string }; _client?: { _protocol?: { signal?: (id: number, sig: string) => void } } };
  const id = ch.outgoing?.id;
  const proto = ch._client?._protocol;
  if (id === undefined || !["open", "eof"].includes(ch.outgoing?.state ?? "") || typeof proto?.signal !== "function") return;
  try {
    proto.signal(id, name);
  } catch {
    // The connection is already gone; nothing left to signal.
  }
}

export class SshConnection implements MachineAccess {
  readonly where: string;
  readonly alias: string;
  /** How many times the connection was re-established after a drop. */
  reconnects = 0;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private closed = false;
  private everConnected = false;
  private readonly slots = new Slots(MAX_CHANNELS);
  private readonly logger: Logger;

  private constructor(
    readonly target: SshTarget,
    private readonly opts: ConnectOptions,
  ) {
    this.where = `${target.user}@${target.host}:${target.port ?? 22}`;
    this.alias = target.hostKeyAlias ?? hostPortAlias(target.host, target.port ?? 22);
    this.logger = opts.logger ?? nullLogger;
  }

  /** Connect (retrying until `opts.timeoutMs`, default 5 min) and return the live connection. */
  static async open(target: SshTarget, opts: ConnectOptions): Promise<SshConnection> {
    parseKeyOrThrow(target);
    const conn = new SshConnection(target, opts);
    await conn.connect(opts.timeoutMs ?? 300_000);
    return conn;
  }

  private connect(timeoutMs: number): Promise<Client> {
    if (this.closed) return Promise.reject(new KilnError("ssh-closed", `SSH connection to ${this.where} was closed`));
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      this.connecting = connectWithRetry(this.target, this.opts, this.alias, timeoutMs)
        .then((client) => {
          const forget = () => {
            if (this.client === client) {
              this.client = undefined;
              this.sftpSession = undefined;
              this.logger.debug(`SSH connection to ${this.where} lost`);
            }
          };
          client.on("close", forget);
          client.on("error", (e) => {
            this.logger.debug(`SSH connection to ${this.where} error`, { error: e.message });
            forget();
          });
          if (this.closed) client.end();
          else this.client = client;
          // Counted here, once per new client, however many commands were waiting for it.
          if (this.everConnected) {
            this.reconnects++;
            this.logger.info(`reconnected to ${this.where}`);
          }
          this.everConnected = true;
          return client;
        })
        .finally(() => {
          this.connecting = undefined;
        });
    }
    return this.connecting;
  }

  /** The live client, reconnecting first if the connection dropped. */
  async ensureConnected(): Promise<Client> {
    if (this.client) return this.client;
    // Only reached after a drop: open() makes the first connection itself.
    return this.connect(this.opts.reconnectTimeoutMs ?? 60_000);
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.stream(argv, opts);
  }

  /** Like {@link run}, with stdout kept as bytes (file contents, binary-safe log offsets). */
  async runBuffer(argv: readonly string[], opts: ExecOptions = {}): Promise<BufferResult> {
    const chunks: Buffer[] = [];
    const r = await this.stream(argv, { ...opts, onStdout: (c) => chunks.push(c) }, false);
    return { code: r.code, stdout: Buffer.concat(chunks), stderr: r.stderr };
  }

  /**
   * Run argv and hand output to callbacks as it arrives (long commands). Resolves with the exit code and
   * the collected text (unless `collect` is false, then stdout is "").
   */
  async stream(argv: readonly string[], opts: StreamOptions = {}, collect = true): Promise<ExecResult> {
    const cmd = commandLine(argv, { ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }), ...(opts.env ? { env: opts.env } : {}) });
    const label = `\`${argv.join(" ")}\` on ${this.where}`;
    if (opts.signal?.aborted) throw new AbortedError(label, { cause: opts.signal.reason });
    const release = await this.slots.take(opts.signal, label);
    try {
      // A reconnect retries for up to a minute; the caller's abort must not wait for it.
      const client = this.client ?? (await unlessAborted(this.ensureConnected(), opts.signal, label));
      const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
      return await new Promise<ExecResult>((resolve, reject) => {
        let stdout = "";
        let stderr = "";
        let exit: number | undefined;
        let channel: ClientChannel | undefined;
        // Closing the channel alone leaves the remote process running until it next writes; ask sshd
        // to signal it first. Best effort: OpenSSH (≥ 7.9) honours "signal" requests only for non-root
        // logins outside ForceCommand (root sessions run without privilege separation, where sshd
        // refuses them); other servers ignore them. Long work belongs in a persistent run, which stops.
        const kill = () => {
          if (channel) sendSignal(channel, "KILL");
          channel?.close();
        };
        const { finish, settled } = settleOnce(label, timeoutMs, opts.signal, kill, reject);
        client.exec(cmd, (err, ch) => {
          if (err) {
            finish(() => reject(new KilnError("ssh-disconnected", `could not start ${label}: ${err.message}`, { cause: err })));
            return;
          }
          channel = ch;
          if (settled()) {
            ch.close();
            return;
          }
          // A stream error with no listener would crash the process; the close that follows decides.
          ch.on("error", (e: Error) => this.logger.debug(`channel error on ${this.where}`, { error: e.message }));
          ch.stderr.on("error", () => undefined);
          ch.on("data", (d: Buffer) => {
            if (collect) stdout += d.toString("utf8");
            opts.onStdout?.(d);
          });
          ch.stderr.on("data", (d: Buffer) => {
            stderr += d.toString("utf8");
            opts.onStderr?.(d);
          });
          ch.on("exit", (code: number | null, signal?: string) => {
            exit = code ?? (signal ? 128 + (SIGNALS[signal] ?? 127) : 255);
          });
          ch.on("close", () => {
            if (exit === undefined) {
              finish(() =>
                reject(
                  new KilnError("ssh-disconnected", `the SSH connection dropped while running ${label}`, {
                    details: { stdoutTail: stdout.slice(-2000), stderrTail: stderr.slice(-2000) },
                  }),
                ),
              );
            } else {
              const code = exit;
              finish(() => resolve({ code, stdout, stderr }));
            }
          });
          ch.end(opts.stdin ?? "");
        });
      });
    } finally {
      release();
    }
  }

  /** The connection's SFTP session (opened once, reopened after a reconnect). */
  async sftp(signal?: AbortSignal): Promise<SFTPWrapper> {
    const label = `SFTP on ${this.where}`;
    const client = this.client ?? (await unlessAborted(this.ensureConnected(), signal, label));
    if (!this.sftpSession) {
      const p = new Promise<SFTPWrapper>((resolve, reject) => {
        // A connection that is half gone can leave the subsystem request unanswered for good; every caller
        // after would wait on this same promise, so it gets a deadline of its own.
        const timer = setTimeout(() => reject(new KilnError("sftp-failed", `${label}: no answer to the subsystem request in ${SFTP_OPEN_TIMEOUT_MS / 1000} s`)), SFTP_OPEN_TIMEOUT_MS);
        client.sftp((err, sftp) => {
          clearTimeout(timer);
          if (err) return reject(new KilnError("sftp-failed", `${label}: ${err.message}`, { cause: err }));
          // Unlistened 'error' events would crash the process; transfers see failures via their callbacks.
          sftp.on("error", (e: Error) => this.logger.debug(`SFTP error on ${this.where}`, { error: e.message }));
          sftp.once("close", () => {
            if (this.sftpSession === p) this.sftpSession = undefined;
          });
          resolve(sftp);
        });
      });
      this.sftpSession = p;
      p.catch(() => {
        if (this.sftpSession === p) this.sftpSession = undefined;
      });
    }
    return unlessAborted(this.sftpSession, signal, label);
  }

  /** SFTP upload, resumable and sha256-verified (./sftp.ts). */
  async upload(localPath: string, remotePath: string, opts: TransferOptions = {}): Promise<TransferResult> {
    return uploadFile(this, localPath, remotePath, opts);
  }

  /** SFTP download, resumable and verified against `expected` or the remote file's sha256 (./sftp.ts). */
  async download(remotePath: string, localPath: string, opts: TransferOptions & { expected?: FileDigest } = {}): Promise<TransferResult> {
    return downloadFile(this, remotePath, localPath, opts);
  }

  /** Close for good; later commands reject with `ssh-closed`. */
  close(): void {
    this.closed = true;
    this.client?.end();
    this.client = undefined;
    this.sftpSession = undefined;
  }
}

/** Connect and return an {@link Exec} that runs argv on the machine (the connection itself). */
export async function sshExec(target: SshTarget, opts: ConnectOptions): Promise<SshConnection> {
  return SshConnection.open(target, opts);
}
