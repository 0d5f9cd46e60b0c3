/**
 * Lambda's `gpu_description` ("A100 (40 GB SXM4)", "RTX A6000 (48 GB)") → Kiln's canonical GPU name
 * ("A100-40GB", "A6000-48GB"), the form src/core/gpu/names.ts uses. Kept here because providers may
 * not import core; the rule is the same: model without vendor/family prefix, dash, memory in GB.
 */

const PREFIXES = /^(nvidia|tesla|quadro|rtx)\s+/i;

/**
 * The canonical name and per-GPU memory, or undefined for a description Kiln cannot read (the type is
 * then left out of the offers rather than guessed).
 *
 * @example canonicalLambdaGpu("H100 (80 GB SXM5)") // { gpu: "H100-80GB", vramGb: 80 }
 */
export function canonicalLambdaGpu(gpuDescription: string): { gpu: string; vramGb: number } | undefined {
  const m = /^\s*(.+?)\s*\(\s*(\d+)\s*GB\b/i.exec(gpuDescription);
  if (!m) return undefined;
  let model = m[1] ?? "";
  while (PREFIXES.test(model)) model = model.replace(PREFIXES, "");
  const vramGb = Number(m[2]);
  model = model.replace(/\s+/g, "").toUpperCase();
  if (model === "" || !Number.isFinite(vramGb)) return undefined;
  return { gpu: `${model}-${vramGb}GB`, vramGb };
}
