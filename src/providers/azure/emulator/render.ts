/**
 * ARM bodies as the emulator answers them: VirtualMachine and its instance view (per the 2024-07-01
 * Swagger), the CloudError envelope, and the minimal resource group and network bodies.
 */
import type { AzureAccount, Group, Operation, Vm } from "./account.js";

export const cloudError = (code: string, message: string) => ({ error: { code, message } });

export const groupId = (sub: string, g: string) => `/subscriptions/${sub}/resourceGroups/${g}`;
export const vmId = (sub: string, vm: Vm) => `${groupId(sub, vm.group)}/providers/Microsoft.Compute/virtualMachines/${vm.name}`;

export function renderGroup(sub: string, g: Group) {
  return { id: groupId(sub, g.name), name: g.name, type: "Microsoft.Resources/resourceGroups", location: g.location, tags: g.tags, properties: { provisioningState: g.deleting ? "Deleting" : "Succeeded" } };
}

export function renderInstanceView(account: AzureAccount, vm: Vm) {
  const power = account.powerOf(vm);
  const statuses: { code: string; level: "Info" | "Warning" | "Error"; displayStatus: string; time?: string; message?: string }[] = [
    vm.provisioningState === "Failed"
      ? { code: "ProvisioningState/failed/AllocationFailed", level: "Error", displayStatus: "Provisioning failed", message: "Allocation failed." }
      : { code: `ProvisioningState/${vm.provisioningState.toLowerCase()}`, level: "Info", displayStatus: `Provisioning ${vm.provisioningState.toLowerCase()}`, time: vm.createdAt },
  ];
  if (power) statuses.push({ code: `PowerState/${power}`, level: "Info", displayStatus: `VM ${power}` });
  return { computerName: vm.name, osName: "ubuntu", osVersion: "22.04", statuses };
}

export function renderVm(account: AzureAccount, sub: string, vm: Vm, withInstanceView: boolean, withUserData = false) {
  // userData comes back only when asked for (`$expand=userData`), as ARM does.
  const { osProfile, userData, ...rest } = vm.properties as { osProfile?: Record<string, unknown>; userData?: unknown };
  // adminPassword is never echoed; the rest of osProfile is.
  const { adminPassword: _secret, ...os } = osProfile ?? {};
  return {
    id: vmId(sub, vm),
    name: vm.name,
    type: "Microsoft.Compute/virtualMachines",
    location: vm.location,
    tags: vm.tags,
    ...(vm.principalId && { identity: { type: "SystemAssigned", principalId: vm.principalId, tenantId: account.identities.tenantId } }),
    properties: {
      ...rest,
      ...(osProfile && { osProfile: os }),
      ...(withUserData && userData !== undefined && { userData }),
      vmId: vm.vmId,
      provisioningState: vm.provisioningState,
      timeCreated: vm.createdAt,
      ...(withInstanceView && { instanceView: renderInstanceView(account, vm) }),
    },
  };
}

export function renderOperation(op: Operation) {
  return { name: op.id, status: op.status, startTime: op.startTime, ...(op.endTime && { endTime: op.endTime }), ...(op.error && { error: op.error }) };
}
