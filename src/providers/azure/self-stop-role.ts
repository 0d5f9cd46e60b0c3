/**
 * The one custom role the watchdog's end of billing needs on Azure (./self-stop.ts): delete a VM, nothing
 * else. Its own file so that `kiln check` (./check.ts) can list what granting it needs without loading the rest.
 */

/** What the VM's identity may do: delete the VM it is assigned on. */
export const SELF_STOP_ACTIONS = ["Microsoft.Compute/virtualMachines/delete"] as const;

/** What the caller needs to give the VM that right: define the role once per subscription, assign it per VM. */
export const SELF_STOP_NEEDS = ["Microsoft.Authorization/roleDefinitions/write", "Microsoft.Authorization/roleAssignments/write"] as const;
