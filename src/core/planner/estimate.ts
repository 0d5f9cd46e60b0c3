/**
 * How big and how long a job is, from its spec alone: VRAM need and FLOPs → hours per GPU type.
 * Every factor is a named constant with the reason for its value, because an estimate the user cannot
 * audit is one they cannot trust with a budget.
 */
import { UserError } from "../../base/errors.js";
import { GPU_MODELS } from "../gpu/names.js";
import { SAE_DEFAULTS, type SaeConfig } from "../spec/sae-config.js";
import { type ResolvedModel, resolveModel } from "./models.js";

/** Model FLOPs utilisation: SAE training mixes a frozen LM forward with a wide, memory-bound top-k step. */
export const MFU = 0.35;
/**
 * A CPU core's sustained fp32 rate in SAE training, overheads included. Measured: a 1024×384×3072 fp32
 * matmul ran at 12 GFLOP/s on 2 threads of the shared 2-core dev machine under load (~2× that idle);
 * training adds tokenisation, top-k and Python overhead, so 10 per core.
 */
export const CPU_GFLOPS_PER_CORE = 10;
/** CUDA context, cuBLAS workspaces and allocator fragmentation: a fixed part plus a share. */
export const VRAM_OVERHEAD_GB = 1.5;
export const VRAM_OVERHEAD_FRACTION = 0.1;
/** LM forward working set per token, in units of d_model × dtype bytes (residual, attention, 3.5× MLP). */
const LM_ACTIVATION_FACTOR = 20;

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
  total: number;
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

export interface Estimate {
  model: { id: string; dModel: number; layer: number; paramsToLayer: number; source: ResolvedModel["source"] };
  nLatents: number;
  k: number;
  vram: VramEstimate;
  tokens: TokenEstimate;
  flopsPerToken: { lm: number; sae: number };
  totalFlops: number;
  /** Training hours per canonical GPU type, at {@link MFU}. */
  hoursByGpu: Record<string, number>;
  cpuHours: number;
  cpuCores: number;
}

export interface EstimateInputs {
  /** Size of `dataset.path` in bytes, when it is a local file the caller could stat. */
  datasetBytes?: number;
  cpuCores?: number;
}

export function estimateTokens(sae: SaeConfig, datasetBytes: number | undefined): TokenEstimate {
  if (sae.tokens !== undefined) return { total: sae.tokens, note: "workload.sae.tokens" };
  const epochs = sae.epochs ?? 1;
  const train = 1 - (sae.dataset.val_fraction ?? SAE_DEFAULTS.val_fraction);
  const known = sae.dataset.name ? KNOWN_DATASETS[sae.dataset.name.toLowerCase()] : undefined;
  let perEpoch: number;
  let note: string;
  if (known) {
    const records = sae.dataset.subset_size ?? known.records;
    perEpoch = records * known.tokensPerRecord;
    note = `${thousands(records)} records × ${known.tokensPerRecord} tokens (${known.note})`;
  } else if (datasetBytes !== undefined) {
    const share = sae.dataset.format === "text" ? 1 : JSONL_TEXT_SHARE;
    perEpoch = (datasetBytes * share) / BYTES_PER_TOKEN;
    note = `${(datasetBytes / 1e6).toFixed(1)} MB of data at ~${BYTES_PER_TOKEN} bytes/token`;
  } else if (sae.dataset.subset_size) {
    perEpoch = sae.dataset.subset_size * (sae.context_size ?? SAE_DEFAULTS.context_size);
    note = `${thousands(sae.dataset.subset_size)} records × context_size (an upper bound)`;
  } else {
    throw new UserError(`cannot estimate the size of dataset "${sae.dataset.name ?? sae.dataset.path}"`, {
      exitCode: 2,
      hint: "set workload.sae.tokens, or dataset.subset_size, so the planner can price the run",
    });
  }
  perEpoch *= train;
  return { total: Math.round(perEpoch * epochs), perEpoch: Math.round(perEpoch), note: `${epochs} epochs × ${note} × ${Math.round(train * 100)}% train split` };
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
  const saeStateGb = ((2 * d * n + n + d) * 4 * 4) / GB;
  // Per step: pre-activations, their gradient and top-k scratch (3 × n), plus input/recon/grad (4 × d), fp32;
  // and the LM forward working set for one batch of tokens.
  const activationsGb = (batch * (3 * n + 4 * d) * 4 + batch * d * dtypeBytes * LM_ACTIVATION_FACTOR) / GB;
  const sub = weightsGb + saeStateGb + activationsGb;
  const overheadGb = VRAM_OVERHEAD_GB + VRAM_OVERHEAD_FRACTION * sub;
  const vram = { weightsGb, saeStateGb, activationsGb, overheadGb, totalGb: sub + overheadGb };

  // LM: 2 FLOPs per block parameter per token (embeddings are a lookup, not a matmul), plus attention
  // scores and mixing, 4·ctx·d per block. SAE (TopK): encoder forward 2dn and weight gradient 2dn (no input
  // gradient: activations are leaves), sparse decoder and aux-k ≈ 10kd. ReLU: dense decoder too, 10dn.
  const ctx = sae.context_size ?? SAE_DEFAULTS.context_size;
  const blockParams = model.paramsToLayer - model.vocab * d;
  const lm = 2 * blockParams + (sae.layer + 1) * 4 * ctx * d;
  const saeFlops = topk ? 4 * d * n + 10 * k * d : 10 * d * n;
  const tokens = estimateTokens(sae, inputs.datasetBytes);
  const totalFlops = (lm + saeFlops) * tokens.total;
  const hoursByGpu = Object.fromEntries(GPU_MODELS.map((g) => [g.name, totalFlops / (g.bf16Tflops * 1e12 * MFU) / 3600]));
  const cpuCores = inputs.cpuCores ?? 2;
  const cpuHours = totalFlops / (cpuCores * CPU_GFLOPS_PER_CORE * 1e9) / 3600;
  return {
    model: { id: model.id, dModel: d, layer: sae.layer, paramsToLayer: model.paramsToLayer, source: model.source },
    nLatents: n,
    k,
    vram,
    tokens,
    flopsPerToken: { lm, sae: saeFlops },
    totalFlops,
    hoursByGpu,
    cpuHours,
    cpuCores,
  };
}
