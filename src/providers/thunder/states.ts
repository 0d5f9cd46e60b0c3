/**
 * Thunder's `status` (an untyped string in the spec) → Kiln's states. Values from thunder-cli (provider
 * review §2.3). SNAPPING and UNKNOWN map to "unknown": their billing meaning is undocumented. No stop/start
 * endpoint exists in the spec, so how STOPPED bills is unknown too; Kiln never stops a Thunder instance.
 */
import type { MachineState } from "../provider.js";

const STATE: Record<string, MachineState> = {
  QUEUED: "pending",
  PENDING: "pending",
  PROVISIONING: "pending",
  STAGING: "pending",
  STARTING: "pending",
  RESTORING: "pending",
  RUNNING: "running",
  STOPPED: "stopped",
  DELETING: "terminating",
  SNAPPING: "unknown",
  UNKNOWN: "unknown",
};

export const thunderState = (status: string): MachineState => STATE[status.toUpperCase()] ?? "unknown";
