/**
 * Lambda's `gpu_description` ("A100 (40 GB SXM4)", "RTX A6000 (48 GB)") → Kiln's canonical GPU name
 * ("A100-40GB", "A6000-48GB") through the shared table in ../gpu-models.ts, so a Lambda offer names
 * its GPU exactly as a job spec or nvidia-smi does.
 */
import { canonicalGpu } from "../gpu-models.js";

/**
 * The canonical name and per-GPU memory, or undefined for a description Kiln cannot read (the type is
 * then left out of the offers rather than guessed). A GPU the table does not know yet keeps Lambda's
 * model name in the same shape ("B200-180GB"): visible in `kiln offers`, never matched to another GPU.
 *
 * @example canonicalLambdaGpu("H100 (80 GB SXM5)") // { gpu: "H100-80GB", vramGb: 80 }
 */
export function canonicalLambdaGpu(gpuDescription: string): { gpu: string; vramGb: number } | undefined {
  const m = /^\s*(.+?)\s*\(\s*(\d+)\s*GB\b/i.exec(gpuDescription);
  if (!m) return undefined;
  const model = m[1] ?? "";
  const vramGb = Number(m[2]);
  const fallback = model.replace(/^((nvidia|tesla|quadro)\s+)+/i, "").replace(/\s+/g, "").toUpperCase();
  if (fallback === "" || !Number.isFinite(vramGb)) return undefined;
  return { gpu: canonicalGpu(model, vramGb) ?? `${fallback}-${vramGb}GB`, vramGb };
}
