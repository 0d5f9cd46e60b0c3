/**
 * Planning a job file end to end: load the spec, probe this machine's GPUs, look up offers, measure the
 * local dataset, then {@link planJob}. The I/O half of the planner, shared by `kiln plan` and `kiln run`.
 */
import { readdir, stat, statfs } from "node:fs/promises";
import { availableParallelism, freemem } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Exec } from "../../remote/exec.js";
import { type OfferQuery, type OfferSources, findOffers } from "../catalog/offers.js";
import { type GpuProbe, probeGpus } from "../gpu/probe.js";
import type { JobSpec } from "../spec/job-spec.js";
import { loadJobSpec } from "../spec/load.js";
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
  },
): Promise<JobPlanResult> {
  const spec = await loadJobSpec(specPath);
  const live = typeof opts.live === "function" ? await opts.live(spec) : opts.live;
  const wantsLocal = spec.resources.providers.includes("local");
  const probe = wantsLocal ? await (opts.probe ?? probeGpus(opts.exec, opts.signal)) : undefined;
  const query = offerQueryFor(spec);
  const { offers, warnings } =
    query.providers && query.providers.length > 0
      ? await findOffers(query, { ...(live ? { live } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })
      : { offers: [], warnings: [] };
  const bytes = await datasetBytes(spec, specPath);
  const machine = await localMachine(specPath);
  const plan = planJob(spec, {
    gpuProbe: probe ?? { kind: "missing" },
    offers,
    cpuCores: availableParallelism(),
    ...(bytes !== undefined ? { datasetBytes: bytes } : {}),
    ...(machine ? { localMachine: machine } : {}),
  });
  return { spec, plan, probe, warnings };
}
