/** The boot disk Kiln rents on GCE, and how it is sized at launch (kept apart so the catalog can use it without the client). */
import type { DiskSizing } from "../provider.js";

/** The boot disk Kiln asks for by default, GB (`initializeParams.diskSizeGb`); offers state it as their disk. */
export const BOOT_DISK_GB = 200;
/**
 * How Kiln sizes a VM's disk at launch: the boot disk's `disks[0].initializeParams.diskSizeGb` (compute v1
 * AttachedDiskInitializeParams, a string of GB), as a pd-balanced disk (`initializeParams.diskType`) with
 * `autoDelete: true`, so it is deleted with the VM — never a separate persistent disk that would outlive it.
 * Price: pd-balanced $0.10/GB-month (cloud.google.com/compute/disks-image-pricing, us-central1, read 2025-10;
 * other regions differ by a few cents). GCE's machine prices exclude disks, so `includedGb` is 0 (the default
 * 200 GB boot disk, ~$0.03/h, was never priced in before either). Max: 65,536 GB, pd-balanced's limit
 * (cloud.google.com/compute/docs/disks). Note: pd-balanced reads at 0.28 MB/s per GB (168 MB/s for 600 GB),
 * well under the 1 GB/s the planner assumes for a disk cache (estimate.ts DISK_CACHE_READ_GBPS).
 */
export const BOOT_DISK_SIZING: DiskSizing = {
  maxGb: 65_536,
  minGb: 10,
  usdPerGbMonth: 0.1,
  includedGb: 0,
  priceSource: "cloud.google.com/compute/disks-image-pricing: pd-balanced $0.10/GB-month, us-central1 (2025-10)",
  billedAfterTermination: false,
};
