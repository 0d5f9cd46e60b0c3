/**
 * The Azure VM sizes Kiln rents, as they really are, and their dated prices.
 *
 * Sizes (GPU, count, memory per GPU, vCPUs, RAM): Microsoft's size pages for the NC A100 v4, NC H100 v5,
 * NVads A10 v5 and ND A100 v4 series, cross-checked with the size list in microsoft/aspire
 * `src/Aspire.Hosting.Azure.Kubernetes/AksNodeVmSizes.cs` (vCPUs, RAM, GPU count):
 * - Standard_NC24ads_A100_v4: 1× A100 **80 GB** PCIe, 24 vCPUs, 220 GiB. (runbook.md's table calls it
 *   "1x A100 40GB": wrong, the NC A100 v4 series carries the 80 GB A100.)
 * - Standard_NC40ads_H100_v5: 1× H100 NVL, 94 GB, 40 vCPUs, 320 GiB.
 * - Standard_NV36ads_A10_v5: 1× A10, the *whole* 24 GB card (the smaller NV6/12/18ads sizes get 1/6, 1/3,
 *   1/2 of one), 36 vCPUs, 440 GiB.
 * - Standard_ND96asr_v4: 8× A100 40 GB SXM, 96 vCPUs, 900 GiB.
 *
 * Prices: Linux pay-as-you-go in eastus as the Azure Retail Prices API listed them around the catalog
 * date (approximate; live prices from that API replace them when it answers, see ./prices.ts). Spot
 * prices move daily: only the A100 row carries one, the top of runbook.md's "A100 low-priority" range.
 */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";

const RETAIL = "Azure Retail Prices API, eastus Linux (approx.)";

export interface AzureSize {
  armSku: string;
  gpu: string;
  gpuCount: number;
  vramGb: number;
  vcpus: number;
  memoryGb: number;
  /** The quota family the size counts against (Microsoft.Compute usages), for quota messages. */
  family: string;
}

export const AZURE_SIZES: readonly AzureSize[] = [
  { armSku: "Standard_NC24ads_A100_v4", gpu: "A100-80GB", gpuCount: 1, vramGb: 80, vcpus: 24, memoryGb: 220, family: "standardNCADSA100v4Family" },
  { armSku: "Standard_NC40ads_H100_v5", gpu: "H100-94GB", gpuCount: 1, vramGb: 94, vcpus: 40, memoryGb: 320, family: "standardNCadsH100v5Family" },
  { armSku: "Standard_NV36ads_A10_v5", gpu: "A10-24GB", gpuCount: 1, vramGb: 24, vcpus: 36, memoryGb: 440, family: "standardNVADSA10v5Family" },
  { armSku: "Standard_ND96asr_v4", gpu: "A100-40GB", gpuCount: 8, vramGb: 40, vcpus: 96, memoryGb: 900, family: "standardNDASv4_A100Family" },
];

export const sizeOf = (armSku: string): AzureSize | undefined => AZURE_SIZES.find((s) => s.armSku.toLowerCase() === armSku.toLowerCase());

const extra = (armSku: string): Partial<CatalogRow> => {
  const s = sizeOf(armSku)!;
  return { gpuCount: s.gpuCount, memoryGb: s.memoryGb };
};

export const AZURE_CATALOG: readonly CatalogRow[] = [
  catalogRow("azure", "Standard_NC24ads_A100_v4", "A100-80GB", 80, 3.67, RETAIL, { ...extra("Standard_NC24ads_A100_v4"), spotPricePerHour: 1.36, spotSource: SOURCES.RUNBOOK_SPOT }),
  catalogRow("azure", "Standard_NC40ads_H100_v5", "H100-94GB", 94, 6.98, RETAIL, extra("Standard_NC40ads_H100_v5")),
  catalogRow("azure", "Standard_NV36ads_A10_v5", "A10-24GB", 24, 3.2, RETAIL, extra("Standard_NV36ads_A10_v5")),
  catalogRow("azure", "Standard_ND96asr_v4", "A100-40GB", 40, 27.2, RETAIL, extra("Standard_ND96asr_v4")),
];

/** Regions Kiln offers when the user names none (the catalog's prices are eastus's). */
export const DEFAULT_REGIONS: readonly string[] = ["eastus"];
