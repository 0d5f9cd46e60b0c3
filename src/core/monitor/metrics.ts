/**
 * The control plane's side of docs/metrics-protocol.md: one zod schema per kind we act on. Every line
 * is validated; unknown kinds and unknown fields pass through (the protocol's forward-compatibility
 * rule), so schemas are non-strict and the union falls back to {@link OtherLine}.
 */
import { z } from "zod";

const num = z.number().nullable();
const base = { v: z.literal(1), ts: z.number() };

export const StartLine = z.looseObject({
  ...base,
  kind: z.literal("start"),
  phase: z.string(),
  resumed: z.boolean(),
  step: z.number().int().optional(),
  total_steps: z.number().int().nullable().optional(),
  total_tokens: z.number().nullable().optional(),
  device: z.string().optional(),
  pid: z.number().int().optional(),
});
export const TrainLine = z.looseObject({
  ...base,
  kind: z.literal("train"),
  step: z.number().int(),
  epoch: num.optional(),
  tokens: z.number(),
  loss: num,
  mse: num.optional(),
  l0: num.optional(),
  explained_variance: num.optional(),
  dead_fraction: num.optional(),
  tokens_per_s: num.optional(),
  gpu_mem_gb: num.optional(),
  /** Optional within v1 (percent busy, NVML); absent from older writers. */
  gpu_util: num.optional(),
  eta_s: num.optional(),
  nonfinite: z.array(z.string()).optional(),
});
export const EvalLine = z.looseObject({
  ...base,
  kind: z.literal("eval"),
  // `kiln_sae evaluate` on a finished SAE has no training step: it writes null.
  step: z.number().int().nullable(),
  tokens: z.number(),
  split: z.string(),
  loss: num,
  l0: num.optional(),
  explained_variance: num.optional(),
  nonfinite: z.array(z.string()).optional(),
});
export const CheckpointLine = z.looseObject({
  ...base,
  kind: z.literal("checkpoint_saved"),
  step: z.number().int(),
  path: z.string(),
  sha256: z.string(),
  bytes: z.number().int(),
});
const Prf = z.looseObject({ precision: num, recall: num, f1: num, f2: num.optional(), support: z.number().optional() });
export type PrfScores = z.infer<typeof Prf>;
export const ProbeEvalLine = z.looseObject({
  ...base,
  kind: z.literal("probe_eval"),
  system: z.string(),
  split: z.string(),
  match: z.string().optional(),
  micro: Prf,
  per_label: z.record(z.string(), Prf),
});
export const ArtifactLine = z.looseObject({
  ...base,
  kind: z.literal("artifact"),
  path: z.string(),
  sha256: z.string(),
  bytes: z.number().int(),
  role: z.string().optional(),
});
export const EarlyStopLine = z.looseObject({ ...base, kind: z.literal("early_stop"), step: z.number().int(), reason: z.string() });
export const DoneLine = z.looseObject({
  ...base,
  kind: z.literal("done"),
  phase: z.string(),
  step: z.number().int().nullable().optional(),
  tokens: z.number().optional(),
  final: z.record(z.string(), z.unknown()).optional(),
  reason: z.string(),
});
export const ErrorLine = z.looseObject({ ...base, kind: z.literal("error"), phase: z.string(), message: z.string(), type: z.string().optional() });
export const OtherLine = z.looseObject({ ...base, kind: z.string() });

const KNOWN = {
  start: StartLine,
  train: TrainLine,
  eval: EvalLine,
  checkpoint_saved: CheckpointLine,
  probe_eval: ProbeEvalLine,
  artifact: ArtifactLine,
  early_stop: EarlyStopLine,
  done: DoneLine,
  error: ErrorLine,
} as const;

export type MetricLine =
  | z.infer<typeof StartLine>
  | z.infer<typeof TrainLine>
  | z.infer<typeof EvalLine>
  | z.infer<typeof CheckpointLine>
  | z.infer<typeof ProbeEvalLine>
  | z.infer<typeof ArtifactLine>
  | z.infer<typeof EarlyStopLine>
  | z.infer<typeof DoneLine>
  | z.infer<typeof ErrorLine>
  | (z.infer<typeof OtherLine> & { kind: "other" });
export type TrainMetrics = z.infer<typeof TrainLine>;
export type EvalMetrics = z.infer<typeof EvalLine>;
export type ProbeEval = z.infer<typeof ProbeEvalLine>;

export type ParsedLine = { ok: true; line: MetricLine } | { ok: false; error: string };

const isNum = (v: unknown): boolean => typeof v === "number";
const numOrNull = (v: unknown): boolean => v === null || typeof v === "number";
const optNum = (v: unknown): boolean => v === undefined || numOrNull(v);
const TRAIN_OPTIONAL = ["epoch", "mse", "l0", "explained_variance", "dead_fraction", "tokens_per_s", "gpu_mem_gb", "gpu_util", "eta_s"] as const;

/**
 * {@link TrainLine}'s checks by hand. Train lines are nearly all of a long run's metrics (100k of them for a
 * job the dashboard opens), and zod's generic walk made reading one 30 MB file take most of a second.
 * A line this accepts is one TrainLine accepts; anything else goes to zod, which also words the error.
 */
function isTrainLine(j: Record<string, unknown>): boolean {
  if (j["v"] !== 1 || !isNum(j["ts"]) || !Number.isInteger(j["step"]) || !isNum(j["tokens"]) || !numOrNull(j["loss"])) return false;
  for (const k of TRAIN_OPTIONAL) if (!optNum(j[k])) return false;
  const nf = j["nonfinite"];
  return nf === undefined || (Array.isArray(nf) && nf.every((x) => typeof x === "string"));
}

/** Parse one protocol line. Unknown kinds come back as `kind: "other"` with the original in `raw_kind`. */
export function parseMetricLine(text: string): ParsedLine {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const kind = typeof json === "object" && json !== null && "kind" in json ? (json as { kind: unknown }).kind : undefined;
  if (kind === "train" && isTrainLine(json as Record<string, unknown>)) return { ok: true, line: json as MetricLine };
  const schema = typeof kind === "string" && kind in KNOWN ? KNOWN[kind as keyof typeof KNOWN] : undefined;
  const r = (schema ?? OtherLine).safeParse(json);
  if (!r.success) return { ok: false, error: r.error.issues.map((i) => `${i.path.join(".") || "(line)"}: ${i.message}`).join("; ") };
  if (schema) return { ok: true, line: r.data as MetricLine };
  return { ok: true, line: { ...(r.data as z.infer<typeof OtherLine>), raw_kind: kind, kind: "other" } as MetricLine };
}
