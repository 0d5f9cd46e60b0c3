/**
 * The runbook's pre-flight decision matrix, generalised from "Llama 8B needs 40 GB" to any job's need:
 *
 * | local GPU free memory        | verdict                                                   |
 * |------------------------------|-----------------------------------------------------------|
 * | free ≥ need                  | `local`: use it, skip the cloud                           |
 * | card ≥ 60% of need           | `risky`: try locally with memory savers, cloud on OOM      |
 * | card < 60% of need           | `cloud` (runbook: "INSUFFICIENT")                          |
 * | no nvidia-smi / it fails     | `cloud`, or `cpu` when the job is small enough (the demo) |
 *
 * With the runbook's 40 GB: an A100 40GB (42 GB free) → local, an RTX 3090/4090 (24 GB = 60%) → risky,
 * an RTX 3060 (12 GB) → cloud, exactly its table.
 */
import { type GpuInfo, mibToGb } from "../gpu/nvidia-smi.js";
import type { GpuProbe } from "../gpu/probe.js";

export type PreflightVerdict = "local" | "risky" | "cloud" | "cpu";

/** The share of the need below which a local GPU is not worth trying (runbook: 24 of 40 GB is "risky"). */
export const RISKY_FRACTION = 0.6;
/** torch 2.13's CUDA 12 wheels need a driver that supports CUDA 12. */
const MIN_CUDA = 12;

export const MEMORY_SAVERS = [
  "model_dtype: bf16",
  "a smaller batch_size with gradient_accumulation_steps",
  "activation_cache: disk",
  "fewer latents (expansion_factor)",
] as const;

export interface PreflightNeed {
  vramGb: number;
  /** Whether the job is small enough to train on this CPU (see planner CPU_MAX_HOURS). */
  cpuOk: boolean;
  /** Where the number came from, for the reason line ("the runbook's Llama-3.1-8B job", "JOB.yaml estimate"). */
  source: string;
}

export interface PreflightResult {
  verdict: PreflightVerdict;
  /** One line: why. */
  reason: string;
  /** What to do about it, when there is something to do. */
  advice?: string;
  need: PreflightNeed;
  gpu?: GpuInfo;
}

const fmt = (n: number) => n.toFixed(1);

export function decidePreflight(probe: GpuProbe, need: PreflightNeed): PreflightResult {
  const fallback = (why: string, advice?: string): PreflightResult => {
    const r: PreflightResult = need.cpuOk
      ? { verdict: "cpu", reason: `${why}; the job is small enough for the CPU`, need }
      : { verdict: "cloud", reason: `${why}; rent a cloud GPU with ≥ ${fmt(need.vramGb)} GB`, need };
    return advice ? { ...r, advice } : r;
  };
  if (probe.kind === "missing") return fallback("no NVIDIA GPU (nvidia-smi not found)");
  if (probe.kind === "failed") return fallback("nvidia-smi failed", probe.message);
  const gpu = [...probe.gpus].sort((a, b) => b.memoryFreeMiB - a.memoryFreeMiB)[0]!;
  const free = mibToGb(gpu.memoryFreeMiB);
  const cuda = probe.cudaVersion === undefined ? undefined : Number.parseFloat(probe.cudaVersion);
  if (cuda !== undefined && cuda < MIN_CUDA) {
    return { ...fallback(`${gpu.name}'s driver ${probe.driverVersion} supports only CUDA ${probe.cudaVersion}`, "update the NVIDIA driver to one supporting CUDA 12 (≥ 525) to use this GPU"), gpu };
  }
  const total = mibToGb(gpu.memoryTotalMiB);
  const what = `${gpu.name} has ${fmt(free)} GB free`;
  if (free >= need.vramGb) return { verdict: "local", reason: `${what} ≥ ${fmt(need.vramGb)} GB needed: use it, no cloud cost`, need, gpu };
  // The risky band judges the card's size, not what is free right now: a desktop 24 GB card shows ~22.8 GB
  // free with a display attached, and the runbook files 24 GB cards under "risky" for a 40 GB need.
  if (total >= RISKY_FRACTION * need.vramGb) {
    return {
      verdict: "risky",
      reason: `${what} of ${fmt(total)} GB, ${Math.round((total / need.vramGb) * 100)}% of ${fmt(need.vramGb)} GB needed: try locally with memory savers, fall back to cloud on OOM`,
      advice: `memory savers: ${MEMORY_SAVERS.join(", ")}`,
      need,
      gpu,
    };
  }
  return { ...fallback(`${gpu.name} has ${fmt(total)} GB, < ${Math.round(RISKY_FRACTION * 100)}% of ${fmt(need.vramGb)} GB needed`), gpu };
}
