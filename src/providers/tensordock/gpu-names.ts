/**
 * TensorDock's GPU model ids (`v0Name`, e.g. "h100-sxm5-80gb", "geforcertx4090-pcie-24gb", "rtxa6000-pcie-48gb")
 * mapped onto Kiln's canonical names through ../gpu-models.ts: the id is `<model>-<form>-<memory>gb`, the model
 * part written the vendor's way ("geforcertx4090"), which gpuKey reduces as it does nvidia-smi's names. The
 * display name ("NVIDIA GeForce RTX 4090 PCIe 24GB") is the fallback. A GPU Kiln's table lacks maps to
 * undefined and is left out of the offers.
 *
 * @example canonicalTensordockGpu("geforcertx4090-pcie-24gb") // { gpu: "RTX4090-24GB", vramGb: 24 }
 */
import { canonicalGpu } from "../gpu-models.js";

export function canonicalTensordockGpu(v0Name: string, displayName?: string): { gpu: string; vramGb: number } | undefined {
  const parts = v0Name.toLowerCase().split("-");
  const mem = /^(\d+)gb$/.exec(parts[parts.length - 1] ?? "");
  if (mem && parts[0]) {
    const vramGb = Number(mem[1]);
    const gpu = canonicalGpu(parts[0], vramGb);
    if (gpu) return { gpu, vramGb };
  }
  // "NVIDIA GeForce RTX 4090 PCIe 24GB": the model is what precedes the form factor.
  const d = /^(.*?)\s+(pcie|sxm\d*|nvl)?\s*(\d+)\s*gb$/i.exec(displayName?.trim() ?? "");
  if (d?.[1]) {
    const vramGb = Number(d[3]);
    const gpu = canonicalGpu(d[1], vramGb);
    if (gpu) return { gpu, vramGb };
  }
  return undefined;
}
