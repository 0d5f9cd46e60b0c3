/**
 * File transfer over SFTP that survives interruptions and never leaves a wrong file in place.
 *
 * - Resumable: data goes to `<dest>.kiln-part`; a later call continues from the partial's size.
 * - Verified: the finished partial is hashed where it landed (`sha256sum` over Exec on the machine, or
 *   locally) and compared with the source's sha256 before it is renamed into place. A resumed transfer
 *   whose result does not match starts over once from byte 0 (the old partial may have been stale).
 * - Atomic locally: fsync, then rename, then fsync the directory; the destination name only ever holds
 *   a complete, verified file.
 *
 * @example
 *   await uploadFile(conn, "bundle.tar.gz", "kiln/bundle.tar.gz", { signal });
 *   await downloadFile(conn, "kiln/out/sae.safetensors", join(dir, "sae.safetensors"), { expected: { size, sha256 } });
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, posix } from "node:path";
import { pipeline } from "node:stream/promises";
import type { SFTPWrapper } from "ssh2";
import { unlessAborted } from "../../base/deadline.js";
import { AbortedError, KilnError } from "../../base/errors.js";
import type { FileDigest, TransferOptions, TransferResult } from "../access.js";
import type { SshConnection } from "./connection.js";
import { runChecked } from "./run-checked.js";
import { pipelinedDownload, pipelinedUpload } from "./sftp-pipeline.js";

export const PART_SUFFIX = ".kiln-part";

export type { FileDigest, TransferOptions, TransferResult } from "../access.js";

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), h);
  return h.digest("hex");
}

/** sha256 of a file on the machine, via `sha256sum`. */
export async function remoteSha256(conn: SshConnection, path: string, signal?: AbortSignal, timeoutMs = 600_000): Promise<string> {
  const r = await runChecked(conn, ["sha256sum", "--", path], { what: "hash a remote file", timeoutMs, ...(signal ? { signal } : {}) });
  const m = /^\\?([0-9a-f]{64})\s/.exec(r.stdout);
  if (!m?.[1]) throw new KilnError("remote-output-unparsable", `sha256sum printed something unexpected on ${conn.where}: ${r.stdout.slice(0, 200)}`);
  return m[1];
}

/**
 * The size of a file on the machine, or undefined if there is none. Quirk: ssh2 can leave an SFTP request's
 * callback uncalled when the connection drops under it, so the wait ends on `signal` whatever ssh2 does.
 */
function sftpSize(sftp: SFTPWrapper, path: string, signal?: AbortSignal): Promise<number | undefined> {
  const asked = new Promise<number | undefined>((resolve, reject) => {
    sftp.stat(path, (err, st) => {
      if (!err) return resolve(st.size);
      // SFTP status 2 = SSH_FX_NO_SUCH_FILE.
      if ((err as { code?: unknown }).code === 2) return resolve(undefined);
      reject(err);
    });
  });
  return unlessAborted(asked, signal, `SFTP stat of ${path}`);
}

function counter(onProgress?: (n: number) => void): { add: (n: number) => void; bytes: () => number } {
  let total = 0;
  return {
    add: (n) => {
      total += n;
      onProgress?.(total);
    },
    bytes: () => total,
  };
}

function wrapTransferError(e: unknown, what: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return new AbortedError(what, { cause: signal.reason });
  if (e instanceof KilnError) return e;
  return new KilnError("transfer-interrupted", `${what} was interrupted: ${(e as Error).message}; run it again to resume`, { cause: e });
}

/** Upload `localPath` to `remotePath` (relative paths start in the remote home), resumable and verified. */
export async function uploadFile(conn: SshConnection, localPath: string, remotePath: string, opts: TransferOptions = {}, retried = false): Promise<TransferResult> {
  const what = `upload of ${localPath} to ${conn.where}:${remotePath}`;
  const size = (await stat(localPath)).size;
  const sha256 = await sha256File(localPath);
  const part = `${remotePath}${PART_SUFFIX}`;
  await runChecked(conn, ["mkdir", "-p", "--", posix.dirname(remotePath)], { what: "create the remote directory" });
  const sftp = await conn.sftp(opts.signal);
  let offset = retried ? 0 : ((await sftpSize(sftp, part, opts.signal)) ?? 0);
  if (offset > size) offset = 0;
  const count = counter(opts.onProgress);
  if (offset < size || offset === 0) {
    const fh = await open(localPath, "r");
    try {
      await pipelinedUpload(sftp, fh, part, offset, size, { onBytes: count.add, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
      throw wrapTransferError(e, what, opts.signal);
    } finally {
      await fh.close();
    }
  }
  const got = await remoteSha256(conn, part, opts.signal);
  if (got !== sha256) {
    if (offset > 0 && !retried) return uploadFile(conn, localPath, remotePath, opts, true);
    await conn.run(["rm", "-f", "--", part]);
    throw new KilnError("upload-corrupt", `${what}: the remote copy's sha256 ${got} does not match ${sha256}`, { details: { expected: sha256, got, size } });
  }
  await runChecked(conn, ["mv", "-f", "--", part, remotePath], { what: "move the uploaded file into place" });
  return { bytes: count.bytes(), resumedFrom: offset, sha256, size };
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function localSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * Download `remotePath` to `localPath`, resumable and verified against `expected` (from a manifest) or,
 * without it, against the remote file's size and sha256 computed now.
 */
export async function downloadFile(
  conn: SshConnection,
  remotePath: string,
  localPath: string,
  opts: TransferOptions & { expected?: FileDigest } = {},
  retried = false,
): Promise<TransferResult> {
  const what = `download of ${conn.where}:${remotePath}`;
  const sftp = await conn.sftp(opts.signal);
  let expected = opts.expected;
  if (!expected) {
    const size = await sftpSize(sftp, remotePath, opts.signal);
    if (size === undefined) throw new KilnError("remote-file-missing", `${what}: no such file on the machine`);
    expected = { size, sha256: await remoteSha256(conn, remotePath, opts.signal) };
  }
  const part = `${localPath}${PART_SUFFIX}`;
  await mkdir(dirname(localPath), { recursive: true });
  let offset = retried ? 0 : ((await localSize(part)) ?? 0);
  if (offset > expected.size) offset = 0;
  const count = counter(opts.onProgress);
  const fh = await open(part, offset > 0 ? "r+" : "w");
  try {
    await pipelinedDownload(sftp, remotePath, fh, offset, expected.size, { onBytes: count.add, ...(opts.signal ? { signal: opts.signal } : {}) });
    await fh.sync();
  } catch (e) {
    throw wrapTransferError(e, what, opts.signal);
  } finally {
    await fh.close();
  }
  const got = await sha256File(part);
  if (got !== expected.sha256) {
    await rm(part, { force: true });
    if (offset > 0 && !retried) return downloadFile(conn, remotePath, localPath, opts, true);
    throw new KilnError("download-corrupt", `${what}: the local copy's sha256 ${got} does not match the machine's ${expected.sha256}`, {
      details: { remotePath, localPath, expected: expected.sha256, got, size: expected.size },
    });
  }
  await rename(part, localPath);
  await fsyncPath(dirname(localPath));
  return { bytes: count.bytes(), resumedFrom: offset, sha256: got, size: expected.size };
}
