/** Azure VMs: its dated catalog rows; not rentable yet (see catalogOnlyCloud). */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import { catalogOnlyCloud } from "../descriptor.js";

const { RUNBOOK, RUNBOOK_SPOT } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  catalogRow("azure", "NC24ads_A100_v4", "A100-40GB", 40, 3.4, RUNBOOK, { spotPricePerHour: 1.36, spotSource: RUNBOOK_SPOT }),
];

export const azureDescriptor = catalogOnlyCloud({ name: "azure", title: "Azure VMs", tier: "reliable", catalog: CATALOG, consoleUrl: "https://portal.azure.com/#browse/Microsoft.Compute%2FVirtualMachines" });
