/**
 * The GPUs Kiln knows, under one canonical name each ("A100-40GB", "H100-80GB"): memory, and the dense
 * bf16 tensor throughput the planner turns FLOPs into hours with. It lives below core so that
 * providers (Lambda's `gpu_description`) and core (nvidia-smi, what users type) map names through the
 * same table and the same normalisation, and an offer's GPU always matches what a job asked for.
 *
 * Throughputs are NVIDIA datasheet peaks *without* sparsity (datasheets print "X | 2X" for dense | sparse;
 * we take X), with fp32 accumulate where the consumer and workstation cards differ (PyTorch's bf16 matmuls
 * accumulate in fp32). Cards without bf16 (V100, T4) list their fp16 figure. A canonical name covers every
 * form factor of its chip, so the table lists the slowest (H100 PCIe 756, not SXM 989) and
 * {@link gpuThroughput} raises it only where the instance type names a faster form ("…_sxm5").
 */
export interface GpuModel {
  name: string;
  vramGb: number;
  bf16Tflops: number;
  /** Where `bf16Tflops` comes from. */
  source: string;
  /** Faster form factors of the same canonical GPU, recognised by the provider's instance type name. */
  forms?: readonly { match: RegExp; form: string; bf16Tflops: number; source: string }[];
  /** Lower-case substrings of nvidia-smi's name that identify the model (checked with memory). */
  smiPatterns: readonly string[];
  /** The host's CPU architecture when it is not x86-64 (GH200: Arm Grace). */
  hostArch?: "arm64";
}

const HOPPER = "NVIDIA H100/H200 datasheet, BF16 Tensor Core (dense)";
export const GPU_MODELS: readonly GpuModel[] = [
  { name: "H200-141GB", vramGb: 141, bf16Tflops: 835, source: `${HOPPER}: H200 NVL 835 (SXM 989)`, forms: [{ match: /sxm/i, form: "SXM", bf16Tflops: 989, source: `${HOPPER}: H200 SXM` }], smiPatterns: ["h200"] },
  { name: "GH200-96GB", vramGb: 96, bf16Tflops: 989, source: "NVIDIA GH200 datasheet, BF16 Tensor Core (dense)", smiPatterns: ["gh200"], hostArch: "arm64" },
  // H100 PCIe (756) rather than SXM (989): catalog rows mix both, and an estimate should not be optimistic.
  { name: "H100-80GB", vramGb: 80, bf16Tflops: 756, source: `${HOPPER}: H100 PCIe 756 (SXM 989)`, forms: [{ match: /sxm/i, form: "SXM", bf16Tflops: 989, source: `${HOPPER}: H100 SXM` }], smiPatterns: ["h100"] },
  { name: "A100-80GB", vramGb: 80, bf16Tflops: 312, source: "NVIDIA A100 datasheet, BF16 Tensor Core (dense)", smiPatterns: ["a100"] },
  { name: "A100-40GB", vramGb: 40, bf16Tflops: 312, source: "NVIDIA A100 datasheet, BF16 Tensor Core (dense)", smiPatterns: ["a100"] },
  { name: "L40S-48GB", vramGb: 48, bf16Tflops: 362, source: "NVIDIA L40S datasheet, BF16 Tensor Core 362 (733 sparse)", smiPatterns: ["l40s"] },
  // Listed after the first six, which the spec's "unknown GPU" message names. HGX B200: 36 PFLOPS FP16/BF16 with sparsity for 8 GPUs (DGX B200 datasheet) = 2.25 PFLOPS dense per GPU.
  { name: "B200-180GB", vramGb: 180, bf16Tflops: 2250, source: "NVIDIA DGX/HGX B200 datasheet, FP16/BF16 dense (sparse / 2)", smiPatterns: ["b200"] },
  { name: "A6000-48GB", vramGb: 48, bf16Tflops: 155, source: "NVIDIA RTX A6000 datasheet, tensor 309.7 sparse / 2", smiPatterns: ["rtx a6000"] },
  { name: "A10-24GB", vramGb: 24, bf16Tflops: 125, source: "NVIDIA A10 datasheet, BF16 Tensor Core (dense)", smiPatterns: ["a10"] },
  { name: "L4-24GB", vramGb: 24, bf16Tflops: 121, source: "NVIDIA L4 datasheet, BF16 Tensor Core 121 (242 sparse)", smiPatterns: ["l4"] },
  { name: "RTX4090-24GB", vramGb: 24, bf16Tflops: 165, source: "NVIDIA Ada whitepaper, RTX 4090 BF16 with FP32 accumulate (dense)", smiPatterns: ["4090"] },
  { name: "RTX3090-24GB", vramGb: 24, bf16Tflops: 71, source: "NVIDIA Ampere GA102 whitepaper, RTX 3090 BF16 with FP32 accumulate (dense)", smiPatterns: ["3090"] },
  { name: "RTX3060-12GB", vramGb: 12, bf16Tflops: 25, source: "NVIDIA Ampere GA102 whitepaper scaled to GA106, BF16 with FP32 accumulate (approx.)", smiPatterns: ["3060"] },
  { name: "V100-16GB", vramGb: 16, bf16Tflops: 125, source: "NVIDIA V100 datasheet, FP16 Tensor Core (no bf16)", smiPatterns: ["v100"] },
  { name: "T4-16GB", vramGb: 16, bf16Tflops: 65, source: "NVIDIA T4 datasheet, FP16 Tensor Core (no bf16)", smiPatterns: ["t4"] },
];

/** Dense bf16 TFLOP/s of one GPU and where the figure comes from. */
export interface GpuThroughput {
  bf16Tflops: number;
  source: string;
}

/**
 * One GPU's throughput on an offer: the table's figure, raised to a faster form factor's when the
 * instance type names it (Lambda's `gpu_1x_h100_sxm5`); undefined for a GPU the table does not know.
 *
 * @example gpuThroughput("H100-80GB", "gpu_1x_h100_sxm5") // { bf16Tflops: 989, source: "… H100 SXM" }
 */
export function gpuThroughput(gpu: string, instanceType = ""): GpuThroughput | undefined {
  const g = GPU_MODELS.find((m) => m.name === gpu);
  if (!g) return undefined;
  const form = g.forms?.find((f) => f.match.test(instanceType));
  return form ? { bf16Tflops: form.bf16Tflops, source: form.source } : { bf16Tflops: g.bf16Tflops, source: g.source };
}

// Vendor and family words, stripped repeatedly ("NVIDIA GeForce RTX 4090" → "4090", "Tesla V100" → "v100").
const PREFIX = /^(nvidia|geforce|tesla|quadro|rtx)[\s_-]*/;

/** A GPU name reduced to its model key: lower case, no vendor/family words, no separators. */
/** The host architecture that comes with a GPU model: "arm64" for Grace-Hopper, else "x86_64". */
export const hostArchOf = (gpu: string): "arm64" | "x86_64" => GPU_MODELS.find((m) => m.name === gpu)?.hostArch ?? "x86_64";

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
