/**
 * Azure machine ids: `resourceGroup/vmName`. Kiln gives every job its own resource group named like the
 * VM (`kiln-<intentId>`), so describe and terminate work from the ledger's id alone, and terminate deletes
 * the one group that holds the VM, its NIC, public IP, NSG, VNet and disk (docs/lifecycle.md §12).
 */
import { ProviderError } from "../provider.js";

export interface AzureMachineRef {
  resourceGroup: string;
  vmName: string;
}

// ARM resource group names: 1–90 of letters, digits, _ - . ( ); VM names here are always `kiln-…`.
const ID = /^([A-Za-z0-9_.()-]{1,90})\/([A-Za-z0-9_.-]{1,64})$/;

export const formatMachineId = (r: AzureMachineRef): string => `${r.resourceGroup}/${r.vmName}`;

/** The parts of a machine id, or undefined for one this provider never issued. */
export function parseMachineIdLoose(id: string): AzureMachineRef | undefined {
  const m = ID.exec(id);
  return m ? { resourceGroup: m[1]!, vmName: m[2]! } : undefined;
}

/** The parts of a machine id; a malformed id is a Kiln bug (kind invalid). */
export function parseMachineId(id: string): AzureMachineRef {
  const r = parseMachineIdLoose(id);
  if (!r) throw new ProviderError("azure", "invalid", `"${id}" is not an Azure machine id (resourceGroup/vmName)`, { code: "kiln/bad-machine-id" });
  return r;
}

/** The job's resource group and VM: both `kiln-<intentId>` (VM names allow 64 characters on Linux). */
export const refForIntent = (machineName: string): AzureMachineRef => ({ resourceGroup: machineName, vmName: machineName });

/** Tags on every resource group Kiln makes: which installation and intent it belongs to. */
export const TAG_INTENT = "kiln-intent";
export const TAG_INSTALLATION = "kiln-installation";
export const TAG_PRIORITY = "kiln-priority";
