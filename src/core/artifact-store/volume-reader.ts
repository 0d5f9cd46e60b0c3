/**
 * Reading a provider volume's copy (a Lambda file system) through a machine that mounts it: the volume is
 * not reachable from this computer, only from a machine in its region launched with it attached (the
 * retrieval machine, src/core/reconcile/volume-retrieval.ts). Each object is a file under the mount,
 * streamed over SFTP; ./durable-copy.ts hashes and checks it against the manifest as for any store.
 */
import type { Readable } from "node:stream";
import { z } from "zod";
import type { SshConnection } from "../../remote/ssh/connection.js";
import type { ObjectReader } from "./durable-copy.js";

const SimMounts = z.record(z.string(), z.string());

/**
 * Where `mountPoint` is on the machine. On Lambda it is the mount point itself; Kiln's emulated machines
 * (loopback sshd's on this computer) say in `KILN_SIM_MOUNTS` which directory stands for it
 * (src/providers/lambda/emulator/fs-contents.ts). A malformed value is ignored: the real path is tried.
 */
export async function mountedPath(conn: SshConnection, mountPoint: string): Promise<string> {
  // printenv exits 1 when the variable is unset: a real Lambda machine, where the mount point is the path.
  const r = await conn.runBuffer(["printenv", "KILN_SIM_MOUNTS"]);
  const text = r.stdout.toString("utf8").trim();
  if (r.code !== 0 || text === "") return mountPoint;
  try {
    const m = SimMounts.safeParse(JSON.parse(text));
    return (m.success && m.data[mountPoint]) || mountPoint;
  } catch {
    return mountPoint;
  }
}

/** An ObjectReader over the files under `root` on the machine (keys are `/`-separated paths below it). */
export function sshVolumeReader(conn: SshConnection, root: string): ObjectReader {
  return {
    async open(key): Promise<Readable | undefined> {
      const sftp = await conn.sftp();
      const path = `${root.replace(/\/$/, "")}/${key}`;
      const exists = await new Promise<boolean>((resolve) => sftp.stat(path, (err) => resolve(!err)));
      return exists ? sftp.createReadStream(path) : undefined;
    },
    close() {
      // The connection is the caller's: it closes it after the fetch.
    },
  };
}
