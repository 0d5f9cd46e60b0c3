/** Thunder Compute: its dated catalog rows; not rentable yet (see catalogOnlyCloud). */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import { catalogOnlyCloud } from "../descriptor.js";

const { RUNBOOK, PUBLIC } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
// Thunder Compute: cheapest A100, no persistent filesystem, console-only launch (runbook).
  catalogRow("thunder", "a100-40gb", "A100-40GB", 40, 0.66, RUNBOOK),
  catalogRow("thunder", "a100-80gb", "A100-80GB", 80, 0.78, PUBLIC),
  catalogRow("thunder", "h100", "H100-80GB", 80, 1.47, PUBLIC),
];

export const thunderDescriptor = catalogOnlyCloud({ name: "thunder", title: "Thunder Compute", tier: "budget", catalog: CATALOG, consoleUrl: "https://console.thundercompute.com" });
