/**
 * Northflank: in the dated catalog, so the planner and `kiln offers` price it, but Kiln cannot rent it yet
 * (it has no `configured`): `kiln run --provider` refuses it with the list of rentable ones.
 */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import type { ProviderDescriptor } from "../descriptor.js";

const { RUNBOOK, PUBLIC } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  catalogRow("northflank", "nvidia-a100-40gb", "A100-40GB", 40, 1.42, RUNBOOK),
  catalogRow("northflank", "nvidia-a100-80gb", "A100-80GB", 80, 1.76, PUBLIC),
  catalogRow("northflank", "nvidia-h100-80gb", "H100-80GB", 80, 2.74, PUBLIC),
];

export const northflankDescriptor: ProviderDescriptor = {
  name: "northflank",
  title: "Northflank",
  kind: "cloud",
  tier: "reliable",
  catalog: CATALOG,
  consoleUrl: "https://app.northflank.com",
  listingLagMs: 60_000,
};
