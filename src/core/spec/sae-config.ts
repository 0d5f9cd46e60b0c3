/**
 * The SAE engine config as the job spec carries it under `workload.sae`. Python (`kiln_sae.config`)
 * owns these names, their defaults and their final validation; this mirror exists so a typo or a wrong
 * type is caught on the laptop in the same pass as every other spec problem, before a paid machine
 * boots. Defaults are therefore *not* filled in here (Python fills them, and `aux_k` depends on d_in);
 * the planner reads {@link SAE_DEFAULTS} where it needs a number.
 */
import { z } from "zod";

const int = (min: number, what = "an integer") => z.int({ error: `expected ${what} ≥ ${min}` }).min(min, { error: `expected ${what} ≥ ${min}` });
const positive = (what = "a number") => z.number({ error: `expected ${what} > 0` }).positive({ error: `expected ${what} > 0` });
const nonNegative = () => z.number({ error: "expected a number ≥ 0" }).min(0, { error: "expected a number ≥ 0" });

/** The defaults `kiln_sae.config` applies; kept here only for estimates. */
export const SAE_DEFAULTS = {
  model_kind: "auto",
  context_size: 256,
  architecture: "topk",
  expansion_factor: 8,
  k: 32,
  batch_size: 4096,
  gradient_accumulation_steps: 1,
  warmup_steps: 1000,
  mixed_precision: "auto",
  model_dtype: "auto",
  val_fraction: 0.05,
} as const;

export const datasetSchema = z
  .strictObject({
    path: z.string().min(1).optional().describe("Local file or directory (JSONL, text, parquet, LMSYS export)."),
    name: z.string().min(1).optional().describe("Hugging Face datasets name, e.g. lmsys/lmsys-chat-1m."),
    split: z.string().min(1).optional(),
    format: z.enum(["auto", "lmsys", "jsonl", "text", "parquet"]).optional(),
    text_field: z.string().min(1).optional(),
    pii_filter: z.boolean().optional().describe("Keep only conversations that contain PII (for the probe)."),
    subset_size: int(1).nullable().optional(),
    dedupe: z.boolean().optional(),
    val_fraction: z.number({ error: "expected a number between 0 and 0.5" }).min(0).max(0.5, { error: "expected a number between 0 and 0.5" }).optional(),
  })
  .superRefine((d, ctx) => {
    if ((d.path === undefined) === (d.name === undefined)) {
      ctx.addIssue({ code: "custom", path: [], message: "set exactly one of `path` (local data) or `name` (a Hugging Face dataset)" });
    }
  });

export const modelShapeSchema = z
  .strictObject({
    d_model: int(1),
    n_layers: int(1),
    params: positive("a parameter count").describe("Total parameters of the base model."),
  })
  .describe("Override the planner's model-shape table for a base model it does not know.");

export const saeConfigSchema = z
  .strictObject({
    base_model: z.string({ error: "expected a Hugging Face model id, a local directory or `minilm`" }).min(1).describe("HF id, local dir, or the alias `minilm`."),
    model_kind: z.enum(["auto", "causal", "encoder"]).optional(),
    layer: int(0).describe("Residual stream after block `layer` (0-based)."),
    hook: z.literal("resid_post").optional(),
    context_size: int(8).optional(),
    model_dtype: z.enum(["auto", "bf16", "fp32"]).optional(),
    dataset: datasetSchema,
    architecture: z.enum(["topk", "relu"]).optional(),
    latents: int(1).optional(),
    expansion_factor: positive().optional(),
    k: int(1).optional(),
    aux_k: int(1).nullable().optional(),
    aux_k_coefficient: nonNegative().optional(),
    dead_tokens_threshold: int(0).optional(),
    l1_coefficient: nonNegative().optional(),
    epochs: positive().optional(),
    tokens: int(1).optional(),
    batch_size: int(1).optional().describe("Tokens per optimiser step."),
    gradient_accumulation_steps: int(1).optional(),
    learning_rate: z.union([z.literal("auto"), positive()], { error: 'expected a number > 0 or "auto"' }).optional(),
    warmup_steps: int(0).optional(),
    lr_decay_fraction: z
      .number({ error: "expected a number between 0 and 1" })
      .min(0, { error: "expected a number between 0 and 1" })
      .max(1, { error: "expected a number between 0 and 1" })
      .optional()
      .describe("Share of the final steps over which the learning rate decays linearly to 0 (default 0.2; 0 = constant to the end)."),
    grad_clip: positive().optional(),
    mixed_precision: z.enum(["auto", "bf16", "fp32"]).optional(),
    compile: z.boolean().optional(),
    normalize_activations: z.boolean().optional(),
    seed: int(0).optional(),
    device: z.enum(["auto", "cpu", "cuda"]).optional(),
    save_every: positive().optional(),
    save_every_steps: int(1).nullable().optional(),
    keep_checkpoints: int(1).optional(),
    log_every: int(1).optional(),
    // Required by kiln_sae; optional here because Kiln fills it (see engineConfig).
    output_dir: z.string().min(1).optional(),
    resume_from: z.string().min(1).optional().describe('"auto", "none" or a checkpoint path.'),
    activation_cache: z.enum(["auto", "memory", "disk", "none"]).optional(),
    shuffle_buffer_tokens: int(2).optional().describe("activation_cache none: rows held by the streaming shuffle buffer (at least 2 batches per rank)."),
    early_stopping: z.strictObject({ min_epochs: nonNegative(), patience: int(1), delta: nonNegative() }).nullable().optional(),
    wandb: z
      .strictObject({ project: z.string().min(1), run_name: z.string().min(1).optional(), mode: z.enum(["online", "offline", "disabled"]) })
      .nullable()
      .optional(),
    model_shape: modelShapeSchema.optional(),
  })
  .superRefine((c, ctx) => {
    const arch = c.architecture ?? SAE_DEFAULTS.architecture;
    if (c.latents !== undefined && c.expansion_factor !== undefined) {
      ctx.addIssue({ code: "custom", path: ["latents"], message: "set either `latents` or `expansion_factor`, not both" });
    }
    if ((c.epochs === undefined) === (c.tokens === undefined)) {
      const message = c.epochs === undefined ? "set one of `epochs` or `tokens` (how long to train)" : "set either `epochs` or `tokens`, not both";
      ctx.addIssue({ code: "custom", path: ["epochs"], message });
    }
    if (arch === "relu" && c.k !== undefined) ctx.addIssue({ code: "custom", path: ["k"], message: "`k` applies to architecture topk only" });
    const k = c.k ?? SAE_DEFAULTS.k;
    if (arch === "topk" && c.latents !== undefined && k > c.latents) {
      ctx.addIssue({ code: "custom", path: ["k"], message: `must be ≤ latents (${c.latents}), got ${k}` });
    }
    const batch = c.batch_size ?? SAE_DEFAULTS.batch_size;
    const accumulation = c.gradient_accumulation_steps ?? SAE_DEFAULTS.gradient_accumulation_steps;
    if (batch % accumulation !== 0) {
      ctx.addIssue({ code: "custom", path: ["gradient_accumulation_steps"], message: `must divide batch_size (${batch}), got ${accumulation}` });
    }
    if (arch === "topk" && c.l1_coefficient !== undefined) {
      ctx.addIssue({ code: "custom", path: ["l1_coefficient"], message: "`l1_coefficient` applies to architecture relu only" });
    }
  });

export type SaeConfig = z.output<typeof saeConfigSchema>;
export type ModelShape = z.output<typeof modelShapeSchema>;

/** Keys the job spec adds for the planner that `kiln_sae.config` (strict) does not accept. */
const KILN_ONLY_KEYS = ["model_shape"] as const;

/**
 * The config to hand to `python -m kiln_sae train --config`: `workload.sae` without Kiln-only keys, and
 * with `output_dir` (which kiln_sae requires) defaulted to `outputs/<job name>`.
 *
 * @example writeFile("sae.yaml", stringify(engineConfig(spec.workload.sae, spec.name)))
 */
export function engineConfig(sae: SaeConfig, jobName: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...sae, output_dir: sae.output_dir ?? `outputs/${jobName}` };
  for (const k of KILN_ONLY_KEYS) delete out[k];
  return out;
}
