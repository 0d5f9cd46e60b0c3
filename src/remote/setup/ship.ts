/**
 * Ship a job to a machine and make it runnable: bundle (secret-scanned) → upload → unpack and check
 * every file against the manifest → set up the venv. Each phase is timed, for the "SSH reachable →
 * training started" overhead the run flow reports.
 *
 * The upload is injected so this works on any {@link Exec}: over SSH the caller passes an SFTP upload
 * (src/remote/ssh/sftp.ts `uploadFile`, resumable and sha256-verified); tests pass a file copy.
 *
 * @example
 *   const shipped = await shipJob(conn, {
 *     bundle: { workdir: specDir, extraDirs: [repoWorkload], allowSecretsIn: spec.bundle?.allow_secrets },
 *     remoteDir: "kiln/jobs/20261128-171203-3f9a", venvsDir: ".kiln/venvs",
 *     upload: async (local, remote) => { await uploadFile(conn, local, remote); },
 *   });
 *   // then: requireMachineReady(conn, needFromSpec(spec, { python: shipped.env.venv.python, ... }))
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { KilnError } from "../../base/errors.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import { type Bundle, type BundleOptions, createBundle, unpackAndVerify } from "../bundle/index.js";
import type { Exec } from "../exec.js";
import { REMOTE_LOCK, type RemoteEnvironment, type SetupOptions, setupRemoteEnvironment } from "./environment.js";

export interface ShipOptions {
  bundle: BundleOptions;
  /** The job's directory on the machine; relative paths start in the remote home. */
  remoteDir: string;
  /** Where venvs live on the machine (shared by jobs, so a warm machine skips pip). */
  venvsDir: string;
  upload: (localPath: string, remotePath: string) => Promise<void>;
  setup?: Omit<SetupOptions, "workloadDir" | "venvsDir" | "requirementsHash" | "signal" | "logger">;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface ShippedJob {
  bundle: Bundle;
  /** Absolute paths on the machine. */
  remoteBundle: string;
  jobDir: string;
  workloadDir: string;
  env: RemoteEnvironment;
  seconds: { bundle: number; upload: number; unpack: number; setup: number };
}

/**
 * The workload's requirements are its pyproject.toml and the remote lock (constraints-remote.txt): their
 * sha256s key the venv, so a new lock builds a new venv rather than trusting one made from the old pins.
 * Without a `workload/pyproject.toml` the bundle cannot set a machine up: undefined.
 */
export function requirementsHashOf(bundle: Bundle): string | undefined {
  const sha = (path: string) => bundle.manifest.files.find((f) => f.path === path)?.sha256;
  const project = sha("workload/pyproject.toml");
  if (!project) return undefined;
  const lock = sha(`workload/${REMOTE_LOCK}`);
  return lock ? createHash("sha256").update(`${project}\n${lock}`).digest("hex") : project;
}

async function absolute(exec: Exec, p: string, signal?: AbortSignal): Promise<string> {
  if (posix.isAbsolute(p)) return p;
  const r = await exec.run(["pwd"], { timeoutMs: 20_000, ...(signal ? { signal } : {}) });
  const home = r.stdout.trim();
  if (r.code !== 0 || !posix.isAbsolute(home)) throw new KilnError("remote_home_unknown", `could not find the home directory on ${exec.where}: ${r.stderr.trim()}`);
  return posix.join(home, p);
}

export async function shipJob(exec: Exec, opts: ShipOptions): Promise<ShippedJob> {
  const logger = opts.logger ?? nullLogger;
  const t0 = Date.now();
  const bundle = await createBundle({ ...opts.bundle, logger });
  const requirementsHash = requirementsHashOf(bundle);
  if (!requirementsHash) throw new KilnError("bundle_without_workload", "the bundle has no workload/pyproject.toml; pass the repo's workload/ in extraDirs");
  const t1 = Date.now();
  const root = await absolute(exec, opts.remoteDir, opts.signal);
  const venvsDir = await absolute(exec, opts.venvsDir, opts.signal);
  const remoteBundle = posix.join(root, posix.basename(bundle.path));
  await opts.upload(bundle.path, remoteBundle);
  const t2 = Date.now();
  const unpacked = posix.join(root, "bundle");
  // A fresh directory per bundle: files deleted locally must not linger from an earlier upload.
  await exec.run(["rm", "-rf", unpacked], { timeoutMs: 120_000, ...(opts.signal ? { signal: opts.signal } : {}) });
  await unpackAndVerify(exec, remoteBundle, unpacked, bundle.manifest, opts.signal);
  const t3 = Date.now();
  const workloadDir = posix.join(unpacked, "workload");
  const env = await setupRemoteEnvironment(exec, {
    ...opts.setup,
    workloadDir,
    venvsDir,
    requirementsHash,
    ...(opts.signal ? { signal: opts.signal } : {}),
    logger,
  });
  const t4 = Date.now();
  const seconds = { bundle: (t1 - t0) / 1000, upload: (t2 - t1) / 1000, unpack: (t3 - t2) / 1000, setup: (t4 - t3) / 1000 };
  logger.info(`shipped to ${exec.where}: bundle ${seconds.bundle}s, upload ${seconds.upload}s, unpack ${seconds.unpack}s, setup ${seconds.setup}s${env.venv.reused ? " (warm venv)" : ""}`);
  return { bundle, remoteBundle, jobDir: posix.join(unpacked, "job"), workloadDir, env, seconds };
}
