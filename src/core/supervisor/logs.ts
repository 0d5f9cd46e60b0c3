/** The last lines of a step's log, attached to the failure it explains (a bare exit code helps no one). */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export function tailLines(path: string, lines = 20, maxBytes = 16_384): string[] {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const all = buf.toString("utf8").split("\n");
    if (all.at(-1) === "") all.pop();
    return all.slice(-lines);
  } finally {
    closeSync(fd);
  }
}
