/**
 * One cloud offer, priced for a job: the GPU's throughput (datasheet × MFU, with sources), the run's hours
 * in that machine's RAM and disk, the provider's boot, a spot offer's expected restarts, the cost, and why
 * it is ruled out when it is. Pure, like the rest of the planner.
 */
import type { PricedOffer } from "../catalog/offers.js";
import type { JobSpec } from "../spec/job-spec.js";
import { gpuThroughput, hostArchOf } from "../../providers/gpu-models.js";
import { type BootEstimate, bootFor } from "./boot.js";
import { HOURS_PER_MONTH } from "../../providers/provider.js";
import { MFU, type MachineSpace, type RunTime } from "./estimate.js";
import { type SpotArithmetic, spotArithmetic } from "./spot.js";

/** Lambda lists memory_gib and storage_gib (catalog rows copy them): GiB, and the planner counts in GB. */
const GIB = 2 ** 30 / 1e9;
/** A cloud machine's disk that its OS image, CUDA, the Python env and torch's wheels already fill. */
export const DISK_OS_GB = 30;
/**
 * An offer that does not say its RAM: as much host RAM as GPU memory (GCP a2-highgpu-1g: 85 GB for one
 * 40 GB A100; RunPod's 24 GB cards come with ~40-60 GB). Lower than most, so a cache is not assumed to fit.
 */
export const ASSUMED_RAM_PER_VRAM = 1;
/**
 * An offer that does not say its disk: 100 GB (RunPod's default pod is a 50 GB container disk + a 20 GB
 * volume; cloud deep-learning images boot from 50-200 GB disks).
 */
export const ASSUMED_DISK_GB = 100;
/** GPUs the planner cannot name (a local card the table lacks, a provider's new model): assumed mid-range. */
export const UNKNOWN_GPU_TFLOPS = 50;
/**
 * GPUs of one machine the job trains on. The engine is data-parallel under torchrun
 * (workload/kiln_sae/distributed.py), but the pipeline starts `python -m kiln_sae train` as one process
 * (src/core/pipeline/steps.ts), so a machine with more GPUs runs on one of them and bills for all. When
 * the steps launch torchrun this becomes the machine's GPU count (times a scaling efficiency, to measure).
 */
export const GPUS_USED_PER_MACHINE = 1;

/** What one GPU of an offer does per second, and where each factor comes from. */
export interface Throughput {
  gpu: string;
  /** Dense bf16 TFLOP/s of one GPU (datasheet), or {@link UNKNOWN_GPU_TFLOPS} when the GPU is unknown. */
  bf16Tflops: number;
  source: string;
  mfu: { lm: number; sae: number; basis: string };
  gpuCount: number;
  gpusUsed: number;
}

/** What a priced option needs from sizing: hours (and the split) on a GPU type or the CPU, in a machine. */
export type Timer = (gpu: string, machine: MachineSpace, opts?: { stream?: boolean; bf16Tflops?: number }) => { hours: number; time?: RunTime };

export function throughputOf(o: Pick<PricedOffer, "gpu" | "gpuCount" | "instanceType">): Throughput {
  const t = gpuThroughput(o.gpu, o.instanceType);
  return {
    gpu: o.gpu,
    bf16Tflops: t?.bf16Tflops ?? UNKNOWN_GPU_TFLOPS,
    source: t?.source ?? `assumed: ${o.gpu} is not in src/providers/gpu-models.ts`,
    mfu: { lm: MFU.lm.value, sae: MFU.sae.value, basis: MFU.lm.basis },
    gpuCount: o.gpuCount,
    gpusUsed: Math.min(o.gpuCount, GPUS_USED_PER_MACHINE),
  };
}

/** The machine an offer runs on: its RAM and disk where the provider (or the catalog) says, else assumed. */
export function offerMachine(o: PricedOffer): MachineSpace {
  const basis = o.priceSource === "live" ? "live" : "catalog";
  const ram = o.memoryGb !== undefined ? { gb: o.memoryGb * GIB, basis } : undefined;
  const disk = o.diskGb !== undefined ? { gb: o.diskGb * GIB - DISK_OS_GB, basis } : undefined;
  if (ram && disk) return { ramGb: ram.gb, diskGb: disk.gb, basis };
  const assumed = assumedMachine(o.vramGb, o.gpuCount);
  return { ramGb: ram?.gb ?? assumed.ramGb, diskGb: disk?.gb ?? assumed.diskGb, basis: assumed.basis };
}

/** RAM as large as the GPUs' memory and a 100 GB disk: see {@link ASSUMED_RAM_PER_VRAM}, {@link ASSUMED_DISK_GB}. */
export function assumedMachine(vramGb: number, gpuCount: number): MachineSpace {
  return { ramGb: ASSUMED_RAM_PER_VRAM * vramGb * gpuCount, diskGb: ASSUMED_DISK_GB - DISK_OS_GB, basis: "assumed" };
}

/**
 * Hours between checkpoints: `save_every` epochs (fractions allowed) of a run of `epochs`; a `tokens`
 * budget is taken as one epoch. Without `save_every_steps` this is what a reclaim can lose.
 */
export function checkpointHours(spec: JobSpec, runHours: number): number {
  const w = spec.workload;
  if (w.type !== "sae-pii") return runHours;
  const epochs = w.sae.epochs ?? 1;
  return Math.min(runHours, (runHours * (w.sae.save_every ?? 1)) / epochs);
}

/**
 * A disk sized at launch for the activation cache (LaunchRequest.diskGb): an offer whose RAM and stated disk
 * hold neither the cache, but whose disk can be sized (Offer.diskSizing), priced with one big enough.
 */
export interface LaunchDisk {
  /** The size asked of the provider, in its unit (Offer.diskGb's). */
  gb: number;
  /** What the disk adds to the offer's $/h: the GB beyond what the offer's price includes, at the GB-month price. */
  usdPerHour: number;
  /** The disk's share of the expected cost: usdPerHour × the billed hours (boot and spot restarts included). */
  usd: number;
  usdPerGbMonth: number;
  priceSource: string;
  /** The same offer's expected cost without the sized disk: the cache streamed (or, with `activation_cache: disk`, not fitting). */
  unsizedUsd: number;
  /** Where the cache would be without it: "stream", or "disk" that does not fit (`activation_cache: disk`). */
  unsizedCache: "stream" | "disk";
}

/**
 * The disk to size on `o` so the cache fits, when the cache fits neither its RAM nor its disk and the offer can
 * be sized: the job's disk (cache, model, checkpoints) plus the OS allowance, rounded up to 10. Counted in
 * decimal GB, and the machine credited with no more than that: the APIs say "GB" and some mean GiB (GCE), so
 * whichever they mean the disk is never short. Undefined when the offer cannot be sized or its largest disk is
 * too small.
 */
export function launchDiskFor(o: PricedOffer, cache: RunTime["cache"] | undefined): { gb: number; usdPerHour: number; machine: MachineSpace } | undefined {
  const sizing = o.diskSizing;
  if (!sizing || !cache || cache.fits) return undefined;
  if (cache.location === "memory") return undefined;
  const gb = Math.max(Math.ceil((cache.jobDiskGb + DISK_OS_GB) / 10) * 10, sizing.minGb ?? 0);
  if (gb > sizing.maxGb) return undefined;
  const usdPerHour = (Math.max(0, gb - sizing.includedGb) * sizing.usdPerGbMonth) / HOURS_PER_MONTH;
  return { gb, usdPerHour, machine: { ...cache.machine, diskGb: gb - DISK_OS_GB } };
}

export interface PricedOption {
  label: string;
  hours: number;
  time?: RunTime;
  costUsd: number;
  /** The cost at the offer's worst-case price (a spot bid / MaxPrice), when it has one above its price. */
  worstCaseUsd?: number;
  offer: PricedOffer;
  spot?: SpotArithmetic;
  boot: BootEstimate;
  throughput: Throughput;
  /** The disk sized at launch for the activation cache, when that beat streaming it. */
  launchDisk?: LaunchDisk;
  excluded?: string;
}

/**
 * An offer priced for the job: expected hours (spot: with restarts) plus the provider's boot, times $/h.
 * Undefined for offers that are not candidates at all (another provider, fewer GPUs than
 * resources.count, spot under `spot: never`).
 */
export function priceOffer(spec: JobSpec, o: PricedOffer, needGb: number, timer: Timer): PricedOption | undefined {
  const r = spec.resources;
  if (!r.providers.includes(o.provider) || o.gpuCount < r.count) return undefined;
  if (r.spot === "never" && o.spot) return undefined;
  const throughput = throughputOf(o);
  const boot = bootFor(o.provider);
  // The machine as offered; then, when the cache fits neither its RAM nor its disk and the disk can be sized,
  // the same machine with a disk that holds the cache, its price added for every billed hour. The cheaper wins.
  const run = (machine: MachineSpace, diskUsdPerHour: number) => {
    const t = timer(o.gpu, machine, { bf16Tflops: throughput.bf16Tflops * throughput.gpusUsed });
    const split = t.time ? { extractionHours: t.time.extractionHours, saeHours: t.time.saeHours, cached: t.time.cache.location !== "stream" } : undefined;
    // Spot: the expected restarts, each a new boot, the work since the last checkpoint and the cache (./spot.ts).
    const spot = o.spot ? spotArithmetic(o.gpu, t.hours, checkpointHours(spec, t.hours), boot.hours, split) : undefined;
    const hours = spot ? spot.expectedHours : t.hours;
    return { t, spot, hours, billedHours: hours + boot.hours, costUsd: (o.pricePerHour + diskUsdPerHour) * (hours + boot.hours) };
  };
  const streamed = run(offerMachine(o), 0);
  const sizing = launchDiskFor(o, streamed.t.time?.cache);
  const sized = sizing ? run(sizing.machine, sizing.usdPerHour) : undefined;
  // `activation_cache: disk` on a disk too small would fail hours in: a disk that fits is taken whatever it costs.
  const unsizedCache = streamed.t.time?.cache;
  const mustSize = unsizedCache?.location === "disk" && !unsizedCache.fits;
  const best = sized && sizing && (mustSize || sized.costUsd < streamed.costUsd) ? sized : streamed;
  const { t, spot, hours, costUsd } = best;
  const diskPerHour = best === sized && sizing ? sizing.usdPerHour : 0;
  const cap = o.capPricePerHour;
  const opt: PricedOption = {
    label: `${o.provider} ${o.instanceType}${o.spot ? " (spot)" : ""}`,
    hours,
    ...(t.time ? { time: t.time } : {}),
    costUsd,
    ...(cap !== undefined && cap > o.pricePerHour ? { worstCaseUsd: (cap + diskPerHour) * best.billedHours } : {}),
    offer: o,
    ...(spot ? { spot } : {}),
    boot,
    throughput,
  };
  if (best === sized && sizing && o.diskSizing) {
    opt.launchDisk = {
      gb: sizing.gb,
      usdPerHour: sizing.usdPerHour,
      usd: sizing.usdPerHour * best.billedHours,
      usdPerGbMonth: o.diskSizing.usdPerGbMonth,
      priceSource: o.diskSizing.priceSource,
      unsizedUsd: streamed.costUsd,
      unsizedCache: unsizedCache?.location === "disk" ? "disk" : "stream",
    };
  }
  const maxPrice = r.max_price_per_hour;
  // Kiln's remote setup (venv, PyTorch wheels) has only ever run on x86-64: an Arm host (GH200's Grace) is
  // taken only when the user names its GPU, never picked for them by `gpu: any`.
  if (r.gpu === "any" && hostArchOf(o.gpu) === "arm64") opt.excluded = `Arm (aarch64) host: Kiln's setup is untested on Arm; list ${o.gpu} in resources.gpu to allow it`;
  else if (o.vramGb < needGb) opt.excluded = `${o.vramGb} GB < ${needGb.toFixed(1)} GB needed`;
  else if (maxPrice !== undefined && o.pricePerHour > maxPrice) opt.excluded = `$${o.pricePerHour.toFixed(2)}/h > max_price_per_hour $${maxPrice.toFixed(2)}`;
  else if (spec.budget.max_hours !== undefined && hours > spec.budget.max_hours) opt.excluded = `${hours.toFixed(1)} h > budget.max_hours ${spec.budget.max_hours}`;
  else if (costUsd > spec.budget.max_usd) opt.excluded = `$${costUsd.toFixed(2)} > budget $${spec.budget.max_usd.toFixed(2)}`;
  return opt;
}
