/**
 * The dated price catalog: what each provider charged for one machine when the runbook was written.
 * Every row carries its source and date, because a price without both is a guess. Live prices from a
 * provider's API replace a provider's rows when available (see offers.ts); these rows are the floor
 * Kiln plans with offline.
 *
 * Sources (cited per row):
 * - RUNBOOK: runbook.md, executive-summary table (A100 40GB, 2025-10-30).
 * - RUNBOOK_ALT: runbook.md, "Alternative Providers" and the Lambda console step (80GB SXM at $1.79).
 * - RUNBOOK_SPOT: runbook.md, "Strategy 4" spot table; we take the *top* of each range, because an
 *   estimate that is too low is the one that breaks a budget.
 * - PROVIDERS_LAMBDA: providers.md §1.3, Lambda's instance-types example (cents per hour).
 * - PROVIDERS_RUNPOD: providers.md §2, RunPod's v2 catalog example (per GPU per hour).
 * - PROVIDERS_SKY: providers.md, SkyPilot's lambda vms.csv example row.
 * - PUBLIC: the provider's public pricing page around 2025-10; not in the reference docs, so treat
 *   as approximate until live prices replace them.
 */
import type { ProviderName } from "../../providers/provider.js";

export const CATALOG_DATE = "2025-10-30";

export const SOURCES = {
  RUNBOOK: "runbook.md price table",
  RUNBOOK_ALT: "runbook.md alternatives",
  RUNBOOK_SPOT: "runbook.md spot table (top of range)",
  PROVIDERS_LAMBDA: "providers.md Lambda example",
  PROVIDERS_RUNPOD: "providers.md RunPod example",
  PROVIDERS_SKY: "providers.md SkyPilot catalog",
  PUBLIC: "public price page (approx.)",
} as const;

/**
 * "budget" providers are cheaper but, per the runbook, "may have availability issues or lack
 * enterprise features"; the percentage column compares against the cheapest *reliable* offer.
 */
export type ProviderTier = "reliable" | "budget";
export const PROVIDER_TIER: Record<ProviderName, ProviderTier> = {
  local: "reliable",
  ssh: "reliable",
  lambda: "reliable",
  runpod: "reliable",
  northflank: "reliable",
  aws: "reliable",
  gcp: "reliable",
  azure: "reliable",
  kubernetes: "reliable",
  thunder: "budget",
  tensordock: "budget",
};

export interface CatalogRow {
  provider: ProviderName;
  instanceType: string;
  /** Canonical GPU name (see src/core/gpu/names.ts). */
  gpu: string;
  gpuCount: number;
  /** Memory per GPU. */
  vramGb: number;
  pricePerHour: number;
  spotPricePerHour?: number;
  source: string;
  spotSource?: string;
  date: string;
  /** Host RAM and local disk where the provider publishes them, in its unit (Lambda: GiB); see LAMBDA_SPECS. */
  memoryGb?: number;
  diskGb?: number;
}

const row = (provider: ProviderName, instanceType: string, gpu: string, vramGb: number, pricePerHour: number, source: string, extra: Partial<CatalogRow> = {}): CatalogRow => ({
  provider,
  instanceType,
  gpu,
  gpuCount: 1,
  vramGb,
  pricePerHour,
  source,
  date: CATALOG_DATE,
  ...extra,
});

const { RUNBOOK, RUNBOOK_ALT, RUNBOOK_SPOT, PROVIDERS_LAMBDA, PROVIDERS_RUNPOD, PROVIDERS_SKY, PUBLIC } = SOURCES;

/**
 * Lambda's `specs` (memory_gib, storage_gib) per instance type: gh200 and 8x H100 from providers.md §1.3's
 * instance-types example; the others from Lambda's public instance list, as the Lambda emulator serves
 * them. Types not listed (the 80 GB A100, the A6000) are sized with the planner's assumptions.
 */
const LAMBDA_SPECS = {
  gpu_1x_a100: { memoryGb: 200, diskGb: 512 },
  gpu_1x_gh200: { memoryGb: 432, diskGb: 4096 },
  gpu_1x_h100_pcie: { memoryGb: 200, diskGb: 1024 },
  gpu_8x_h100_sxm5: { memoryGb: 1800, diskGb: 22528 },
  gpu_1x_a10: { memoryGb: 200, diskGb: 1400 },
} as const;

export const CATALOG: readonly CatalogRow[] = [
  // Lambda: the runbook's baseline. No spot market (runbook, Strategy 4).
  row("lambda", "gpu_1x_a100", "A100-40GB", 40, 1.29, RUNBOOK, LAMBDA_SPECS.gpu_1x_a100),
  row("lambda", "gpu_1x_a100_sxm4_80gb", "A100-80GB", 80, 1.79, RUNBOOK_ALT),
  row("lambda", "gpu_1x_gh200", "GH200-96GB", 96, 1.49, PROVIDERS_LAMBDA, LAMBDA_SPECS.gpu_1x_gh200),
  row("lambda", "gpu_1x_h100_pcie", "H100-80GB", 80, 2.49, PUBLIC, LAMBDA_SPECS.gpu_1x_h100_pcie),
  row("lambda", "gpu_8x_h100_sxm5", "H100-80GB", 80, 23.92, PROVIDERS_LAMBDA, { gpuCount: 8, ...LAMBDA_SPECS.gpu_8x_h100_sxm5 }),
  row("lambda", "gpu_1x_a10", "A10-24GB", 24, 0.75, PUBLIC, LAMBDA_SPECS.gpu_1x_a10),
  row("lambda", "gpu_1x_a6000", "A6000-48GB", 48, 0.8, PROVIDERS_SKY),
  // Thunder Compute: cheapest A100, no persistent filesystem, console-only launch (runbook).
  row("thunder", "a100-40gb", "A100-40GB", 40, 0.66, RUNBOOK),
  row("thunder", "a100-80gb", "A100-80GB", 80, 0.78, PUBLIC),
  row("thunder", "h100", "H100-80GB", 80, 1.47, PUBLIC),
  row("tensordock", "a100-pcie-40gb", "A100-40GB", 40, 0.75, RUNBOOK),
  row("tensordock", "rtx4090-pcie-24gb", "RTX4090-24GB", 24, 0.35, PUBLIC),
  row("tensordock", "h100-sxm5-80gb", "H100-80GB", 80, 2.25, PUBLIC),
  // RunPod prices are per GPU per hour (providers.md); a 1-GPU pod costs exactly that.
  row("runpod", "NVIDIA A100 80GB PCIe", "A100-80GB", 80, 1.74, RUNBOOK),
  row("runpod", "NVIDIA A100-PCIE-40GB", "A100-40GB", 40, 1.39, RUNBOOK_ALT, { spotPricePerHour: 0.69, spotSource: RUNBOOK_ALT }),
  row("runpod", "NVIDIA GeForce RTX 4090", "RTX4090-24GB", 24, 0.44, PROVIDERS_RUNPOD),
  row("runpod", "NVIDIA H100 80GB HBM3", "H100-80GB", 80, 2.69, PUBLIC),
  row("runpod", "NVIDIA H200", "H200-141GB", 141, 3.59, PUBLIC),
  row("runpod", "NVIDIA L40S", "L40S-48GB", 48, 0.86, PUBLIC),
  row("northflank", "nvidia-a100-40gb", "A100-40GB", 40, 1.42, RUNBOOK),
  row("northflank", "nvidia-a100-80gb", "A100-80GB", 80, 1.76, PUBLIC),
  row("northflank", "nvidia-h100-80gb", "H100-80GB", 80, 2.74, PUBLIC),
  // The runbook prices one A100 40GB share of AWS p4d and calls it "p4d.xlarge"; AWS itself only sells
  // p4d.24xlarge (8 GPUs), so the name is the runbook's, kept so its numbers trace back.
  row("aws", "p4d.xlarge", "A100-40GB", 40, 3.02, RUNBOOK, { spotPricePerHour: 1.2, spotSource: RUNBOOK_SPOT }),
  row("aws", "g6e.xlarge", "L40S-48GB", 48, 1.86, PUBLIC),
  row("gcp", "a2-highgpu-1g", "A100-40GB", 40, 3.67, RUNBOOK, { spotPricePerHour: 1.47, spotSource: RUNBOOK_SPOT }),
  row("gcp", "a3-highgpu-1g", "H100-80GB", 80, 11.06, PUBLIC),
  row("azure", "NC24ads_A100_v4", "A100-40GB", 40, 3.4, RUNBOOK, { spotPricePerHour: 1.36, spotSource: RUNBOOK_SPOT }),
];
