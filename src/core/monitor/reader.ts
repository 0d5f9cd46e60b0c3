/**
 * Incremental reader for metrics.jsonl: remembers its byte offset, returns only complete new lines
 * (a trailing line without "\n" is still being written and is re-read next time), and reports bad
 * lines instead of throwing — one corrupt line must not blind the monitor to the rest.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { type MetricLine, parseMetricLine } from "./metrics.js";

export interface ReadBatch {
  lines: MetricLine[];
  invalid: { lineNo: number; error: string }[];
}

export class MetricsReader {
  private offset = 0;
  private lineNo = 0;

  constructor(readonly path: string) {}

  /** Read what was appended since the last call. A missing file is an empty batch (not started yet). */
  read(): ReadBatch {
    const out: ReadBatch = { lines: [], invalid: [] };
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return out;
    }
    try {
      const size = fstatSync(fd).size;
      // The file was replaced by a shorter one (a fresh output dir): start over.
      if (size < this.offset) {
        this.offset = 0;
        this.lineNo = 0;
      }
      if (size === this.offset) return out;
      const buf = Buffer.alloc(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      const chunk = buf.subarray(0, n);
      const lastNl = chunk.lastIndexOf(0x0a);
      if (lastNl < 0) return out;
      this.offset += lastNl + 1;
      for (const text of chunk.subarray(0, lastNl).toString("utf8").split("\n")) {
        this.lineNo++;
        if (text.trim() === "") continue;
        const r = parseMetricLine(text);
        if (r.ok) out.lines.push(r.line);
        else out.invalid.push({ lineNo: this.lineNo, error: r.error });
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }
}
