/**
 * Pipelined SFTP reads and writes: keep `depth` requests in flight instead of one, which is what makes
 * SFTP fast on any link with latency (ssh2's read/write streams wait for each reply; on a loaded
 * 2-core machine even loopback ran at 8-15 MB/s that way).
 *
 * Both directions keep the destination a contiguous prefix of the source at every moment, so an
 * interrupted transfer can be resumed from the destination's size: downloads write completed chunks
 * to the local file strictly in order; uploads issue writes in order on one channel, and the SFTP
 * server (OpenSSH's sftp-server) executes requests in the order received.
 */
import type { FileHandle } from "node:fs/promises";
import type { OpenMode, SFTPWrapper } from "ssh2";
import { AbortedError } from "../../base/errors.js";

export interface PipelineOptions {
  chunkBytes?: number;
  depth?: number;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

const CHUNK = 64 * 1024; // OpenSSH accepts up to 256 KiB; short replies are re-requested (see redo)
const DEPTH = 32;

function openRemote(sftp: SFTPWrapper, path: string, flags: OpenMode): Promise<Buffer> {
  return new Promise((resolve, reject) => sftp.open(path, flags, (err, h) => (err ? reject(err) : resolve(h))));
}

/** Close the remote handle; never waits on a session that is gone (its callback would never come). */
function closeRemote(sftp: SFTPWrapper, handle: Buffer, sessionClosed: boolean): Promise<void> {
  if (sessionClosed) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 5000);
    sftp.close(handle, () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * When the connection drops, ssh2 does not call back requests that are in flight: watch the session
 * and fail the transfer ourselves, or it would wait forever.
 */
function watchSession(sftp: SFTPWrapper, ctl: { fail?: (e: unknown) => void }): { closed: () => boolean; stop: () => void } {
  let closed = false;
  const onClose = () => {
    closed = true;
    ctl.fail?.(new Error("the SFTP session closed (connection lost)"));
  };
  sftp.once("close", onClose);
  return { closed: () => closed, stop: () => sftp.removeListener("close", onClose) };
}

/** Run a windowed transfer; `issue(pos, len, done)` starts one request. */
function windowed(
  start: number,
  end: number,
  opts: PipelineOptions,
  issue: (pos: number, len: number, done: (err: Error | undefined, n: number) => void) => void,
  onComplete: (pos: number, n: number) => void,
  canIssue: () => boolean,
  allDone: () => Promise<void>,
  ctl: { pump?: () => void; fail?: (e: unknown) => void } = {},
): Promise<void> {
  const chunk = opts.chunkBytes ?? CHUNK;
  const depth = opts.depth ?? DEPTH;
  return new Promise<void>((resolve, reject) => {
    let next = start;
    let inflight = 0;
    let failed = false;
    let finishing = false;
    const redo: [number, number][] = [];
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      opts.signal?.removeEventListener("abort", onAbort);
      reject(e);
    };
    const onAbort = () => fail(new AbortedError("SFTP transfer", { cause: opts.signal?.reason }));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const pump = () => {
      if (failed) return;
      while (inflight < depth && canIssue() && (redo.length > 0 || next < end)) {
        const [pos, len] = redo.shift() ?? [next, Math.min(chunk, end - next)];
        if (pos === next) next += len;
        inflight++;
        issue(pos, len, (err, n) => {
          inflight--;
          if (failed) return;
          if (err) return fail(err);
          if (n === 0) return fail(new Error(`unexpected end of file at byte ${pos} (the file changed during the transfer)`));
          // A short read/write: ask again for the rest.
          if (n < len) redo.push([pos + n, len - n]);
          onComplete(pos, n);
          pump();
        });
      }
      if (inflight === 0 && next >= end && redo.length === 0 && !finishing) {
        finishing = true;
        allDone().then(() => {
          opts.signal?.removeEventListener("abort", onAbort);
          if (!failed) resolve();
        }, fail);
      }
    };
    // Callers re-pump when room frees up outside a request's completion (a local write finished).
    ctl.pump = pump;
    ctl.fail = fail;
    pump();
  });
}

/** Copy remote bytes [start, end) into `fh` at the same offsets, in order. */
export async function pipelinedDownload(sftp: SFTPWrapper, remotePath: string, fh: FileHandle, start: number, end: number, opts: PipelineOptions = {}): Promise<void> {
  if (end <= start) return;
  const handle = await openRemote(sftp, remotePath, "r");
  const window = (opts.chunkBytes ?? CHUNK) * (opts.depth ?? DEPTH) * 2;
  const ready = new Map<number, Buffer>();
  const buffers = new Map<number, Buffer>();
  let written = start;
  let queued = start;
  let writing: Promise<void> = Promise.resolve();
  let writeError: unknown;
  const ctl: { pump?: () => void; fail?: (e: unknown) => void } = {};
  const session = watchSession(sftp, ctl);
  try {
    await windowed(
      start,
      end,
      opts,
      (pos, len, done) => {
        const buf = Buffer.allocUnsafe(len);
        buffers.set(pos, buf);
        sftp.read(handle, buf, 0, len, pos, (err, n) => done(err ?? undefined, n));
      },
      (pos, n) => {
        const buf = buffers.get(pos);
        buffers.delete(pos);
        if (buf) ready.set(pos, buf.subarray(0, n));
        for (let b = ready.get(queued); b; b = ready.get(queued)) {
          ready.delete(queued);
          const at = queued;
          queued += b.length;
          const chunk = b;
          writing = writing.then(async () => {
            await fh.write(chunk, 0, chunk.length, at);
            written = at + chunk.length;
            opts.onBytes?.(chunk.length);
            ctl.pump?.();
          });
          writing.catch((e: unknown) => {
            writeError = e;
            ctl.fail?.(e);
          });
        }
      },
      // Bound memory: do not read more than a window ahead of what is on disk.
      () => writeError === undefined && queued - written + ready.size * (opts.chunkBytes ?? CHUNK) < window,
      async () => {
        await writing;
        if (writeError) throw writeError;
      },
      ctl,
    );
  } finally {
    session.stop();
    await closeRemote(sftp, handle, session.closed());
    // Let queued local writes settle before the caller closes the file.
    await writing.catch(() => undefined);
  }
}

/** Copy local bytes [start, end) of `fh` to the remote file at the same offsets. */
export async function pipelinedUpload(sftp: SFTPWrapper, fh: FileHandle, remotePath: string, start: number, end: number, opts: PipelineOptions = {}): Promise<void> {
  // "r+" keeps a resumed partial; a fresh upload truncates ("w").
  const handle = await openRemote(sftp, remotePath, start > 0 ? "r+" : "w");
  const ctl: { pump?: () => void; fail?: (e: unknown) => void } = {};
  const session = watchSession(sftp, ctl);
  // Local reads finish in any order (libuv's thread pool), so chain them: each write is sent only
  // after every earlier one, which keeps the remote partial a contiguous prefix at all times. Issuing
  // writes as reads completed left holes after an interruption, and the resume then failed its hash.
  let order: Promise<void> = Promise.resolve();
  try {
    if (end <= start) return;
    await windowed(
      start,
      end,
      opts,
      (pos, len, done) => {
        const buf = Buffer.allocUnsafe(len);
        order = order.then(() =>
          fh.read(buf, 0, len, pos).then(
            ({ bytesRead }) => {
              if (bytesRead === 0) return done(undefined, 0);
              sftp.write(handle, buf, 0, bytesRead, pos, (err) => done(err ?? undefined, bytesRead));
            },
            (e: Error) => done(e, 0),
          ),
        );
      },
      (_pos, n) => opts.onBytes?.(n),
      () => true,
      async () => undefined,
      ctl,
    );
  } finally {
    session.stop();
    await closeRemote(sftp, handle, session.closed());
  }
}
