/** Northflank: its dated catalog rows; not rentable yet (see catalogOnlyCloud). */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import { catalogOnlyCloud } from "../descriptor.js";

const { RUNBOOK, PUBLIC } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  catalogRow("northflank", "nvidia-a100-40gb", "A100-40GB", 40, 1.42, RUNBOOK),
  catalogRow("northflank", "nvidia-a100-80gb", "A100-80GB", 80, 1.76, PUBLIC),
  catalogRow("northflank", "nvidia-h100-80gb", "H100-80GB", 80, 2.74, PUBLIC),
];

export const northflankDescriptor = catalogOnlyCloud({ name: "northflank", title: "Northflank", tier: "reliable", catalog: CATALOG, consoleUrl: "https://app.northflank.com" });
