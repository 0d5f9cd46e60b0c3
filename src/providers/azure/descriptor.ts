/** Azure VMs: its dated catalog rows; not rentable yet (see catalogOnlyCloud). */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import { catalogOnlyCloud } from "../descriptor.js";

const { RUNBOOK, RUNBOOK_SPOT } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  catalogRow("azure", "NC24ads_A100_v4", "A100-40GB", 40, 3.4, RUNBOOK, { spotPricePerHour: 1.36, spotSource: RUNBOOK_SPOT }),
];

export const azureDescriptor = catalogOnlyCloud({
  name: "azure",
  title: "Azure VMs",
  tier: "reliable",
  catalog: CATALOG,
  consoleUrl: "https://portal.azure.com/#browse/Microsoft.Compute%2FVirtualMachines",
  // Scheduled Events lists every planned event (reboots, redeploys too): only EventType Preempt is a reclaim, ≥ 30 s ahead.
  reclaimNotice: { url: "http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01", headers: ["Metadata: true"], when: { bodyMatches: '"EventType" *: *"Preempt"' }, seconds: 30 },
});
