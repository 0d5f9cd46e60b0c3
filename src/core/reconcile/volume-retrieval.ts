/**
 * Getting a job's outputs back from a provider volume (a Lambda file system) after the watchdog pushed them
 * there and ended billing at the cap with no client. The file system is readable only from a Lambda
 * machine in its region, so Kiln launches the cheapest one there with it attached (the "retrieval
 * machine"), reads the job's copy through it over SFTP, each file sha256-checked against the copy's
 * manifest (./../artifact-store/durable-copy.ts), then terminates it and confirms the termination.
 *
 * Every lifecycle guarantee of a job's own machines holds, because it is one of the job's machines: its
 * intent is in the ledger before the launch call (launchWithFailover), it is charged to the job (the
 * budget counts its minutes; `kiln plan` says a retrieval machine may be needed), the termination is
 * confirmed or reported loudly as "may still be billing", and a client that dies mid-retrieval leaves an
 * open machine of a driverless job, which the next reconciliation terminates.
 */
import { deadlineSignal } from "../../base/deadline.js";
import { KilnError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { Provider, SupportsVolumes } from "../../providers/provider.js";
import type { SshConnection } from "../../remote/ssh/connection.js";
import { privateKeyFor } from "../../remote/ssh/keys.js";
import type { Manifest } from "../../remote/sync/manifest.js";
import type { JobRecord, Ledger } from "../../store/index.js";
import type { VolumeLocation } from "../artifact-store/location.js";
import type { KilnPaths } from "../home.js";
import { readCloudFile } from "../lifecycle/cloud-file.js";
import { launchWithFailover } from "../lifecycle/launch.js";
import { connectMachine, waitUntilRunning } from "../lifecycle/machine.js";
import { sshKeyNameFor } from "../lifecycle/ssh-key-name.js";
import { TERMINATE_DEFAULTS, terminateAndConfirm } from "../lifecycle/teardown.js";

/** The cheapest machines tried, in order, when one has no capacity. */
const MAX_OFFERS = 3;
const BOOT_TIMEOUT_MS = 20 * 60_000;

export interface VolumeRetrievalOptions {
  job: JobRecord;
  location: VolumeLocation;
  provider: Provider & SupportsVolumes;
  ledger: Ledger;
  paths: KilnPaths;
  localDir: string;
  logger: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  /** How long a launched machine may be missing from the provider's listing (the descriptor's listingLagMs). */
  listingLagMs: number;
  terminate?: { pollMs: number; timeoutMs: number };
}

/**
 * Fetch the job's copy from the volume into `localDir` through a retrieval machine, and terminate it.
 * Throws `artifacts-unverified` when the copy is missing or corrupt (the files already fetched stay), and
 * `termination_unconfirmed` when the retrieval machine would not die (its alert names it).
 *
 * @example
 *   const got = await retrieveFromVolume({ job, location, provider, ledger, paths, localDir: layout.outputs, logger, signal, env, listingLagMs: 0 });
 */
export async function retrieveFromVolume(o: VolumeRetrievalOptions): Promise<{ manifest: Manifest; bytes: number; machine: string }> {
  const { location: l } = o;
  const fs = (await o.provider.listVolumes(o.signal)).find((v) => v.name === l.volume);
  if (!fs) throw new KilnError("artifacts-unverified", `the Lambda file system ${l.volume} no longer exists, so ${l.url} is gone`);
  const offers = (await o.provider.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never", regions: [fs.region] }, o.signal))
    .filter((x) => x.region === fs.region && x.available !== false)
    .sort((a, b) => a.pricePerHour - b.pricePerHour)
    .slice(0, MAX_OFFERS);
  if (offers.length === 0) throw new KilnError("no_capacity", `no ${o.provider.name} machine is available in ${fs.region} to read ${l.url} through; try again later (\`kiln status --refresh\`)`);
  const c = readCloudFile(o.job.job_dir);
  if (!c) throw new KilnError("no_cloud_file", `job ${o.job.id} has no cloud.json: its SSH key is unknown`);
  const key = privateKeyFor(o.paths.keys, c.keyPath, c.specDir);
  // The job's latest attempt owns the machine: its cost is the job's, like every machine of the job.
  const attempt = o.ledger.listAttempts(o.job.id).at(-1);
  if (!attempt) throw new KilnError("no_attempt", `job ${o.job.id} has no attempt to charge a retrieval machine to`);
  o.ledger.addEvent({ jobId: o.job.id, attemptId: attempt.id, kind: "retrieval", reason: `launching a retrieval machine in ${fs.region} (${offers[0]!.instanceType} at $${offers[0]!.pricePerHour.toFixed(2)}/h) to read ${l.url}` });
  const launched = await launchWithFailover({
    providerFor: async () => o.provider,
    blockedProviders: new Set(),
    ledger: o.ledger,
    jobId: o.job.id,
    attemptId: attempt.id,
    offers,
    maxOffers: MAX_OFFERS,
    sshKeyName: sshKeyNameFor(key.publicKey),
    sshPublicKey: key.publicKey,
    signal: o.signal,
    logger: o.logger,
    env: o.env,
    listingLagMs: () => o.listingLagMs,
    persistentVolume: { name: l.volume },
  });
  const id = launched.machine.id;
  let conn: SshConnection | undefined;
  try {
    const running = await waitUntilRunning(o.provider, id, { timeoutMs: BOOT_TIMEOUT_MS, signal: o.signal, env: o.env, notFoundGraceMs: o.listingLagMs });
    conn = await connectMachine(running, { privateKey: key.privateKey, knownHostsFile: o.paths.knownHosts, timeoutMs: 5 * 60_000, signal: o.signal, logger: o.logger });
    const { mountedPath, sshVolumeReader } = await import("../artifact-store/volume-reader.js");
    const { fetchFromStore } = await import("../artifact-store/durable-copy.js");
    const root = await mountedPath(conn, l.mountPoint);
    const got = await fetchFromStore({ location: l, credentials: { kind: "volume-mount" }, reader: sshVolumeReader(conn, root), localDir: o.localDir, signal: o.signal });
    return { ...got, machine: id };
  } finally {
    conn?.close();
    // Always, whatever happened above, and even when the caller's signal was aborted: a retrieval machine
    // must never be left billing. Its own deadline bounds the wait.
    const row = o.ledger.getMachine(launched.row.id)!;
    const t = o.terminate ?? TERMINATE_DEFAULTS;
    await terminateAndConfirm(o.provider, o.ledger, row, "retrieval machine done", { pollMs: t.pollMs, timeoutMs: t.timeoutMs, signal: deadlineSignal(t.timeoutMs + 10_000), logger: o.logger, env: o.env });
  }
}
