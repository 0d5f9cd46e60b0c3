/**
 * RunPod's GPU type ids ("NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4090", "Tesla V100-PCIE-16GB"; the full
 * list is references/gpu-types.mdx) with the catalog's `memory` → Kiln's canonical names ("A100-80GB",
 * "RTX4090-24GB", "V100-16GB") through the shared table in ../gpu-models.ts. The id carries form-factor words
 * (PCIe, SXM4, HBM3, NVL) and sometimes the memory; those are dropped, the memory comes from the catalog.
 */
import { canonicalGpu } from "../gpu-models.js";

const NOISE = /^(\d+gb|pcie|sxm\d*|hbm\d*e?|nvl|fhhl|ac|generation|edition)$/i;
const VENDOR = /^(nvidia|amd|tesla|geforce|instinct)$/i;

/**
 * The canonical name, or undefined for an id Kiln cannot read (left out of the offers rather than guessed).
 * A GPU the table does not know keeps RunPod's model words in the same shape ("H100-94GB" for the NVL with
 * its 94 GB, "RTX6000ADA-48GB"): visible in `kiln offers`, never matched to another GPU.
 *
 * @example canonicalRunpodGpu("NVIDIA A100-SXM4-80GB", 80) // "A100-80GB"
 */
export function canonicalRunpodGpu(id: string, memoryGb: number): string | undefined {
  if (!Number.isFinite(memoryGb) || memoryGb <= 0) return undefined;
  const words = id.split(/[\s-]+/).filter((w) => w !== "" && !NOISE.test(w));
  const model = words.join(" ");
  if (model === "") return undefined;
  const known = canonicalGpu(model, memoryGb);
  if (known) return known;
  const compact = words
    .filter((w) => !VENDOR.test(w))
    .join("")
    .toUpperCase();
  return compact === "" ? undefined : `${compact}-${memoryGb}GB`;
}
