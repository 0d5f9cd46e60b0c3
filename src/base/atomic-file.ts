/**
 * Whole-file writes that a reader never sees half done: the data goes to a temporary file beside the target
 * (same directory, so the rename stays on one file system) and is renamed over it.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  // The pid keeps two writers of the same file (a driver and `kiln report`) off each other's temporary file.
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
