/**
 * Azure VMs: in the dated catalog, so the planner and `kiln offers` price it, but Kiln cannot rent it yet
 * (it has no `configured`): `kiln run --provider` refuses it with the list of rentable ones.
 */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import type { ProviderDescriptor } from "../descriptor.js";

const { RUNBOOK, RUNBOOK_SPOT } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  catalogRow("azure", "NC24ads_A100_v4", "A100-40GB", 40, 3.4, RUNBOOK, { spotPricePerHour: 1.36, spotSource: RUNBOOK_SPOT }),
];

export const azureDescriptor: ProviderDescriptor = {
  name: "azure",
  title: "Azure VMs",
  kind: "cloud",
  tier: "reliable",
  catalog: CATALOG,
  consoleUrl: "https://portal.azure.com/#browse/Microsoft.Compute%2FVirtualMachines",
  listingLagMs: 60_000,
};
