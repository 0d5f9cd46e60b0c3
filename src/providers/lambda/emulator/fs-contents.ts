/**
 * What the emulated file systems hold: one directory on this computer per file system, which outlives every
 * instance it is attached to (as a Lambda file system outlives its instances). An emulated instance launched
 * with `file_system_names` sees each at Lambda's mount point, `/lambda/nfs/<name>`: its machine (a loopback
 * sshd, ../../../remote/ssh/loopback-sshd.ts) is this computer, where that path cannot be made per-machine
 * without root, so the machine gets `KILN_SIM_MOUNTS` (JSON, mount point → directory) in its environment and
 * Kiln's machine-side code (workload/kiln_sae/store_push.py) resolves the mount point through it. A machine
 * launched without the file system gets no entry, so it cannot see it, as on Lambda.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FileSystemRecord, LambdaAccount } from "./account.js";

/** Lambda's mount point for a file system attached at launch. */
export const mountPointOf = (name: string): string => `/lambda/nfs/${name}`;

export class FileSystemContents {
  #root: string | undefined;
  readonly #owned: boolean;

  /** `root`: where the directories go (the caller removes it); default: a temp dir removed by {@link close}. */
  constructor(root?: string) {
    this.#root = root;
    this.#owned = root === undefined;
  }

  /** The file system's directory (created on first use), keyed by id so a deleted and re-created name starts empty. */
  dirOf(fs: FileSystemRecord): string {
    this.#root ??= mkdtempSync(join(tmpdir(), "kiln-lambda-fs-"));
    const dir = join(this.#root, fs.id);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Mount point → directory for each file system the instance was launched with. */
  mountsOf(account: LambdaAccount, instanceId: string): Record<string, string> {
    const i = account.instances.get(instanceId);
    const out: Record<string, string> = {};
    for (const name of i?.fileSystemNames ?? []) {
      const fs = account.fileSystems.find((f) => f.name === name);
      if (fs) out[mountPointOf(name)] = this.dirOf(fs);
    }
    return out;
  }

  close(): void {
    if (this.#owned && this.#root !== undefined) rmSync(this.#root, { recursive: true, force: true });
    this.#root = undefined;
  }
}
