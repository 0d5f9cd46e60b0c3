/**
 * Managed recovery (docs/lifecycle.md §5): when the cloud takes a job's machine away (a spot reclaim, or a
 * machine lost), the job gets a new attempt on a new machine and resumes from its newest verified
 * checkpoint. This file holds the two decisions that are not steps: whether to recover, and in which order
 * to try the offers; and the one transfer the new machine needs, the job's saved outputs.
 *
 * Order, like SkyPilot's EAGER_NEXT_REGION: the same machine type in the other regions first (a reclaim
 * says the region is short of it), then every other allowed offer by expected cost, and the region that
 * just reclaimed the machine last.
 */
import { join, posix } from "node:path";
import { KilnError } from "../../base/errors.js";
import type { MachineAccess } from "../../remote/access.js";
import { runChecked } from "../../remote/ssh/run-checked.js";
import { localManifest, remoteManifest } from "../../remote/sync/manifest.js";
import type { AttemptState } from "../../store/index.js";
import type { CloudOffer } from "./cloud-file.js";

const sameOffer = (a: CloudOffer, b: CloudOffer) => a.provider === b.provider && a.instanceType === b.instanceType && a.region === b.region;

/** The offers for the attempt after one that ended on `last`, without the providers ruled out for the job. */
export function recoveryOrder(offers: readonly CloudOffer[], last: CloudOffer | undefined, blockedProviders: ReadonlySet<string>): CloudOffer[] {
  const allowed = offers.filter((o) => !blockedProviders.has(o.provider));
  if (!last) return allowed;
  const nextRegion = allowed.filter((o) => o.provider === last.provider && o.instanceType === last.instanceType && o.region !== last.region);
  const same = allowed.filter((o) => sameOffer(o, last));
  const rest = allowed.filter((o) => !nextRegion.includes(o) && !same.includes(o));
  return [...nextRegion, ...rest, ...same];
}

/** Why an attempt's end does (or does not) lead to another attempt. */
export function recoveryDecision(end: { state: AttemptState; machineKept: boolean }, used: number, maxRestarts: number, stopRequested: boolean): { recover: boolean; why: string } {
  if (end.state !== "preempted" && end.state !== "lost") return { recover: false, why: `the attempt ended ${end.state}` };
  if (stopRequested) return { recover: false, why: "a stop was requested" };
  // A machine kept because its outputs could not be saved still holds the only copy: a second machine
  // would bill beside it and start from older work. The user decides (`kiln down`, then `--resume`).
  if (end.machineKept) return { recover: false, why: "the machine was kept: its outputs are not saved yet" };
  if (used >= maxRestarts) return { recover: false, why: `max_restarts (${maxRestarts}) reached` };
  return { recover: true, why: `restart ${used + 1} of at most ${maxRestarts}` };
}

/**
 * Put the job's saved outputs (pulled and manifest-verified by the periodic syncs: checkpoints, metrics,
 * anything the engine wrote) on the new machine, where the engine looks for them (`resume_from: auto`
 * takes the newest valid checkpoint in its output dir). Each file is sha256-verified on upload, then the
 * whole directory is checked against the local manifest. Returns the files and bytes restored.
 */
export async function restoreOutputs(conn: MachineAccess, localDir: string, remoteDir: string, signal: AbortSignal): Promise<{ files: number; bytes: number }> {
  const local = await localManifest(localDir).catch(() => []);
  if (local.length === 0) return { files: 0, bytes: 0 };
  await runChecked(conn, ["mkdir", "-p", "--", remoteDir], { what: "create the outputs directory" });
  let bytes = 0;
  for (const f of local) {
    await conn.upload(join(localDir, ...f.path.split("/")), posix.join(remoteDir, f.path), { signal });
    bytes += f.size;
  }
  const there = new Map((await remoteManifest(conn, remoteDir, { signal })).map((e) => [e.path, e.sha256]));
  const wrong = local.filter((f) => there.get(f.path) !== f.sha256);
  if (wrong.length > 0) throw new KilnError("restore_unverified", `the job's outputs did not arrive intact on ${conn.where}: ${wrong.map((f) => f.path).join(", ")}`);
  return { files: local.length, bytes };
}
