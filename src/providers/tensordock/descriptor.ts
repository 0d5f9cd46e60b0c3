/** TensorDock: its dated catalog rows; not rentable yet (see catalogOnlyCloud). */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import { catalogOnlyCloud } from "../descriptor.js";

const { RUNBOOK, PUBLIC } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  catalogRow("tensordock", "a100-pcie-40gb", "A100-40GB", 40, 0.75, RUNBOOK),
  catalogRow("tensordock", "rtx4090-pcie-24gb", "RTX4090-24GB", 24, 0.35, PUBLIC),
  catalogRow("tensordock", "h100-sxm5-80gb", "H100-80GB", 80, 2.25, PUBLIC),
];

export const tensordockDescriptor = catalogOnlyCloud({ name: "tensordock", title: "TensorDock", tier: "budget", catalog: CATALOG, consoleUrl: "https://dashboard.tensordock.com" });
