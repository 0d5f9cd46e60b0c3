/**
 * Kiln's canonical GPU names as core reads them: from nvidia-smi (with memory to tell the A100s apart)
 * and from what users type. The table itself is src/providers/gpu-models.ts, shared with providers.
 */
import { GPU_MODELS, type GpuModel, gpuKey, modelPart } from "../../providers/gpu-models.js";

export { GPU_MODELS, type GpuModel } from "../../providers/gpu-models.js";

const byName = new Map(GPU_MODELS.map((g) => [g.name, g]));
export const gpuModel = (canonical: string): GpuModel | undefined => byName.get(canonical);

/**
 * The canonical name of a GPU as nvidia-smi reports it, using memory to tell the A100s apart.
 * Unknown cards return undefined (the planner then uses their reported memory only).
 *
 * @example canonicalGpuName("NVIDIA A100-SXM4-40GB", 40960) // "A100-40GB"
 */
export function canonicalGpuName(smiName: string, memoryTotalMiB: number): string | undefined {
  const n = smiName.toLowerCase();
  const gb = memoryTotalMiB / 1024;
  const candidates = GPU_MODELS.filter((g) => g.smiPatterns.some((p) => new RegExp(`(^|[^a-z0-9])${p}([^a-z0-9]|$)`).test(n)));
  // Report the model whose nominal memory is closest (80 GB cards report ~79-81 GiB).
  candidates.sort((a, b) => Math.abs(a.vramGb - gb) - Math.abs(b.vramGb - gb));
  return candidates[0]?.name;
}

/**
 * Every canonical name a user-typed GPU name may mean: "A100" → both A100s, "a100-40" → A100-40GB,
 * "h100" → H100-80GB, "4090" → RTX4090-24GB. Empty when nothing matches.
 */
export function resolveGpuAlias(typed: string): string[] {
  const t = gpuKey(typed).replace(/gb$/, "");
  if (t === "") return [];
  return GPU_MODELS.filter((g) => {
    const m = gpuKey(modelPart(g.name));
    return t === m || t === `${m}${g.vramGb}` || t === gpuKey(g.name).replace(/gb$/, "");
  }).map((g) => g.name);
}
