/**
 * How big and how long a job is, from its spec alone: VRAM need and FLOPs → hours per GPU type.
 * Every factor is a named constant with the reason for its value, because an estimate the user cannot
 * audit is one they cannot trust with a budget.
 */
import { UserError } from "../../base/errors.js";
import { GPU_MODELS } from "../gpu/names.js";
import { SAE_DEFAULTS, type SaeConfig } from "../spec/sae-config.js";
import { type ResolvedModel, resolveModel } from "./models.js";

/**
 * Model FLOPs utilisation, one row per kind of work: the share of a GPU's dense bf16 peak
 * (src/providers/gpu-models.ts, per datasheet) that the work sustains. Hours on a GPU = FLOPs / (peak × MFU).
 *
 * Both values are ASSUMPTIONS: no GPU measurement of Kiln's engine exists yet. bench/gpu_reference_job.py
 * measures both on a GPU; put its numbers here (and change `basis` to "measured", with the GPU and date).
 * The same MFU is applied to every GPU; consumer cards and memory-bound phases may do worse than this.
 */
export const MFU = {
  /**
   * The frozen LM's forward (activation extraction): dense bf16 GEMMs over 64k-token batches
   * (pipeline.batch_tokens_for), no backward, attention at context 256 a few % of the FLOPs — the regime
   * where a transformers prefill reaches about half the dense peak; eager norms, RoPE and SiLU take the rest.
   */
  lm: { value: 0.5, basis: "assumed: no GPU measurement yet" },
  /**
   * The SAE step, against the 2·d·n + 10·k·d count below. Only the encoder matmul (2·d·n) is a big GEMM
   * (~70% of peak); the rest is memory-bound: fp32 Adam reads and writes ~28 bytes per SAE parameter per step
   * (7.5 GB for d 4096 × n 32768), top-k over n, and the sparse backward writes dense fp32 [n, d] gradients.
   * On an A100 that is ~5 ms of GEMM, ~5 ms of Adam and ~5 ms of the rest per 4096-token step: ~22%.
   */
  sae: { value: 0.2, basis: "assumed: no GPU measurement yet" },
} as const;
export const MFU_LM = MFU.lm.value;
export const MFU_SAE = MFU.sae.value;
/**
 * A CPU core's sustained fp32 rate in SAE training, overheads included. Measured: a 1024×384×3072 fp32
 * matmul ran at 12 GFLOP/s on 2 threads of the shared 2-core dev machine under load (~2× that idle);
 * training adds tokenisation, top-k and Python overhead, so 10 per core. Used for the LM forward too.
 */
export const CPU_GFLOPS_PER_CORE = 10;
/** CUDA context, cuBLAS workspaces and allocator fragmentation: a fixed part plus a share. */
export const VRAM_OVERHEAD_GB = 1.5;
export const VRAM_OVERHEAD_FRACTION = 0.1;
/** LM forward working set per token, in units of d_model × dtype bytes (residual, attention, 3.5× MLP). */
const LM_ACTIVATION_FACTOR = 20;

/**
 * The activation cache (kiln_sae.cache, kiln_sae.pipeline): `auto` keeps it in RAM when it fits half the RAM
 * the OS reports available (pipeline.memory_budget_bytes), else in `<output_dir>/activations` on disk.
 */
export const CACHE_RAM_FRACTION = 0.5;
/**
 * Share of the machine's RAM the page cache can give a disk cache while the SAE trains (the model is freed
 * by then; the OS, the Python process and CUDA's host allocations take the rest). Rows found there are free.
 */
export const PAGE_CACHE_FRACTION = 0.8;
/**
 * Useful GB/s reading a disk cache bigger than the page cache back, each epoch. The engine reads a disk cache
 * in a block-shuffled order (kiln_sae.batches.BlockShuffledOrder): whole 32 MiB blocks with sequential
 * preads, 1 GiB windows, the next window prefetched on a thread while the current one trains (so this time
 * overlaps the SAE step: runTime takes the slower of the two).
 * Measured (bench/results/cache_read.json, the dev machine's virtio disk, pages evicted, load ~6.3 on 2 cores):
 * 0.32-0.38 GB/s end to end, capped by the batch gathers' page faults on that VM (window loads alone
 * 0.39-0.58 GB/s; the disk's plain sequential read 1.1-1.3 GB/s), vs 0.010-0.013 GB/s for the old
 * random-row mmap reads with a cold page cache (25-37x).
 * Assumed, not measured: a cloud GPU machine's local NVMe gives one thread of 8 MiB preads 2+ GB/s; 1 so
 * the estimate is not short.
 */
export const DISK_CACHE_READ_GBPS = 1;
/**
 * Writing a disk cache: shards are written and fsynced inside the extraction loop. Cloud local NVMe sustains
 * 1-3 GB/s sequential (the dev machine's virtio disk: 0.24 GB/s with fsync); 1 so the estimate is not short.
 */
export const DISK_CACHE_WRITE_GBPS = 1;
/** kiln_sae.config defaults the planner needs (not in SAE_DEFAULTS, which the spec owns). */
const ENGINE_DEFAULTS = { activation_cache: "auto", keep_checkpoints: 3 } as const;

/** Datasets whose size the planner knows: records and mean tokens per record. */
export const KNOWN_DATASETS: Record<string, { records: number; tokensPerRecord: number; note: string }> = {
  // LMSYS-Chat-1M paper: 2.0 turns per conversation, ~69.5 prompt + ~214.5 response tokens per turn.
  "lmsys/lmsys-chat-1m": { records: 1_000_000, tokensPerRecord: 570, note: "LMSYS-Chat-1M: ~570 tokens per conversation" },
};
/** Characters per token for English chat text, and the share of a JSONL file that is text, not syntax. */
const BYTES_PER_TOKEN = 4;
const JSONL_TEXT_SHARE = 0.75;

/**
 * 1234567 → "1,234,567". Not toLocaleString: its first call loads ICU data, ~60 ms of `kiln plan`'s start.
 */
export const thousands = (n: number): string => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

export interface TokenEstimate {
  /** Tokens the SAE trains on: epochs × one pass, or `workload.sae.tokens`. */
  total: number;
  /** Training-split tokens in one pass over the data: what one extraction covers. Absent when unknown. */
  perEpoch?: number;
  note: string;
}

export interface VramEstimate {
  weightsGb: number;
  saeStateGb: number;
  activationsGb: number;
  overheadGb: number;
  totalGb: number;
}

export type CacheMode = "auto" | "memory" | "disk" | "none";

export interface Estimate {
  model: { id: string; dModel: number; layer: number; paramsToLayer: number; source: ResolvedModel["source"] };
  nLatents: number;
  k: number;
  vram: VramEstimate;
  tokens: TokenEstimate;
  /** Validation-split tokens: extracted once (always cached) and run through the SAE once per epoch. */
  valTokens: number;
  /** Passes over the training split (fractional with a `tokens` budget). */
  epochs: number;
  /** LM forward per extracted token; SAE training step per token; SAE forward per validation token. */
  flopsPerToken: { lm: number; sae: number; saeEval: number };
  cache: {
    mode: CacheMode;
    /** Training-split tokens the cache holds (one pass). */
    tokens: number;
    /** Bytes per value: the model dtype on a GPU (cache.py stores what the model computes in). */
    dtype: "bf16" | "fp32";
    /** tokens × d × dtype bytes, decimal GB, on a GPU machine. */
    sizeGb: number;
  };
  /** Disk the job fills besides the cache: the model download and `keep_checkpoints` SAE checkpoints. */
  diskNeedGb: number;
  /** Hours per canonical GPU type when the machine's RAM holds the cache (streamed when activation_cache: none). */
  hoursByGpu: Record<string, number>;
  cpuHours: number;
  cpuCores: number;
}

export interface EstimateInputs {
  /** Size of `dataset.path` in bytes, when it is a local file the caller could stat. */
  datasetBytes?: number;
  cpuCores?: number;
}

/** Tokens in the whole dataset (all splits), when the planner can tell. */
function datasetTokens(sae: SaeConfig, datasetBytes: number | undefined): { tokens: number; note: string } | undefined {
  const known = sae.dataset.name ? KNOWN_DATASETS[sae.dataset.name.toLowerCase()] : undefined;
  if (known) {
    const records = sae.dataset.subset_size ?? known.records;
    return { tokens: records * known.tokensPerRecord, note: `${thousands(records)} records × ${known.tokensPerRecord} tokens (${known.note})` };
  }
  if (datasetBytes !== undefined) {
    const share = sae.dataset.format === "text" ? 1 : JSONL_TEXT_SHARE;
    return { tokens: (datasetBytes * share) / BYTES_PER_TOKEN, note: `${(datasetBytes / 1e6).toFixed(1)} MB of data at ~${BYTES_PER_TOKEN} bytes/token` };
  }
  if (sae.dataset.subset_size) {
    return { tokens: sae.dataset.subset_size * (sae.context_size ?? SAE_DEFAULTS.context_size), note: `${thousands(sae.dataset.subset_size)} records × context_size (an upper bound)` };
  }
  return undefined;
}

export function estimateTokens(sae: SaeConfig, datasetBytes: number | undefined): TokenEstimate {
  const train = 1 - (sae.dataset.val_fraction ?? SAE_DEFAULTS.val_fraction);
  const data = datasetTokens(sae, datasetBytes);
  if (sae.tokens !== undefined) return { total: sae.tokens, ...(data ? { perEpoch: Math.round(data.tokens * train) } : {}), note: "workload.sae.tokens" };
  if (!data) {
    throw new UserError(`cannot estimate the size of dataset "${sae.dataset.name ?? sae.dataset.path}"`, {
      exitCode: 2,
      hint: "set workload.sae.tokens, or dataset.subset_size, so the planner can price the run",
    });
  }
  const epochs = sae.epochs ?? 1;
  const perEpoch = data.tokens * train;
  return { total: Math.round(perEpoch * epochs), perEpoch: Math.round(perEpoch), note: `${epochs} epochs × ${data.note} × ${Math.round(train * 100)}% train split` };
}

/** The estimate for an SAE workload. Throws UserError for unknown models/datasets (with the fix). */
export function estimateSae(sae: SaeConfig, inputs: EstimateInputs = {}): Estimate {
  const model = resolveModel(sae.base_model, sae.layer, sae.model_shape);
  const d = model.dModel;
  const n = sae.latents ?? Math.round((sae.expansion_factor ?? SAE_DEFAULTS.expansion_factor) * d);
  const topk = (sae.architecture ?? SAE_DEFAULTS.architecture) === "topk";
  const k = topk ? (sae.k ?? SAE_DEFAULTS.k) : n;
  const batch = (sae.batch_size ?? SAE_DEFAULTS.batch_size) / (sae.gradient_accumulation_steps ?? 1);
  const dtypeBytes = sae.model_dtype === "fp32" ? 4 : 2;
  const GB = 1e9;

  const weightsGb = (model.paramsToLayer * dtypeBytes) / GB;
  // fp32 weights + gradients + Adam's two moments: 4 copies of every SAE parameter.
  const saeParams = 2 * d * n + n + d;
  const saeStateGb = (saeParams * 4 * 4) / GB;
  // Per step: pre-activations, their gradient and top-k scratch (3 × n), plus input/recon/grad (4 × d), fp32;
  // and the LM forward working set for one batch of tokens.
  const activationsGb = (batch * (3 * n + 4 * d) * 4 + batch * d * dtypeBytes * LM_ACTIVATION_FACTOR) / GB;
  const sub = weightsGb + saeStateGb + activationsGb;
  const overheadGb = VRAM_OVERHEAD_GB + VRAM_OVERHEAD_FRACTION * sub;
  const vram = { weightsGb, saeStateGb, activationsGb, overheadGb, totalGb: sub + overheadGb };

  // LM: 2 FLOPs per block parameter per token (embeddings are a lookup, not a matmul), plus attention
  // scores and mixing, 4·ctx·d per block. SAE (TopK, kiln_sae.sparse_ops): the encoder's dense forward 2dn
  // picks the k latents; everything else touches only them — sparse decode and its two gradients, the
  // encoder's ∂W_enc columns and ∂x: ≈ 10kd. (AuxK adds a sparse decode over dead latents while any exist.)
  // ReLU: dense, 10dn. Validation runs the SAE forward only: 2dn + 2kd (TopK), 4dn (ReLU).
  const ctx = sae.context_size ?? SAE_DEFAULTS.context_size;
  const blockParams = model.paramsToLayer - model.vocab * d;
  const lm = 2 * blockParams + (sae.layer + 1) * 4 * ctx * d;
  const saeFlops = topk ? 2 * d * n + 10 * k * d : 10 * d * n;
  const saeEval = topk ? 2 * d * n + 2 * k * d : 4 * d * n;
  const tokens = estimateTokens(sae, inputs.datasetBytes);
  // With a `tokens` budget on data of unknown size, assume the budget is one pass.
  const pass = tokens.perEpoch ?? tokens.total;
  const valFraction = sae.dataset.val_fraction ?? SAE_DEFAULTS.val_fraction;
  const valTokens = Math.round((pass * valFraction) / (1 - valFraction));
  const gpuDtype = sae.model_dtype === "fp32" ? "fp32" : "bf16"; // model_dtype auto = bf16 on CUDA
  const cache = { mode: sae.activation_cache ?? ENGINE_DEFAULTS.activation_cache, tokens: pass, dtype: gpuDtype, sizeGb: (pass * d * (gpuDtype === "fp32" ? 4 : 2)) / GB } as const;
  // The Hub checkpoints of these models are bf16 safetensors, downloaded whole; an SAE checkpoint holds
  // the fp32 weights and Adam's two moments.
  const checkpointGb = (saeParams * 4 * 3) / GB;
  const diskNeedGb = (model.params * 2) / GB + (sae.keep_checkpoints ?? ENGINE_DEFAULTS.keep_checkpoints) * checkpointGb;

  const e: Estimate = {
    model: { id: model.id, dModel: d, layer: sae.layer, paramsToLayer: model.paramsToLayer, source: model.source },
    nLatents: n,
    k,
    vram,
    tokens,
    valTokens,
    epochs: tokens.total / pass,
    flopsPerToken: { lm, sae: saeFlops, saeEval },
    cache,
    diskNeedGb,
    hoursByGpu: {},
    cpuHours: 0,
    cpuCores: inputs.cpuCores ?? 2,
  };
  const roomy: MachineSpace = { ramGb: Number.POSITIVE_INFINITY, diskGb: Number.POSITIVE_INFINITY, basis: "RAM that holds the cache" };
  e.hoursByGpu = Object.fromEntries(GPU_MODELS.map((g) => [g.name, runTime(e, gpuDevice(g.bf16Tflops), roomy).hours]));
  e.cpuHours = runTime(e, cpuDevice(e.cpuCores, sae.model_dtype), roomy).hours;
  return e;
}

/** What the machine offers the activation cache. */
export interface MachineSpace {
  /** Host RAM, decimal GB. */
  ramGb: number;
  /** Disk the job can fill (cloud: the machine's disk less its OS image; this machine: free space), decimal GB. */
  diskGb: number;
  /** Where the numbers come from, for the plan ("catalog", "live", "this machine", "assumed …"). */
  basis: string;
}

/** A device's sustained rates for the two kinds of work, FLOP/s, and the dtype the cache is stored in. */
export interface Device {
  lmFlops: number;
  saeFlops: number;
  cacheDtype: "bf16" | "fp32";
}

export const gpuDevice = (bf16Tflops: number, cacheDtype: "bf16" | "fp32" = "bf16"): Device => ({
  lmFlops: bf16Tflops * 1e12 * MFU_LM,
  saeFlops: bf16Tflops * 1e12 * MFU_SAE,
  cacheDtype,
});

/** model_dtype auto is fp32 on the CPU, so the cache is twice a GPU's. */
export const cpuDevice = (cores: number, modelDtype?: string): Device => ({
  lmFlops: cores * CPU_GFLOPS_PER_CORE * 1e9,
  saeFlops: cores * CPU_GFLOPS_PER_CORE * 1e9,
  cacheDtype: modelDtype === "bf16" ? "bf16" : "fp32",
});

export interface CachePlacement {
  /** memory / disk: extracted once; stream: the LM forward runs again every epoch. */
  location: "memory" | "disk" | "stream";
  sizeGb: number;
  /** False when the engine will put it where it does not fit (activation_cache memory/disk forced, or auto with no room anywhere). */
  fits: boolean;
  why: string;
  machine: MachineSpace;
  /** Disk the job fills with the cache on disk: the cache, the model download and the checkpoints (decimal GB). */
  jobDiskGb: number;
}

/** Where kiln_sae puts the training split's activations on `machine` (pipeline.build_sources / cache_split). */
export function placeCache(e: Estimate, machine: MachineSpace, dtype: "bf16" | "fp32" = e.cache.dtype): CachePlacement {
  const sizeGb = (e.cache.tokens * e.model.dModel * (dtype === "fp32" ? 4 : 2)) / 1e9;
  const ramGb = CACHE_RAM_FRACTION * machine.ramGb;
  const diskGb = machine.diskGb - e.diskNeedGb;
  const inRam = sizeGb <= ramGb;
  const onDisk = sizeGb <= diskGb;
  const room = (gb: number) => (Number.isFinite(gb) ? `${Math.max(0, gb).toFixed(0)} GB` : "enough");
  const at = (location: CachePlacement["location"], fits: boolean, why: string): CachePlacement => ({ location, sizeGb, fits, why, machine, jobDiskGb: sizeGb + e.diskNeedGb });
  switch (e.cache.mode) {
    case "none":
      return at("stream", true, "activation_cache: none");
    case "memory":
      return at("memory", inRam, inRam ? "activation_cache: memory" : `activation_cache: memory, but half the RAM is ${room(ramGb)}`);
    case "disk":
      return at("disk", onDisk, onDisk ? "activation_cache: disk" : `activation_cache: disk, but only ${room(diskGb)} of disk is free for it`);
    default:
      if (inRam) return at("memory", true, `fits half the RAM (${room(ramGb)})`);
      if (onDisk) return at("disk", true, `over half the RAM (${room(ramGb)}), fits the disk (${room(diskGb)} free)`);
      return at("stream", false, `fits neither half the RAM (${room(ramGb)}) nor the disk (${room(diskGb)} free)`);
  }
}

export interface RunTime {
  hours: number;
  /** The LM forward (once when cached, every epoch when streamed), plus writing a disk cache. */
  extractionHours: number;
  /** SAE steps and validation, plus reading a disk cache's rows the page cache does not hold. */
  saeHours: number;
  cache: CachePlacement;
}

/**
 * Hours of an SAE job on `device` in `machine`: the frozen LM's forward runs once per extracted token when
 * the activation cache holds them, every epoch when it streams; the SAE trains on every epoch's tokens.
 * Early stopping is not assumed.
 *
 * @example
 *   const t = runTime(estimate, gpuDevice(312), { ramGb: 215, diskGb: 520, basis: "catalog" });
 *   t.cache.location; // "disk" for the reference job: 444 GB is over half the RAM
 */
export function runTime(e: Estimate, device: Device, machine: MachineSpace): RunTime {
  const cache = placeCache(e, machine, device.cacheDtype);
  const lmTokens = (cache.location === "stream" ? e.tokens.total : e.cache.tokens) + e.valTokens;
  let extractionS = (e.flopsPerToken.lm * lmTokens) / device.lmFlops;
  const evalPasses = Math.max(1, Math.ceil(e.epochs));
  let saeS = (e.flopsPerToken.sae * e.tokens.total + e.flopsPerToken.saeEval * e.valTokens * evalPasses) / device.saeFlops;
  if (cache.location === "disk") {
    extractionS += cache.sizeGb / DISK_CACHE_WRITE_GBPS;
    const missed = Math.max(0, 1 - (PAGE_CACHE_FRACTION * machine.ramGb) / cache.sizeGb);
    // The reader prefetches the next window on a thread while the current one trains, so reads and SAE
    // steps overlap: the slower of the two sets the pace (plus the first window's load, negligible).
    saeS = Math.max(saeS, (e.epochs * cache.sizeGb * missed) / DISK_CACHE_READ_GBPS);
  }
  return { hours: (extractionS + saeS) / 3600, extractionHours: extractionS / 3600, saeHours: saeS / 3600, cache };
}
