/**
 * The GPUs Kiln knows, under one canonical name each ("A100-40GB", "H100-80GB"): memory, and the dense
 * bf16 tensor throughput the planner turns FLOPs into hours with. It lives below core so that
 * providers (Lambda's `gpu_description`) and core (nvidia-smi, what users type) map names through the
 * same table and the same normalisation, and an offer's GPU always matches what a job asked for.
 * Throughputs are NVIDIA datasheet peaks *without* sparsity (fp32 accumulate where the consumer cards
 * differ); cards without bf16 (V100, T4) list their fp16 figure.
 */
export interface GpuModel {
  name: string;
  vramGb: number;
  bf16Tflops: number;
  /** Lower-case substrings of nvidia-smi's name that identify the model (checked with memory). */
  smiPatterns: readonly string[];
}

export const GPU_MODELS: readonly GpuModel[] = [
  { name: "H200-141GB", vramGb: 141, bf16Tflops: 989, smiPatterns: ["h200"] },
  { name: "GH200-96GB", vramGb: 96, bf16Tflops: 989, smiPatterns: ["gh200"] },
  // H100 PCIe (756) rather than SXM (989): catalog rows mix both, and an estimate should not be optimistic.
  { name: "H100-80GB", vramGb: 80, bf16Tflops: 756, smiPatterns: ["h100"] },
  { name: "A100-80GB", vramGb: 80, bf16Tflops: 312, smiPatterns: ["a100"] },
  { name: "A100-40GB", vramGb: 40, bf16Tflops: 312, smiPatterns: ["a100"] },
  { name: "L40S-48GB", vramGb: 48, bf16Tflops: 362, smiPatterns: ["l40s"] },
  { name: "A6000-48GB", vramGb: 48, bf16Tflops: 155, smiPatterns: ["rtx a6000"] },
  { name: "A10-24GB", vramGb: 24, bf16Tflops: 125, smiPatterns: ["a10"] },
  { name: "L4-24GB", vramGb: 24, bf16Tflops: 121, smiPatterns: ["l4"] },
  { name: "RTX4090-24GB", vramGb: 24, bf16Tflops: 165, smiPatterns: ["4090"] },
  { name: "RTX3090-24GB", vramGb: 24, bf16Tflops: 71, smiPatterns: ["3090"] },
  { name: "RTX3060-12GB", vramGb: 12, bf16Tflops: 25, smiPatterns: ["3060"] },
  { name: "V100-16GB", vramGb: 16, bf16Tflops: 125, smiPatterns: ["v100"] },
  { name: "T4-16GB", vramGb: 16, bf16Tflops: 65, smiPatterns: ["t4"] },
];

// Vendor and family words, stripped repeatedly ("NVIDIA GeForce RTX 4090" → "4090", "Tesla V100" → "v100").
const PREFIX = /^(nvidia|geforce|tesla|quadro|rtx)[\s_-]*/;

/** A GPU name reduced to its model key: lower case, no vendor/family words, no separators. */
export function gpuKey(name: string): string {
  let n = name.toLowerCase().trim();
  while (PREFIX.test(n)) n = n.replace(PREFIX, "");
  return n.replace(/[\s_-]/g, "");
}

/** "RTX4090-24GB" → model "RTX4090", memory "24GB". */
export const modelPart = (canonical: string): string => canonical.split("-")[0] ?? canonical;

/**
 * The canonical name for a model as a vendor writes it plus its memory, or undefined when the table
 * has no such GPU.
 *
 * @example canonicalGpu("RTX 4090", 24) // "RTX4090-24GB"
 */
export function canonicalGpu(model: string, vramGb: number): string | undefined {
  const key = gpuKey(model);
  return GPU_MODELS.find((g) => g.vramGb === vramGb && gpuKey(modelPart(g.name)) === key)?.name;
}
