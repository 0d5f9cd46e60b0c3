/**
 * One line per failure, from the runbook's troubleshooting guide (Issues 1-5) and its verification
 * checklist, made specific with what was measured: the exact command, the model's licence page.
 */
import { torchReinstallCommand } from "../../remote/setup/index.js";

export const advice = {
  /** Runbook Issue 1: nvidia-smi missing right after boot usually means the driver is still installing. */
  gpuMissing: () =>
    "No NVIDIA driver answered: on a fresh cloud machine the driver may still be installing — wait 5 minutes and retry; otherwise install it (sudo apt-get install -y nvidia-driver-550 && sudo reboot) or check `lsmod | grep nvidia`.",
  gpuFailed: (message: string) => `nvidia-smi failed: ${message}`,
  tooFewGpus: (count: number) => `The job needs ${count} GPUs; choose a machine type with ${count} or set resources.count.`,
  vramTotal: (needGb: number) =>
    `This GPU is too small for the job (needs ${needGb} GiB): pick a larger GPU (e.g. A100 80GB) or reduce workload.sae.batch_size / context_size.`,
  /** Runbook Step 4: free VRAM below what the job needs means another process holds it. */
  vramFree: (processes: string) =>
    `Another process holds GPU memory${processes ? ` (${processes})` : ""}: list them with \`nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv\` and stop them, or reboot the machine.`,
  driverTooOld: (driverCuda: string) =>
    `The driver supports CUDA ${driverCuda}, older than any torch≥2.4 wheel (CUDA 11.8+): upgrade it (sudo apt-get install -y nvidia-driver-550 && sudo reboot).`,
  pythonMissing: (python: string) =>
    `${python} was not found: install Python ≥ 3.10 (sudo apt-get install -y python3 python3-venv) or set workload.python in the job spec.`,
  pythonOld: () => "Python ≥ 3.10 is required: install a newer one (sudo apt-get install -y python3.10 python3.10-venv) or set workload.python.",
  /** Runbook Step 6 / Issue 3 cause 2: the exact reinstall for the driver's CUDA. */
  torchReinstall: (python: string, minTorch: string, driverCuda: string | undefined) => `Reinstall PyTorch for this driver: ${torchReinstallCommand(python, minTorch, driverCuda)}`,
  torchBeforeSetup: (minTorch: string) => `Kiln's setup installs torch>=${minTorch} in its own venv; nothing to do.`,
  cudaInitFailed: () => "torch sees no GPU although nvidia-smi does: reboot (a driver upgrade without reboot leaves the kernel module and library mismatched), then verify again.",
  bf16Required: () => "This GPU has no bf16 (needs Ampere or newer: A10, A100, L4, L40S, H100): set workload.sae.mixed_precision: fp32 or choose a newer GPU.",
  bf16Fallback: () => "No bf16 on this GPU (pre-Ampere): the workload falls back to fp32, which is slower and needs twice the activation memory.",
  disk: (path: string) => `Free space on ${path} (\`du -sh ~/.cache/huggingface\` often finds old models) or choose a machine with a larger disk.`,
  workloadBroken: (python: string) => `The workload does not import with ${python}: run Kiln's setup again (it rebuilds the venv) or \`${python} -m pip install -e workload\` locally.`,
  /** Runbook Issue 5, solution 3: gated models need the licence accepted and a token. */
  gatedModel: (model: string) =>
    `${model} is gated: accept its licence at https://huggingface.co/${model}, create a read token at https://huggingface.co/settings/tokens, and export HF_TOKEN before \`kiln run\`.`,
  gatedDenied: (model: string) =>
    `Your token cannot read ${model}: accept its licence at https://huggingface.co/${model} with the token's account (a fine-grained token also needs "read access to contents of all public gated repos").`,
  modelNotFound: (model: string) => `The Hub has no model ${model}: check workload.sae.base_model (owner/name, case-sensitive).`,
};
