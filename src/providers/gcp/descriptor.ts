/**
 * Google Compute Engine: in the dated catalog, so the planner and `kiln offers` price it, but Kiln cannot rent it yet
 * (it has no `configured`): `kiln run --provider` refuses it with the list of rentable ones.
 */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import type { ProviderDescriptor } from "../descriptor.js";

const { RUNBOOK, RUNBOOK_SPOT, PUBLIC } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  catalogRow("gcp", "a2-highgpu-1g", "A100-40GB", 40, 3.67, RUNBOOK, { spotPricePerHour: 1.47, spotSource: RUNBOOK_SPOT }),
  catalogRow("gcp", "a3-highgpu-1g", "H100-80GB", 80, 11.06, PUBLIC),
];

export const gcpDescriptor: ProviderDescriptor = {
  name: "gcp",
  title: "Google Compute Engine",
  kind: "cloud",
  tier: "reliable",
  catalog: CATALOG,
  consoleUrl: "https://console.cloud.google.com/compute/instances",
  listingLagMs: 60_000,
};
