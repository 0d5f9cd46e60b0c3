/**
 * Planning a job file end to end: load the spec, probe this machine's GPUs, look up offers, measure the
 * local dataset, then {@link planJob}. The I/O half of the planner, shared by `kiln plan` and `kiln run`.
 */
import { readdir, stat, statfs } from "node:fs/promises";
import { availableParallelism, freemem } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Exec } from "../../remote/exec.js";
import { type LiveOffers, type OfferQuery, type OfferSources, type PricedOffer, findOffers, resolveGpuNames } from "../catalog/offers.js";
import { catalogRows } from "../catalog/rows.js";
import { type GpuProbe, probeGpus } from "../gpu/probe.js";
import type { JobSpec } from "../spec/job-spec.js";
import { loadJobSpec } from "../spec/load.js";
import { LIVE_PRICES_DEADLINE_MS, type ProviderPrices, answeredSources, askProviders } from "./live-prices.js";
import { type Plan, planJob } from "./plan.js";

const CLOUD_ONLY = (p: string) => p !== "local" && p !== "ssh";

/** The offer search for a job: its GPUs on its clouds, spot included (the planner applies the policy). */
export function offerQueryFor(spec: JobSpec): OfferQuery {
  const providers = spec.resources.providers.filter(CLOUD_ONLY);
  return {
    gpus: spec.resources.gpu,
    count: spec.resources.count,
    minVramGb: 1,
    spot: "allowed",
    providers,
    ...(spec.resources.regions ? { regions: spec.resources.regions } : {}),
  };
}

/** Bytes of a local dataset file, or of the files directly inside a dataset folder; undefined if absent. */
async function datasetBytes(spec: JobSpec, specPath: string): Promise<number | undefined> {
  if (spec.workload.type !== "sae-pii" || spec.workload.sae.dataset.path === undefined) return undefined;
  const p = spec.workload.sae.dataset.path;
  const full = isAbsolute(p) ? p : resolve(dirname(specPath), p);
  try {
    const s = await stat(full);
    if (s.isFile()) return s.size;
    let total = 0;
    for (const e of await readdir(full, { withFileTypes: true })) if (e.isFile()) total += (await stat(join(full, e.name))).size;
    return total;
  } catch {
    // A dataset that is not here yet (it may exist only on the remote machine) is sized another way.
    return undefined;
  }
}

/**
 * This machine's RAM available now (what kiln_sae's cache budget halves; libuv reads MemAvailable) and the
 * free disk under the spec's folder, where a local run writes its outputs; undefined when statfs fails.
 */
async function localMachine(specPath: string): Promise<{ ramGb: number; diskFreeGb: number } | undefined> {
  try {
    const fs = await statfs(dirname(specPath));
    return { ramGb: freemem() / 1e9, diskFreeGb: (fs.bavail * fs.bsize) / 1e9 };
  } catch {
    return undefined;
  }
}

export interface JobPlanResult {
  spec: JobSpec;
  plan: Plan;
  probe: GpuProbe | undefined;
  warnings: string[];
  /** Each live source's answer (or failure, or timeout), for `kiln plan` to say where prices came from. */
  prices: ProviderPrices[];
}

/**
 * Offers for a job: its providers' live answers (asked in parallel, each under `deadlineMs`) or their
 * catalog rows, for `resources.count` GPUs per machine; plus catalog machines with more GPUs, which
 * compete too (the planner prices what they use). A provider that answered live contributes only its live
 * offers, never catalog rows beside them: one listOffers call asks for one GPU count.
 */
export async function offersForJob(
  spec: JobSpec,
  live: OfferSources["live"] | undefined,
  o: { deadlineMs?: number; signal?: AbortSignal } = {},
): Promise<{ offers: PricedOffer[]; warnings: string[]; prices: ProviderPrices[] }> {
  const query = offerQueryFor(spec);
  if (!query.providers || query.providers.length === 0) return { offers: [], warnings: [], prices: [] };
  const wanted: Record<string, LiveOffers> = {};
  for (const [p, source] of Object.entries(live ?? {})) if (source && query.providers.includes(p)) wanted[p] = source;
  const req = { gpus: resolveGpuNames(query.gpus), count: query.count, minVramGb: query.minVramGb, spot: query.spot, ...(query.regions ? { regions: query.regions } : {}) };
  const prices = await askProviders(wanted, req, { deadlineMs: o.deadlineMs ?? LIVE_PRICES_DEADLINE_MS, ...(o.signal ? { signal: o.signal } : {}) });
  const signal = o.signal ? { signal: o.signal } : {};
  const { offers, warnings } = await findOffers(query, { live: answeredSources(prices), ...signal });
  const liveNow = new Set(prices.filter((p) => p.status === "live").map((p) => p.provider));
  const bigger = new Set(catalogRows().filter((r) => r.gpuCount > query.count && !liveNow.has(r.provider)).map((r) => r.gpuCount));
  for (const count of bigger) {
    const more = await findOffers({ ...query, count }, signal);
    offers.push(...more.offers.filter((x) => !liveNow.has(x.provider)));
  }
  return { offers, warnings, prices };
}

/**
 * @example
 *   const { plan } = await planJobFile("examples/llama-8b-sae-pii.yaml", { exec: localExec });
 */
export async function planJobFile(
  specPath: string,
  opts: {
    exec: Exec;
    /** Live price sources, or a function that picks them once the spec says which providers are allowed. */
    live?: OfferSources["live"] | ((spec: JobSpec) => Promise<OfferSources["live"]>);
    /** A GPU probe already under way (started while the planner loaded); used when the job allows local. */
    probe?: Promise<GpuProbe>;
    signal?: AbortSignal;
    /** Per-provider deadline for live prices (default {@link LIVE_PRICES_DEADLINE_MS}). */
    deadlineMs?: number;
    /** Constraints found outside the spec before pricing (e.g. a Lambda file system's region); its notes join the plan's. */
    adjust?: (spec: JobSpec) => Promise<{ spec: JobSpec; notes: string[] }>;
  },
): Promise<JobPlanResult> {
  const loaded = await loadJobSpec(specPath);
  const adjusted = opts.adjust ? await opts.adjust(loaded) : { spec: loaded, notes: [] };
  const spec = adjusted.spec;
  const live = typeof opts.live === "function" ? await opts.live(spec) : opts.live;
  const wantsLocal = spec.resources.providers.includes("local");
  const probe = wantsLocal ? await (opts.probe ?? probeGpus(opts.exec, opts.signal)) : undefined;
  const { offers, warnings, prices } = await offersForJob(spec, live, { ...(opts.deadlineMs !== undefined && { deadlineMs: opts.deadlineMs }), ...(opts.signal ? { signal: opts.signal } : {}) });
  const bytes = await datasetBytes(spec, specPath);
  const machine = await localMachine(specPath);
  const plan = planJob(spec, {
    gpuProbe: probe ?? { kind: "missing" },
    offers,
    cpuCores: availableParallelism(),
    ...(bytes !== undefined ? { datasetBytes: bytes } : {}),
    ...(machine ? { localMachine: machine } : {}),
  });
  plan.notes.unshift(...adjusted.notes);
  return { spec, plan, probe, warnings, prices };
}
