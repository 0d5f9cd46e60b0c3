/** The pod disk Kiln rents on RunPod, and how it is sized at launch (kept apart so the catalog can use it without the client). */
import type { DiskSizing } from "../provider.js";

/** The container disk Kiln asks for, in GB; the planner sizes the activation cache against it. */
export const CONTAINER_DISK_GB = 100;
/**
 * How Kiln sizes a pod's disk at launch: the **container disk** (REST v2 `CreatePodRequest.disk`, GraphQL
 * `podRentInterruptable.containerDiskInGb`), which is the pod's local disk and is deleted with it.
 * - Not a volume disk (`mounts.persistent` / `volumeInGb`): it survives a stop and bills $0.20/GB-month while
 *   stopped; Kiln never stops pods, so it buys nothing and the spec marks it deprecated.
 * - Not a network volume (`POST /v2/networkvolumes`): a separate product that outlives the pod and bills until
 *   it is deleted ($0.07/GB-month), slower ("variable (network)"), and pinned to one data centre — Kiln
 *   deletes everything it makes, and the activation cache is rebuilt per attempt anyway.
 * Price: $0.10/GB-month for the container disk, billed while the pod exists (docs.runpod.io/pods/storage,
 * "Storage options" table, read 2026-12); RunPod's GPU price does not include it, so `includedGb` is 0.
 * GUESS(runpod): the largest container disk. Neither the REST v2 spec (`disk`: integer, minimum 1, no maximum)
 * nor the docs state one; hosts have finite NVMe, and 2,000 GB is what the console offered on the hosts seen.
 * A host without the room answers the create as out of stock, which fails over like any capacity error.
 */
export const CONTAINER_DISK_SIZING: DiskSizing = {
  maxGb: 2000,
  usdPerGbMonth: 0.1,
  includedGb: 0,
  priceSource: "docs.runpod.io/pods/storage: container disk $0.10/GB/month (2026-12); max size a GUESS",
  billedAfterTermination: false,
};
