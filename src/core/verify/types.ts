/**
 * The machine verification checklist's vocabulary: what a job needs from a machine
 * ({@link MachineNeed}), what one check found ({@link CheckResult}), and the error that stops a run
 * before training when any check failed ({@link MachineNotReadyError}).
 */
import { KilnError } from "../../base/errors.js";

export type CheckStatus = "pass" | "warn" | "fail" | "skip";

export type CheckId = "gpu" | "vram_total" | "vram_free" | "driver" | "python" | "torch" | "torch_cuda" | "bf16" | "disk" | "workload" | "hf_access";

export interface CheckResult {
  id: CheckId;
  /** Human name of the check, e.g. "VRAM free". */
  title: string;
  status: CheckStatus;
  /** What was measured, with units ("39.4 GiB on GPU 0"); for `skip`, why it was skipped. */
  measured: string;
  /** What the job needs ("≥ 30 GiB"), when there is a threshold. */
  expected?: string;
  /** One line from the runbook's troubleshooting guide, for `fail` and `warn`. */
  advice?: string;
}

export interface MachineNeed {
  /** GPU requirements, or why the job runs on CPU (then every GPU check is `skip`). */
  gpu: { count: number; minVramGb: number; minFreeVramGb: number } | { cpuOnly: string };
  /** Lowest torch the workload supports (workload/pyproject.toml: torch>=2.4). */
  minTorch: string;
  /** `required` when the spec asks for bf16, `preferred` when it may fall back to fp32. */
  bf16: "required" | "preferred" | "no";
  /** Space for model weights, activations and checkpoints on {@link diskPath}. */
  diskGb: number;
  /** An existing directory on the machine's job filesystem. */
  diskPath: string;
  /** The interpreter the job will run with. */
  python: string;
  /**
   * Whether the workload is expected to be installed already. Before setup, an old or missing torch
   * is only a warning (setup installs one in a venv) and the import check is skipped.
   */
  afterSetup: boolean;
  /** Hugging Face model id, when the base model is downloaded from the Hub. */
  baseModel?: string;
  /** Kiln will hand the job a Hugging Face token (HF_TOKEN set on the laptop). */
  hfTokenProvided: boolean;
}

export const isCpuOnly = (n: MachineNeed): n is MachineNeed & { gpu: { cpuOnly: string } } => "cpuOnly" in n.gpu;

/**
 * A machine failed the checklist: the run stops before training starts (and a cloud machine is torn
 * down by the caller). Carries every result, so the caller can print the table and record it.
 */
export class MachineNotReadyError extends KilnError {
  override readonly name = "MachineNotReadyError";
  readonly results: readonly CheckResult[];
  constructor(where: string, results: readonly CheckResult[]) {
    const failed = results.filter((r) => r.status === "fail");
    const lines = failed.map((r) => `  ✗ ${r.title}: ${r.measured}${r.expected ? ` (need ${r.expected})` : ""}${r.advice ? `\n    → ${r.advice}` : ""}`);
    super("machine_not_ready", `machine ${where} failed ${failed.length} verification check${failed.length === 1 ? "" : "s"}; nothing was started:\n${lines.join("\n")}`, {
      details: { where, results },
    });
    this.results = results;
  }
}
