/**
 * Before reconciliation tears down a dead job's machine: find out how the run ended, stop it with SIGTERM
 * if it is still going (the engine saves a checkpoint), stop the watchdog, and pull the outputs into the
 * job dir, every file sha256-verified, under one deadline. The caller terminates the machine only when
 * this succeeded (or the user forces it): outputs that were never saved are never destroyed silently.
 */
import { deadlineSignal } from "../../base/deadline.js";
import { KilnError, errorMessage } from "../../base/errors.js";
import { type Provider, supportsVolumes } from "../../providers/provider.js";
import { providerNamed } from "../../providers/registry.js";
import type { VolumeLocation } from "../artifact-store/location.js";
import { terminateSettings } from "./settings.js";
import type { Logger } from "../../base/logger.js";
import type { MachineRecord } from "../../providers/provider.js";
import { privateKeyFor } from "../../remote/ssh/keys.js";
import { runStatus, stopRun } from "../../remote/session/run.js";
import { pullArtifacts } from "../../remote/sync/pull.js";
import type { JobRecord, Ledger } from "../../store/index.js";
import type { KilnPaths } from "../home.js";
import { jobLayout } from "../job/layout.js";
import { readCloudFile } from "../lifecycle/cloud-file.js";
import { connectMachine } from "../lifecycle/machine.js";
import { remoteHome, remotePaths } from "../lifecycle/remote-job.js";
import { stopWatchdog } from "../watchdog/index.js";
import { loadJobSpec } from "../spec/index.js";

/** What salvage found and saved: how the run had ended before Kiln stopped it, and the verified files. */
export interface Salvaged {
  /** The run's exit code when it had already finished on its own; undefined when Kiln stopped it (or it never ran). */
  exitCode: number | undefined;
  verifiedFiles: number;
}

export type Salvager = (job: JobRecord, machine: MachineRecord) => Promise<Salvaged>;

/** A gone machine's outputs from the job's durable store, if the spec has one: the files fetched and verified, or undefined. */
export type StoreFetcher = (job: JobRecord) => Promise<number | undefined>;

/**
 * The machine is gone (the watchdog ended billing at the cap with no client, or the cloud took it): what its
 * watchdog pushed to the spec's `artifacts.store` is fetched into the job dir and verified against the
 * store's manifest. No store: undefined. A store that cannot be read: an error (the caller records it).
 */
export function storeFetcher(o: { ledger: Ledger; paths: KilnPaths; env: NodeJS.ProcessEnv; signal: AbortSignal; volumes?: VolumeAccess }): StoreFetcher {
  return async (job) => {
    const layout = jobLayout(o.paths.jobs, job.id);
    const spec = await loadJobSpec(layout.spec).catch(() => undefined);
    const store = spec?.artifacts.store;
    if (!store) return undefined;
    const { fetchFromStore, storeCredentialsForReading, storeLocation } = await import("../artifact-store/index.js");
    const location = storeLocation(store, job.id);
    if (location.kind === "lambda-fs") return fetchFromVolume(job, location, layout.outputs, o);
    const got = await fetchFromStore({ location, credentials: await storeCredentialsForReading(store, location, o.env), localDir: layout.outputs, signal: o.signal });
    for (const e of got.manifest) o.ledger.recordArtifact({ jobId: job.id, path: e.path, size: e.size, sha256: e.sha256, verified: true });
    o.ledger.addEvent({ jobId: job.id, kind: "salvage", reason: `fetched ${got.manifest.length} files (${(got.bytes / 1e6).toFixed(1)} MB) from the durable store ${location.url}, verified against its manifest` });
    return got.manifest.length;
  };
}

/** The provider whose volumes hold lambda-fs stores, to read them through a retrieval machine. */
export interface VolumeAccess {
  provider: Provider;
  logger: Logger;
  listingLagMs: number;
}

async function fetchFromVolume(job: JobRecord, location: VolumeLocation, localDir: string, o: Parameters<typeof storeFetcher>[0]): Promise<number> {
  const p = o.volumes?.provider;
  if (!p || providerNamed(p.name).cap?.volumeStore !== location.kind || !supportsVolumes(p)) {
    throw new KilnError("store-unreachable", `the outputs of ${job.id} are on the Lambda file system ${location.volume}, at ${location.mountPoint}/${location.keyPrefix}, readable only from a Lambda machine in its region; configure Lambda and run \`kiln status --refresh\` to fetch them through one`);
  }
  const { retrieveFromVolume } = await import("./volume-retrieval.js");
  const got = await retrieveFromVolume({ job, location, provider: p, ledger: o.ledger, paths: o.paths, localDir, logger: o.volumes!.logger, signal: o.signal, env: o.env, listingLagMs: o.volumes!.listingLagMs, terminate: terminateSettings(o.env) }).catch((e: unknown) => {
    // Say where the outputs still are: only a Lambda machine in the file system's region can read them.
    throw new KilnError(e instanceof KilnError ? e.code : "store-fetch-failed", `${errorMessage(e)} (the outputs stay on the Lambda file system ${location.volume}, at ${location.mountPoint}/${location.keyPrefix})`, { cause: e });
  });
  for (const e of got.manifest) o.ledger.recordArtifact({ jobId: job.id, path: e.path, size: e.size, sha256: e.sha256, verified: true });
  o.ledger.addEvent({ jobId: job.id, kind: "salvage", reason: `fetched ${got.manifest.length} files (${(got.bytes / 1e6).toFixed(1)} MB) from the durable store ${location.url} through retrieval machine ${got.machine} (terminated), verified against its manifest` });
  return got.manifest.length;
}

export function salvager(o: { ledger: Ledger; paths: KilnPaths; logger: Logger; signal: AbortSignal; timeoutMs?: number }): Salvager {
  return async (job, machine) => {
    const c = readCloudFile(job.job_dir);
    if (!c || !machine.ssh) throw new Error(`no way into ${machine.id}: ${c ? "the provider gives no address" : "the job has no cloud.json"}`);
    const signal = deadlineSignal(o.timeoutMs ?? c.stopGraceMs + 120_000, o.signal);
    const key = privateKeyFor(o.paths.keys, c.keyPath, c.specDir);
    const conn = await connectMachine({ ...machine, ssh: machine.ssh }, { privateKey: key.privateKey, knownHostsFile: o.paths.knownHosts, timeoutMs: 30_000, signal, logger: o.logger });
    try {
      const rp = remotePaths(await remoteHome(conn), job.id);
      const before = await runStatus(conn, rp.run);
      if (before.state === "running") await stopRun(conn, rp.run, { graceMs: c.stopGraceMs });
      await stopWatchdog(conn, rp.watchdog);
      const pulled = await pullArtifacts(conn, `${rp.job}/outputs`, jobLayout(o.paths.jobs, job.id).outputs, { signal });
      for (const e of pulled.manifest) o.ledger.recordArtifact({ jobId: job.id, path: e.path, size: e.size, sha256: e.sha256, verified: true });
      const how = before.state === "exited" ? `the run had finished (exit ${before.code})` : before.state === "running" ? "checkpointed the run" : `the run was ${before.state}`;
      o.ledger.addEvent({ jobId: job.id, kind: "salvage", reason: `${how}; pulled and verified ${pulled.manifest.length} files before teardown` });
      return { exitCode: before.state === "exited" ? before.code : undefined, verifiedFiles: pulled.manifest.length };
    } finally {
      conn.close();
    }
  };
}
