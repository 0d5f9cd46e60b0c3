/**
 * Kiln's canonical GPU names ("A100-40GB", "H100-80GB") and the table behind them: memory, and the
 * dense bf16 tensor throughput the planner turns FLOPs into hours with. Throughputs are NVIDIA
 * datasheet peaks *without* sparsity (fp32 accumulate where the consumer cards differ); cards without
 * bf16 (V100, T4) list their fp16 figure.
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

const normal = (s: string) => s.toLowerCase().replace(/^(nvidia|geforce|rtx)[\s_-]*/g, "").replace(/[\s_-]/g, "");

/**
 * Every canonical name a user-typed GPU name may mean: "A100" → both A100s, "a100-40" → A100-40GB,
 * "h100" → H100-80GB, "4090" → RTX4090-24GB. Empty when nothing matches.
 */
export function resolveGpuAlias(typed: string): string[] {
  const t = normal(typed).replace(/gb$/, "");
  if (t === "") return [];
  return GPU_MODELS.filter((g) => {
    const [model = "", mem = ""] = g.name.split("-");
    const m = normal(model);
    return t === m || t === `${m}${mem.replace(/gb$/i, "")}` || t === normal(g.name).replace(/gb$/, "");
  }).map((g) => g.name);
}
