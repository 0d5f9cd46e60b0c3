/**
 * TensorDock's instance statuses onto Kiln's. The third-party document lists starting, running, stopping,
 * stopped, deleting, deleted and error; the instance-management page also names "StoppedDisassociated" (a
 * stopped VM whose GPU was released). GUESS(tensordock): the case the live API uses is unconfirmed, so statuses
 * are compared in lower case; a status not listed here is "unknown", never guessed.
 */
import type { MachineState } from "../provider.js";

const STATE: Record<string, MachineState> = {
  starting: "pending",
  running: "running",
  stopping: "stopping",
  stopped: "stopped",
  stoppeddisassociated: "stopped",
  deleting: "terminating",
  deleted: "terminated",
  error: "unhealthy",
};

export const tensordockState = (status: string): MachineState => STATE[status.toLowerCase().replace(/[\s_-]/g, "")] ?? "unknown";
