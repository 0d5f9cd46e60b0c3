/**
 * What a job needs from a machine, derived from its spec (and the planner's VRAM estimate when the spec
 * says `min_vram_gb: auto`). Thresholds not in the spec are stated here with their reason.
 */
import type { JobSpec } from "../spec/job-spec.js";
import type { MachineNeed } from "./types.js";

/** workload/pyproject.toml: `torch>=2.4`. */
export const WORKLOAD_MIN_TORCH = "2.4";

/**
 * Disk for a GPU job when nothing better is known: a 8B model in bf16 (16 GB) in the Hugging Face cache,
 * a few SAE checkpoints and the activation cache's spill; 40 GiB. CPU jobs (the demo: MiniLM, packaged)
 * need little more than their outputs.
 */
export const DEFAULT_GPU_DISK_GB = 40;
export const DEFAULT_CPU_DISK_GB = 2;

export interface NeedOptions {
  /** The planner's estimate, used when `resources.min_vram_gb` is `auto`. */
  estimatedVramGb?: number;
  /** Set when the plan runs the job on CPU (e.g. "the job is small enough for CPU"). */
  cpuOnly?: string;
  /** An existing directory on the machine's job filesystem (default "."). */
  diskPath?: string;
  diskGb?: number;
  /** Interpreter to check; default the spec's workload.python, else python3. */
  python?: string;
  afterSetup?: boolean;
  /** The laptop's environment, for HF_TOKEN. */
  env?: NodeJS.ProcessEnv;
}

export function needFromSpec(spec: JobSpec, opts: NeedOptions = {}): MachineNeed {
  const w = spec.workload;
  const sae = w.type === "sae-pii" ? w.sae : undefined;
  const cpuOnly = opts.cpuOnly ?? (sae?.device === "cpu" ? "workload.sae.device is cpu" : undefined);
  const specVram = spec.resources.min_vram_gb;
  const vram = typeof specVram === "number" ? specVram : (opts.estimatedVramGb ?? 1);
  const precision = sae?.mixed_precision ?? "auto";
  const env = opts.env ?? {};
  const need: MachineNeed = {
    gpu: cpuOnly !== undefined ? { cpuOnly } : { count: spec.resources.count, minVramGb: Math.ceil(vram), minFreeVramGb: Math.ceil(vram) },
    minTorch: WORKLOAD_MIN_TORCH,
    bf16: precision === "bf16" || sae?.model_dtype === "bf16" ? "required" : precision === "fp32" ? "no" : "preferred",
    diskGb: opts.diskGb ?? (cpuOnly !== undefined ? DEFAULT_CPU_DISK_GB : DEFAULT_GPU_DISK_GB),
    diskPath: opts.diskPath ?? ".",
    python: opts.python ?? (w.type === "sae-pii" ? w.python : undefined) ?? "python3",
    afterSetup: opts.afterSetup ?? true,
    hfTokenProvided: Boolean(env["HF_TOKEN"] || env["HUGGING_FACE_HUB_TOKEN"]),
  };
  if (sae && sae.base_model !== "minilm") need.baseModel = sae.base_model;
  return need;
}
