/**
 * Following a file that grows on the machine (the run's output log, metrics.jsonl), by byte offset.
 *
 * Each poll asks for the bytes from the current offset (`tail -c +N | head -c MAX`), so after a dropped
 * connection the next poll (on the reconnected connection) continues exactly where the last
 * successful one ended: no gaps, no duplicates. Callers persist `offset` to resume across Kiln runs.
 *
 * @example
 *   const lines = new LineSplitter();
 *   for await (const chunk of followLog(conn, "kiln/run/metrics.jsonl", { fromOffset: saved, isDone })) {
 *     for (const line of lines.push(chunk.data)) onMetric(JSON.parse(line));
 *     saved = chunk.offset + chunk.data.length;
 *   }
 */
import { sleep } from "../../base/deadline.js";
import { KilnError } from "../../base/errors.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import type { MachineAccess } from "../access.js";

export interface LogChunk {
  /** Byte offset of `data[0]` in the file. */
  offset: number;
  data: Buffer;
}

export interface FollowOptions {
  fromOffset?: number;
  pollMs?: number;
  /** Largest chunk fetched per poll. */
  maxChunkBytes?: number;
  signal?: AbortSignal;
  /**
   * Asked when a poll finds nothing new; when it resolves true, the file is drained once more and the
   * iteration ends (e.g. "the run has exited"). Without it, following ends only on abort or `break`.
   */
  isDone?: () => Promise<boolean>;
  /** How many consecutive dropped polls to tolerate (each waits for the reconnect). */
  maxDisconnects?: number;
  logger?: Logger;
}

const READ_SCRIPT = '[ -f "$1" ] || exit 3; tail -c +"$2" -- "$1" | head -c "$3"';

/** The bytes of `path` from `offset` (at most `max`); empty when the file does not exist yet. */
export async function readFrom(conn: MachineAccess, path: string, offset: number, max: number, signal?: AbortSignal): Promise<Buffer> {
  const r = await conn.runBuffer(["sh", "-c", READ_SCRIPT, "sh", path, String(offset + 1), String(max)], { timeoutMs: 60_000, ...(signal ? { signal } : {}) });
  if (r.code === 3) return Buffer.alloc(0);
  if (r.code !== 0) throw new KilnError("remote-command-failed", `reading ${path} on ${conn.where} failed (exit ${r.code}): ${r.stderr.slice(-500)}`);
  return r.stdout;
}

export async function* followLog(conn: MachineAccess, path: string, opts: FollowOptions = {}): AsyncGenerator<LogChunk> {
  const logger = opts.logger ?? nullLogger;
  const max = opts.maxChunkBytes ?? 1 << 20;
  const pollMs = opts.pollMs ?? 1000;
  let offset = opts.fromOffset ?? 0;
  let drops = 0;
  let draining = false;
  for (;;) {
    let data: Buffer;
    try {
      data = await readFrom(conn, path, offset, max, opts.signal);
      drops = 0;
    } catch (e) {
      // A poll that died with the connection read nothing we kept; the same offset is asked again.
      if (e instanceof KilnError && e.code === "ssh-disconnected" && drops < (opts.maxDisconnects ?? 10)) {
        drops++;
        logger.debug(`following ${path}: connection dropped, resuming at byte ${offset}`);
        continue;
      }
      throw e;
    }
    if (data.length > 0) {
      yield { offset, data };
      offset += data.length;
      if (data.length === max) continue;
    }
    if (draining) return;
    if (data.length === 0 && opts.isDone && (await opts.isDone())) {
      draining = true;
      continue;
    }
    await sleep(pollMs, opts.signal);
  }
}

/** Split a byte stream into complete UTF-8 lines, holding back a trailing partial line. */
export class LineSplitter {
  private rest = Buffer.alloc(0);
  push(chunk: Buffer): string[] {
    const buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    const lines: string[] = [];
    let start = 0;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, start)) {
      lines.push(buf.subarray(start, i).toString("utf8"));
      start = i + 1;
    }
    this.rest = Buffer.from(buf.subarray(start));
    return lines;
  }
  /** The unterminated tail, if any (call when the stream has ended). */
  flush(): string | undefined {
    if (this.rest.length === 0) return undefined;
    const s = this.rest.toString("utf8");
    this.rest = Buffer.alloc(0);
    return s;
  }
}
