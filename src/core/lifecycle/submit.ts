/**
 * `kiln run JOB.yaml --provider lambda [--sim]`: plan on the cloud's live offers, run the checks before the
 * meter starts (./checks.ts: local inputs, the bundle built and secret-scanned into the job dir, credentials,
 * the estimate against the cap — the planner's rule), create the job, write cloud.json and start the
 * detached cloud driver, which ships that same bundle. A failed check launches nothing. The driver's pid is recorded as the job's supervisor, so liveness checks and
 * `kiln stop` work as for local jobs.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { KilnError, UserError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { type Provider, supportsVolumes } from "../../providers/provider.js";
import { providerNamed } from "../../providers/registry.js";
import type { LiveOffers } from "../catalog/index.js";
import { privateKeyFor } from "../../remote/ssh/keys.js";
import type { KilnPaths } from "../home.js";
import { jobLayout, newJobId } from "../job/index.js";
import { openLedger } from "../jobs/ledger.js";
import { offersForJob } from "../planner/job-plan.js";
import { planJob } from "../planner/plan.js";
import { assertCapDecided } from "../planner/cap-guarantee.js";
import { type JobSpec, loadJobSpec } from "../spec/index.js";
import { preLaunchChecks, requireChecksPassed } from "./checks.js";
import { type CloudFile, type CloudOffer, writeCloudFile } from "./cloud-file.js";
import { type Shipping, shippingFor } from "./prepare.js";
import { requireCloud } from "./providers.js";
import { TERMINATE_DEFAULTS } from "./teardown.js";
import { checkVolumeStore, volumeStoreOwner } from "./volume-store.js";

export interface CloudSubmitOptions {
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  cwd: string;
  specPath: string;
  /** Where the job may run, in the user's order: one cloud or host, or several clouds to fail over across. */
  providers: string[];
  sim: boolean;
  /** Provider ssh: remove the remote job directory after the artifacts are verified (or resources.ssh.cleanup). */
  cleanup?: boolean;
  watchdogTerminate: boolean;
  logger: Logger;
  signal: AbortSignal;
}

export interface CloudSubmitted {
  jobId: string;
  name: string;
  jobDir: string;
  offers: CloudOffer[];
  planReason: string;
}

const msFromEnv = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const v = Number(env[name] ?? "");
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

export function driverEntry(override?: string): string {
  if (override) return override;
  const sibling = join(import.meta.dirname, "driver-main.js");
  if (existsSync(sibling)) return sibling;
  throw new KilnError("no_driver", "the cloud driver is not built (no dist/core/lifecycle/driver-main.js); run `npm run build` or use bin/kiln");
}

/** Start the detached cloud driver for a job dir; returns its pid (the job's supervisor, for liveness and `kiln stop`). */
export function spawnDriver(env: NodeJS.ProcessEnv, jobId: string, jobDir: string): number {
  const child = spawn(process.execPath, [driverEntry(env["KILN_CLOUD_DRIVER_ENTRY"]), jobDir], {
    detached: true,
    stdio: "ignore",
    cwd: jobDir,
    env: { ...env, KILN_JOB_ID: jobId },
  });
  child.unref();
  if (child.pid === undefined) throw new KilnError("driver_spawn", `could not start the cloud driver for ${jobDir}`);
  return child.pid;
}

async function liveOffers(o: CloudSubmitOptions, name: string): Promise<{ live: LiveOffers; emulated: boolean; provider?: Provider }> {
  const d = providerNamed(name);
  if (o.sim) {
    if (!d.simulate) throw new UserError(`--sim: ${d.title} has no simulated account`, { exitCode: 2 });
    // The simulated account's catalogue: an emulator without machines, just to list its offers.
    const simulate = d.simulate;
    const live: LiveOffers = async (req, signal) => {
      const sim = await simulate({ bootDelayMs: 0, logger: o.logger });
      try {
        return await sim.provider.listOffers(req, signal);
      } finally {
        await sim.close();
      }
    };
    return { live, emulated: true };
  }
  const cloud = await requireCloud(name, { env: o.env, credentialsPath: o.paths.credentials, logger: o.logger }).catch((e: unknown) => {
    if (e instanceof UserError && o.sim === false) throw new UserError(`kiln run --provider ${name}: ${e.message}`, { exitCode: 2, ...(e.hint !== undefined && { hint: `${e.hint}, or rehearse with --sim` }) });
    throw e;
  });
  return { live: (req, signal) => cloud.provider.listOffers(req, signal), emulated: cloud.emulated, provider: cloud.provider };
}

export async function submitCloudJob(o: CloudSubmitOptions): Promise<CloudSubmitted> {
  const specPath = resolve(o.cwd, o.specPath);
  const loaded = await loadJobSpec(specPath);
  // --provider overrides where the job may run; the rest of the spec is used as written.
  // --watchdog-terminate predates budget.on_cap_offline and means its stop-billing.
  const budget = o.watchdogTerminate && loaded.budget.on_cap_offline === undefined ? { ...loaded.budget, on_cap_offline: "stop-billing" as const } : loaded.budget;
  let spec: JobSpec = { ...loaded, budget, resources: { ...loaded.resources, providers: o.providers } };
  const first = o.providers[0]!;
  if (providerNamed(first).kind === "host") {
    if (o.providers.length > 1) throw new UserError(`--provider ${o.providers.join(",")}: your own host (${first}) runs alone; list clouds to fail over across`, { exitCode: 2 });
    return submitSshJob(o, spec, specPath);
  }
  // Every provider's account is opened and asked at once, each price query under a deadline (offersForJob):
  // a slow or failing cloud falls back to its catalog rows, marked catalog, instead of holding up the run.
  const opened = await Promise.all(o.providers.map((name) => liveOffers(o, name)));
  const live: Record<string, LiveOffers> = Object.fromEntries(o.providers.map((name, i) => [name, opened[i]!.live]));
  const emulated = opened.some((l) => l.emulated);
  // A Lambda file system as the store: it must exist (or be created, only when the spec says so) and the
  // offers keep to its region, all before anything is priced or launched.
  const owner = volumeStoreOwner(spec.artifacts.store?.url);
  const holder = owner && opened[o.providers.indexOf(owner.name)]?.provider;
  const volume = await checkVolumeStore({ spec, providers: o.providers, volumes: holder && supportsVolumes(holder) ? holder : undefined, mode: "run", signal: o.signal });
  if (volume) {
    spec = volume.spec;
    o.logger.info(volume.note);
  }
  const { offers, warnings } = await offersForJob(spec, live, { signal: o.signal });
  for (const w of warnings) o.logger.warn(w);
  const plan = planJob(spec, { gpuProbe: { kind: "missing" }, offers });
  if (!plan.refusal && !plan.choice?.offer) throw new UserError(`no ${o.providers.join(" or ")} offer fits this job`, { exitCode: 2, hint: `\`kiln plan ${o.specPath}\` shows every option and why it was ruled out` });
  // Every eligible offer, the planner's choice first, then by expected total cost: the failover and
  // recovery order. Spot offers are in it when the spec allows spot (the planner priced their restarts).
  const ranked = plan.considered
    .filter((c) => c.kind === "offer" && c.excluded === undefined && c.offer && c.offer.available !== false)
    .sort((a, b) => Number(b.chosen) - Number(a.chosen) || a.costUsd - b.costUsd)
    .map((c) => ({ ...c.offer!, ...(c.launchDisk && { launchDisk: { gb: c.launchDisk.gb, usdPerHour: c.launchDisk.usdPerHour } }) }))
    .map(({ provider, instanceType, gpu, gpuCount, vramGb, vcpus, memoryGb, diskGb, diskSizing, launchDisk, region, pricePerHour, capPricePerHour, spot, available, priceSource, priceDate }): CloudOffer => ({
      provider,
      instanceType,
      gpu,
      gpuCount,
      vramGb,
      ...(vcpus !== undefined && { vcpus }),
      ...(memoryGb !== undefined && { memoryGb }),
      ...(diskGb !== undefined && { diskGb }),
      ...(diskSizing !== undefined && { diskSizing }),
      ...(launchDisk !== undefined && { launchDisk }),
      region,
      pricePerHour,
      ...(capPricePerHour !== undefined && { capPricePerHour }),
      spot,
      ...(available !== undefined && { available }),
      priceSource,
      priceDate,
    }));
  // What happens at the cap with no client must be decided for every provider failover may land on.
  for (const name of new Set(ranked.map((r) => r.provider))) assertCapDecided(spec, providerNamed(name));
  // Made (or read) here, in the foreground, so a key problem is the user's error now, not a dead driver.
  privateKeyFor(o.paths.keys, undefined, o.cwd);
  const estimateUsd = plan.considered.find((c) => c.chosen)?.costUsd;
  return startDriver(o, spec, specPath, ranked, plan.choice?.reason ?? "", {}, { shipping: shippingFor(spec, { emulated, env: o.env }), budget: { refusal: plan.refusal, estimateUsd } });
}

/**
 * Provider ssh: the user's own host is the one "offer" (price 0, its GPU checked by the verification
 * checklist once connected), so there is nothing to plan against; the driver registers a marker there.
 */
async function submitSshJob(o: CloudSubmitOptions, spec: JobSpec, specPath: string): Promise<CloudSubmitted> {
  const first = o.providers[0]!;
  const t = spec.resources.ssh;
  if (!t) throw new UserError("provider ssh needs resources.ssh: {host, user, port, key}", { exitCode: 2, hint: "add resources.ssh to the job spec (docs/job-spec.md)" });
  if (o.sim) throw new UserError("--sim rehearses a cloud; provider ssh runs on your host as it is", { exitCode: 2 });
  if (o.watchdogTerminate) throw new UserError("--watchdog-terminate is for rented machines; Kiln never powers off your ssh host", { exitCode: 2 });
  const specDir = dirname(specPath);
  // Made (or read) here, in the foreground, so a key problem is the user's error now, not a dead driver.
  const key = privateKeyFor(o.paths.keys, t.key, specDir);
  const offer: CloudOffer = {
    provider: first,
    instanceType: "your-host",
    gpu: "your GPU",
    gpuCount: spec.resources.count,
    vramGb: 0,
    region: t.host,
    pricePerHour: 0,
    spot: false,
    priceSource: "live",
    priceDate: new Date().toISOString().slice(0, 10),
  };
  const ssh = { host: t.host, port: t.port, user: t.user, ...(t.python !== undefined && { python: t.python }), cleanup: o.cleanup === true || t.cleanup };
  const shipping = shippingFor(spec, { emulated: false, hostPython: t.python, env: o.env });
  return startDriver(o, spec, specPath, [offer], `your host ${t.user}@${t.host}:${t.port} (provider ssh)`, { ssh, keyPath: key.path }, { shipping, budget: {} });
}

async function startDriver(
  o: CloudSubmitOptions,
  spec: JobSpec,
  specPath: string,
  ranked: CloudOffer[],
  planReason: string,
  extra: Pick<CloudFile, "ssh" | "keyPath">,
  pre: { shipping: Shipping; budget: { refusal?: string | undefined; estimateUsd?: number | undefined } },
): Promise<CloudSubmitted> {
  const jobId = newJobId();
  const layout = jobLayout(o.paths.jobs, jobId);
  mkdirSync(layout.logs, { recursive: true });
  // Checks before the meter starts: the bundle is built and scanned into the job dir now, in the
  // foreground, and the driver ships it. A failure leaves no job behind and launches nothing.
  try {
    const report = await preLaunchChecks({ spec, specPath, providers: o.providers, paths: o.paths, env: o.env, logger: o.logger, sim: o.sim, budget: pre.budget, job: { jobId, jobDir: layout.dir, shipping: pre.shipping } });
    requireChecksPassed(report);
  } catch (e) {
    rmSync(layout.dir, { recursive: true, force: true });
    throw e;
  }
  copyFileSync(specPath, layout.spec);
  const cloud: CloudFile = {
    version: 1,
    jobId,
    jobName: spec.name,
    provider: o.providers[0]!,
    ...(o.providers.length > 1 && { providers: o.providers }),
    maxRestarts: spec.resources.max_restarts,
    sim: o.sim,
    specDir: dirname(specPath),
    offers: ranked,
    // Failover tries this many offers per attempt (every provider's, cheapest first).
    maxOffers: Math.max(5, 3 * o.providers.length),
    ...(extra.ssh && { ssh: extra.ssh }),
    ...(extra.keyPath !== undefined && { keyPath: extra.keyPath }),
    // The user's key for clouds is not a spec field yet; Kiln's own key (registered by name) is used.
    budget: { maxUsd: spec.budget.max_usd, ...(spec.budget.max_hours !== undefined && { maxHours: spec.budget.max_hours }), alertFractions: spec.budget.alert_fractions },
    pollMs: msFromEnv(o.env, "KILN_CLOUD_POLL_MS", 10_000),
    teardownReserveMs: msFromEnv(o.env, "KILN_TEARDOWN_RESERVE_MS", 60_000),
    bootTimeoutMs: msFromEnv(o.env, "KILN_BOOT_TIMEOUT_MS", 20 * 60_000),
    terminate: { pollMs: msFromEnv(o.env, "KILN_TERMINATE_POLL_MS", TERMINATE_DEFAULTS.pollMs), timeoutMs: msFromEnv(o.env, "KILN_TERMINATE_TIMEOUT_MS", TERMINATE_DEFAULTS.timeoutMs) },
    stopGraceMs: msFromEnv(o.env, "KILN_STOP_GRACE_MS", 60_000),
    watchdogTerminate: o.watchdogTerminate,
  };
  writeCloudFile(layout.dir, cloud);
  const ledger = openLedger(o.paths);
  try {
    ledger.createJob({ id: jobId, name: spec.name, kind: spec.workload.type, specYaml: readFileSync(specPath, "utf8"), jobDir: layout.dir, planReason });
    ledger.setProcesses(jobId, { supervisorPid: spawnDriver(o.env, jobId, layout.dir) });
  } finally {
    ledger.close();
  }
  return { jobId, name: spec.name, jobDir: layout.dir, offers: ranked, planReason };
}
