/**
 * How an Azure VM ends its own billing at the cap with no client, with no secret on it: the VM is created with
 * a **system-assigned managed identity**, and that identity is given, on that VM alone, a custom role whose only
 * action is `Microsoft.Compute/virtualMachines/delete` (./self-stop-role.ts). The watchdog then asks the
 * Instance Metadata Service for the identity's token and deletes its own VM through ARM. The VM's OS disk and
 * NIC go with it (deleteOption Delete); the public IP, NSG and VNet stay in the job's resource group until a
 * client deletes the group (a public IP bills about $0.005/h; the others nothing).
 *
 * What it needs of the user, checked before anything is created (`kiln check` lists it too): the right to
 * define a role and to assign it (Microsoft.Authorization/roleDefinitions/write and roleAssignments/write:
 * Owner or User Access Administrator; Contributor lacks them). Without them a launch that needs the watchdog
 * to end billing is refused, naming the rights and the alternatives.
 *
 * Quirks that bite (Azure's docs, "Assign Azure roles using the REST API" and managed identities' FAQ):
 * - The identity's service principal reaches the directory seconds after the VM: an assignment made at once
 *   can fail with `PrincipalNotFound`, so it is retried for up to two minutes.
 * - A custom role's name is unique in the tenant, so the role is named with the subscription's id, and its id
 *   is derived from it: defining it again is the same PUT, idempotent.
 * - The assignment's name is a GUID derived from the VM's resource id, so a relaunch of the same intent PUTs the
 *   same assignment.
 */
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { EndBilling } from "../descriptor.js";
import { ProviderError } from "../provider.js";
import { allows } from "./emulator/permissions.js";
import { armRequest, callerPermissions } from "./check.js";
import type { AzureClient } from "./client.js";
import { SELF_STOP_ACTIONS, SELF_STOP_NEEDS } from "./self-stop-role.js";

const AUTH_API = "2022-04-01";
const COMPUTE_API = "2024-07-01";

/** A GUID from a name (SHA-1 based, version 5 layout), so the same name always gives the same id. */
export function guidFor(name: string): string {
  const h = createHash("sha1").update(`kiln:${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export const selfStopRoleId = (subscriptionId: string): string => `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guidFor(`self-stop-role:${subscriptionId}`)}`;

/** Refuse before anything is created when the caller cannot give the VM its right to delete itself. */
export async function assertCanGrantSelfStop(client: AzureClient, signal: AbortSignal): Promise<void> {
  const blocks = await callerPermissions(client, signal);
  const missing = SELF_STOP_NEEDS.filter((a) => !allows(blocks, a));
  if (missing.length === 0) return;
  throw new ProviderError("azure", "auth", `Azure: this job needs the VM to end its own billing at the cap with no client, and your principal cannot give it that right (missing at subscription scope: ${missing.join(", ")})`, {
    code: "kiln/self-stop-rights",
    suggestion: "ask for Owner or User Access Administrator on the subscription (or a custom role with those two actions); or set budget.on_cap_offline: keep-data and drop artifacts.store, so the VM keeps billing after the cap until a client ends it",
  });
}

/** Define the self-stop role (idempotent) and assign it to `principalId` on the VM `vmResourceId`. */
export async function grantSelfStop(client: AzureClient, o: { vmResourceId: string; principalId: string; retryForMs?: number; retryEveryMs?: number }, signal: AbortSignal): Promise<void> {
  const sub = client.subscriptionId;
  const roleId = selfStopRoleId(sub);
  await armRequest(client, "define the VM self-stop role", "PUT", `${roleId}?api-version=${AUTH_API}`, {
    properties: { roleName: `Kiln VM self-stop (${sub})`, description: "Lets a Kiln VM's own identity delete that VM when its budget cap is reached with no client.", type: "CustomRole", permissions: [{ actions: [...SELF_STOP_ACTIONS], notActions: [] }], assignableScopes: [`/subscriptions/${sub}`] },
  }, signal);
  const path = `${o.vmResourceId}/providers/Microsoft.Authorization/roleAssignments/${guidFor(`self-stop:${o.vmResourceId.toLowerCase()}`)}?api-version=${AUTH_API}`;
  const deadline = Date.now() + (o.retryForMs ?? 120_000);
  for (;;) {
    try {
      await armRequest(client, "let the VM delete itself", "PUT", path, { properties: { roleDefinitionId: roleId, principalId: o.principalId, principalType: "ServicePrincipal" } }, signal);
      return;
    } catch (e) {
      // The identity reaches the directory a little after the VM: retry its PrincipalNotFound, nothing else.
      if (!(e instanceof ProviderError && /PrincipalNotFound/.test(e.message)) || Date.now() >= deadline) throw e;
      await sleep(o.retryEveryMs ?? 5_000, undefined, { signal });
    }
  }
}

/**
 * The watchdog's end of billing (src/core/watchdog/script.ts runs it as `sh end-billing.sh ARGS`): the identity's
 * token from IMDS, then DELETE the VM. The token never reaches an argv (`ps` would show it): curl reads its
 * header from a config on stdin, written by the shell's own printf.
 */
const END_BILLING_SCRIPT = `#!/bin/sh
# $1: ARM endpoint, $2: the VM's resource id, $3: the Compute api-version.
tok=$(curl -sS -m 20 -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F" | sed -n 's/.*"access_token" *: *"\\([^"]*\\)".*/\\1/p')
if [ -z "$tok" ]; then echo "no token from the VM's managed identity"; exit 1; fi
code=$(printf 'header = "Authorization: Bearer %s"\\n' "$tok" | curl -sS -m 30 -o /dev/null -w '%{http_code}' -K - -X DELETE "$1$2?api-version=$3")
case "$code" in 200|202|204) exit 0 ;; esac
echo "deleting the VM answered $code"
exit 1
`;

export const azureEndBilling = (armEndpoint: string, subscriptionId: string) => (id: string): EndBilling => {
  const [group, vm] = id.split("/");
  return { script: END_BILLING_SCRIPT, args: [armEndpoint.replace(/\/+$/, ""), `/subscriptions/${subscriptionId}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachines/${vm}`, COMPUTE_API], files: [] };
};
