/**
 * Following a set of growing files on the machine (a job's step logs, its metrics files) by byte
 * offset, for `kiln logs JOB -f` on a remote job.
 *
 * Each read lists the matching files with their sizes (one command), then fetches only the bytes past
 * each file's offset. An offset moves only after its bytes arrived, so when the connection drops mid-read
 * the read is asked again on the reconnected connection from the same offsets: no gaps, no duplicates.
 * Files appear in a fixed order (the `order` given, then first seen), with a `==> label <==` header
 * whenever the output switches file, as `tail -f` with several files and the local `kiln logs` print.
 *
 * @example
 *   const tail = new RemoteFilesTail(conn, { dir: "/home/u/kiln/jobs/J/job", patterns: ["logs/*.log"], order: ["train.log", "probe.log"] });
 *   io.out(await tail.read(signal)); // new text since the last read, with headers
 */
import { KilnError } from "../../base/errors.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import type { MachineAccess } from "../access.js";
import { readFrom } from "./log-follow.js";

export interface RemoteFilesTailOptions {
  /** Directory the patterns are relative to. */
  dir: string;
  /** Shell glob patterns relative to `dir` (our own constants; expanded by the remote shell). */
  patterns: readonly string[];
  /** Labels to print first, in this order (e.g. the job's steps); others follow in the order first seen. */
  order?: readonly string[];
  /** Largest chunk fetched per command. */
  maxChunkBytes?: number;
  /** Dropped connections tolerated within one read (each waits for the reconnect). */
  maxDisconnects?: number;
  logger?: Logger;
}

// Prints "SIZE PATH" per existing file matching the patterns; nothing when the directory is not there yet.
// `$p` is left unquoted on purpose: it is one of our glob constants and must expand.
const LIST_SCRIPT = 'cd "$1" 2>/dev/null || exit 0; shift; for p in "$@"; do for f in $p; do [ -f "$f" ] && printf "%s %s\\n" "$(wc -c < "$f")" "$f"; done; done; exit 0';

/** `logs/train.log` → `train.log`; `outputs/sae/metrics.jsonl` → `sae/metrics.jsonl`. */
export const labelOf = (path: string): string => path.replace(/^[^/]+\//, "");

export class RemoteFilesTail {
  private readonly offsets = new Map<string, number>();
  private readonly seen: string[] = [];
  private lastLabel: string | undefined;

  constructor(
    private readonly conn: MachineAccess,
    private readonly o: RemoteFilesTailOptions,
  ) {}

  /** Bytes printed so far per file (by path relative to `dir`). */
  get positions(): ReadonlyMap<string, number> {
    return this.offsets;
  }

  /** Everything new since the last read, with headers; "" when nothing changed. */
  async read(signal?: AbortSignal): Promise<string> {
    const max = this.o.maxChunkBytes ?? 1 << 20;
    const sizes = await this.retrying(() => this.list(signal));
    const rank = (p: string) => {
      const i = this.o.order?.indexOf(labelOf(p)) ?? -1;
      return i >= 0 ? i : (this.o.order?.length ?? 0) + this.seen.indexOf(p);
    };
    for (const p of [...sizes.keys()].sort()) if (!this.seen.includes(p)) this.seen.push(p);
    let out = "";
    for (const path of [...sizes.keys()].sort((a, b) => rank(a) - rank(b))) {
      let from = this.offsets.get(path) ?? 0;
      while (from < sizes.get(path)!) {
        const chunk = await this.retrying(() => readFrom(this.conn, `${this.o.dir}/${path}`, from, max, signal));
        if (chunk.length === 0) break;
        out += this.emit(path, chunk);
        from += chunk.length;
        this.offsets.set(path, from);
      }
    }
    return out;
  }

  /**
   * Continue from a local copy of the same files (pulled from the machine before its directory went):
   * the bytes past each offset, as {@link read} would have printed them.
   */
  catchUp(localCopy: (path: string) => Buffer | undefined): string {
    let out = "";
    for (const path of this.seen) {
      const from = this.offsets.get(path) ?? 0;
      const copy = localCopy(path);
      if (!copy || copy.length <= from) continue;
      out += this.emit(path, copy.subarray(from));
      this.offsets.set(path, copy.length);
    }
    return out;
  }

  /** `bytes` of `path` as printed: a header first when the output switches file. */
  private emit(path: string, bytes: Buffer): string {
    const label = labelOf(path);
    const header = this.lastLabel === label ? "" : `==> ${label} <==\n`;
    this.lastLabel = label;
    return header + bytes.toString("utf8");
  }

  private async list(signal?: AbortSignal): Promise<Map<string, number>> {
    const r = await this.conn.run(["sh", "-c", LIST_SCRIPT, "sh", this.o.dir, ...this.o.patterns], { timeoutMs: 60_000, ...(signal && { signal }) });
    if (r.code !== 0) throw new KilnError("remote-command-failed", `listing ${this.o.dir} on ${this.conn.where} failed (exit ${r.code}): ${r.stderr.slice(-300)}`);
    const sizes = new Map<string, number>();
    for (const line of r.stdout.split("\n")) {
      const m = /^\s*(\d+) (.+)$/.exec(line);
      if (m) sizes.set(m[2]!, Number(m[1]));
    }
    return sizes;
  }

  /** A command that died with the connection changed nothing we keep: ask again on the reconnected one. */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let drops = 0; ; drops++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof KilnError && e.code === "ssh-disconnected") || drops >= (this.o.maxDisconnects ?? 10)) throw e;
        (this.o.logger ?? nullLogger).debug(`following ${this.o.dir}: connection dropped, reading again from the same offsets`);
      }
    }
  }
}
