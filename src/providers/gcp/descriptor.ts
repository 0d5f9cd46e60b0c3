/** Google Compute Engine: its dated catalog rows; not rentable yet (see catalogOnlyCloud). */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import { catalogOnlyCloud } from "../descriptor.js";

const { RUNBOOK, RUNBOOK_SPOT, PUBLIC } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  catalogRow("gcp", "a2-highgpu-1g", "A100-40GB", 40, 3.67, RUNBOOK, { spotPricePerHour: 1.47, spotSource: RUNBOOK_SPOT }),
  catalogRow("gcp", "a3-highgpu-1g", "H100-80GB", 80, 11.06, PUBLIC),
];

export const gcpDescriptor = catalogOnlyCloud({
  name: "gcp",
  title: "Google Compute Engine",
  tier: "reliable",
  catalog: CATALOG,
  consoleUrl: "https://console.cloud.google.com/compute/instances",
  // Quirk: the metadata server answers FALSE until preemption starts, then TRUE; ~30 s before the stop.
  reclaimNotice: { url: "http://metadata.google.internal/computeMetadata/v1/instance/preempted", headers: ["Metadata-Flavor: Google"], when: { bodyMatches: "^TRUE" }, seconds: 30 },
});
