/**
 * How Kiln reaches into a machine it runs a job on: run a command, move files both ways, read a file from
 * a byte offset (the tail behind `kiln logs -f` and the metrics the monitor reads). The lifecycle's steps
 * (verify, ship, restore, start, monitor, pull) and the sync and session helpers take this interface,
 * never a transport: SSH implements it now (./ssh/connection.ts: exec over the channel, SFTP transfers);
 * a Kubernetes pod would implement it with `pods/exec` and tar streams, with no change to the steps.
 *
 * Contract, for every implementation:
 * - `run` is {@link Exec}'s: argv arrays, never shell strings built from values; a non-zero exit is data.
 * - `runBuffer` is `run` with stdout as bytes (binary-safe: logs and metrics are read by byte offset).
 * - `upload` and `download` are resumable where the transport allows and always verified: they resolve
 *   only when the destination's size and sha256 equal the source's (`expected` for a download, from a
 *   manifest, saves hashing on the machine), and never leave a half-written file under the final name.
 * - `close` ends the transport; nothing on the machine depends on it staying open (runs are detached).
 */
import type { Exec, ExecOptions } from "./exec.js";

export interface TransferOptions {
  signal?: AbortSignal;
  /** Called with bytes transferred so far in this call (resumed bytes not included). */
  onProgress?: (bytes: number) => void;
}

export interface TransferResult {
  /** Bytes moved by this call. */
  bytes: number;
  /** Where this call started (0 unless a partial was resumed). */
  resumedFrom: number;
  sha256: string;
  size: number;
}

export interface FileDigest {
  size: number;
  sha256: string;
}

export interface BufferResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface MachineAccess extends Exec {
  /** How the machine's identity is pinned (an SSH host-key alias), for `kiln ssh` to reuse. */
  readonly alias: string;
  runBuffer(argv: readonly string[], opts?: ExecOptions): Promise<BufferResult>;
  upload(localPath: string, remotePath: string, opts?: TransferOptions): Promise<TransferResult>;
  download(remotePath: string, localPath: string, opts?: TransferOptions & { expected?: FileDigest }): Promise<TransferResult>;
  close(): void;
}
