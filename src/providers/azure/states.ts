/**
 * Azure's VM states → Kiln's, explicitly. A VM has `provisioningState` (Creating, Updating, Succeeded,
 * Failed, Deleting) and, in its instance view, a `PowerState/<x>` status code. Billing: `stopped`
 * (PowerOff) is still billed ("You are still charged for this virtual machine"), so it is unhealthy,
 * not stopped; `deallocated` is not billed for compute. A state the mapping does not know is unknown.
 */
import type { MachineState } from "../provider.js";
import type { VmOut } from "./schema.js";

const POWER: Record<string, MachineState> = {
  starting: "pending",
  running: "running",
  stopping: "stopping",
  deallocating: "stopping",
  stopped: "unhealthy",
  deallocated: "stopped",
};

export function powerStateOf(vm: VmOut): string | undefined {
  const code = vm.instanceView?.statuses?.map((s) => s.code ?? "").find((c) => c.startsWith("PowerState/"));
  return code?.slice("PowerState/".length);
}

/** Kiln's state and the provider's own word for it (`Succeeded/running`). */
export function stateOf(vm: VmOut): { state: MachineState; providerState: string } {
  const prov = vm.provisioningState ?? "unknown";
  const power = powerStateOf(vm);
  const providerState = power ? `${prov}/${power}` : prov;
  switch (prov) {
    case "Failed":
      return { state: "unhealthy", providerState };
    case "Deleting":
      return { state: "terminating", providerState };
    case "Creating":
      return { state: power ? (POWER[power] ?? "unknown") : "pending", providerState };
    case "Succeeded":
    case "Updating":
      return { state: power ? (POWER[power] ?? "unknown") : "pending", providerState };
    default:
      return { state: "unknown", providerState };
  }
}
