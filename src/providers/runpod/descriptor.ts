/** RunPod: its dated catalog rows; not rentable yet (see catalogOnlyCloud). */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import { catalogOnlyCloud } from "../descriptor.js";

const { RUNBOOK, RUNBOOK_ALT, PUBLIC } = SOURCES;
/** providers.md §2, RunPod's v2 catalog example (per GPU per hour). */
const PROVIDERS_RUNPOD = "providers.md RunPod example";

const CATALOG: readonly CatalogRow[] = [
  // RunPod prices are per GPU per hour (providers.md); a 1-GPU pod costs exactly that.
  catalogRow("runpod", "NVIDIA A100 80GB PCIe", "A100-80GB", 80, 1.74, RUNBOOK),
  catalogRow("runpod", "NVIDIA A100-PCIE-40GB", "A100-40GB", 40, 1.39, RUNBOOK_ALT, { spotPricePerHour: 0.69, spotSource: RUNBOOK_ALT }),
  catalogRow("runpod", "NVIDIA GeForce RTX 4090", "RTX4090-24GB", 24, 0.44, PROVIDERS_RUNPOD),
  catalogRow("runpod", "NVIDIA H100 80GB HBM3", "H100-80GB", 80, 2.69, PUBLIC),
  catalogRow("runpod", "NVIDIA H200", "H200-141GB", 141, 3.59, PUBLIC),
  catalogRow("runpod", "NVIDIA L40S", "L40S-48GB", 48, 0.86, PUBLIC),
];

export const runpodDescriptor = catalogOnlyCloud({ name: "runpod", title: "RunPod", tier: "reliable", catalog: CATALOG, consoleUrl: "https://www.runpod.io/console/pods" });
