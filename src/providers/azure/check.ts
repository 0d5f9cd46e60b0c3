/**
 * `kiln check` for Azure: which subscription and principal Kiln found, and which permissions it lacks for
 * launch, describe, terminate and tagging. One read-only call: `GET /subscriptions/{id}/providers/
 * Microsoft.Authorization/permissions` (the caller's effective actions at subscription scope, wildcards
 * and notActions included), sent through the resources SDK's own pipeline (so with its credential,
 * retries and, for emulators, the same transport), since @azure/arm-authorization is not installed.
 * Permissions granted only on narrower scopes (one resource group) are not seen there, and are said so.
 */
import { ProviderError } from "../provider.js";
import { principalOf, ARM_SCOPE } from "./auth.js";
import type { AzureClient } from "./client.js";
import { type PermissionBlock, allows } from "./emulator/permissions.js";
import { PermissionsOut, parseAzure } from "./schema.js";
import { SELF_STOP_NEEDS } from "./self-stop-role.js";

/** What each of Kiln's steps needs, by RBAC action. */
export const NEEDED: readonly { step: "launch" | "describe" | "terminate" | "tagging" | "self-stop"; action: string }[] = [
  { step: "launch", action: "Microsoft.Resources/subscriptions/resourceGroups/write" },
  { step: "launch", action: "Microsoft.Network/virtualNetworks/write" },
  { step: "launch", action: "Microsoft.Network/virtualNetworks/subnets/join/action" },
  { step: "launch", action: "Microsoft.Network/networkSecurityGroups/write" },
  { step: "launch", action: "Microsoft.Network/networkSecurityGroups/join/action" },
  { step: "launch", action: "Microsoft.Network/publicIPAddresses/write" },
  { step: "launch", action: "Microsoft.Network/publicIPAddresses/join/action" },
  { step: "launch", action: "Microsoft.Network/networkInterfaces/write" },
  { step: "launch", action: "Microsoft.Network/networkInterfaces/join/action" },
  { step: "launch", action: "Microsoft.Compute/virtualMachines/write" },
  { step: "launch", action: "Microsoft.Compute/disks/write" },
  { step: "describe", action: "Microsoft.Resources/subscriptions/resourceGroups/read" },
  { step: "describe", action: "Microsoft.Compute/virtualMachines/read" },
  { step: "describe", action: "Microsoft.Network/publicIPAddresses/read" },
  { step: "terminate", action: "Microsoft.Resources/subscriptions/resourceGroups/delete" },
  { step: "terminate", action: "Microsoft.Compute/virtualMachines/delete" },
  { step: "terminate", action: "Microsoft.Network/networkInterfaces/delete" },
  { step: "terminate", action: "Microsoft.Network/publicIPAddresses/delete" },
  // Tags ride on each resource's PUT (no separate tag call), so tagging needs the writes, plus the tags
  // API that `kiln gc` and the portal use to read them back.
  { step: "tagging", action: "Microsoft.Resources/tags/read" },
  // The watchdog's end of billing (./self-stop.ts): a role that may only delete a VM, given to the VM's own
  // identity on that VM. Owner and User Access Administrator have these; Contributor does not.
  ...SELF_STOP_NEEDS.map((action) => ({ step: "self-stop" as const, action })),
];

export interface AzureCheck {
  subscriptionId: string;
  principal: string | undefined;
  missing: { step: string; action: string }[];
}

/** The caller's effective RBAC actions at subscription scope (Microsoft.Authorization/permissions). */
export async function callerPermissions(client: AzureClient, signal: AbortSignal): Promise<PermissionBlock[]> {
  const body = await armRequest(client, "list the caller's permissions", "GET", `/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`, undefined, signal);
  return parseAzure(PermissionsOut, body, "list the caller's permissions").value;
}

/**
 * One ARM request outside the installed SDKs (Microsoft.Authorization: @azure/arm-authorization is not
 * installed), sent through the resources SDK's own pipeline, so with its credential, retries and, for
 * emulators, the same transport. A 4xx/5xx is thrown as the SDK's RestError would be (toProviderError reads it).
 */
export async function armRequest(client: AzureClient, op: string, method: "GET" | "PUT", path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
  return client.call(op, signal, async (s, abortSignal) => {
    const { createHttpHeaders, createPipelineRequest } = await import("@azure/core-rest-pipeline");
    const base = client.endpoint ?? "https://management.azure.com";
    const req = createPipelineRequest({ url: `${base}${path}`, method, abortSignal, allowInsecureConnection: client.emulated, ...(body !== undefined && { body: JSON.stringify(body), headers: createHttpHeaders({ "content-type": "application/json" }) }) });
    const res = await s.resources.sendRequest(req);
    if (res.status >= 400) {
      let error: { code?: string; message?: string } | undefined;
      try {
        error = (JSON.parse(res.bodyAsText ?? "{}") as { error?: { code?: string; message?: string } }).error;
      } catch {
        error = undefined;
      }
      throw Object.assign(new Error(error?.message ?? `HTTP ${res.status}`), { name: "RestError", statusCode: res.status, code: error?.code, response: { headers: res.headers } });
    }
    return JSON.parse(res.bodyAsText || "null") as unknown;
  });
}

export async function checkAzure(client: AzureClient, signal: AbortSignal): Promise<AzureCheck> {
  const token = await client.call("get a token", signal, (_s, abortSignal) => client.credential.getToken(ARM_SCOPE, { abortSignal }));
  if (!token) throw new ProviderError("azure", "auth", "Azure: the credential gave no token", { code: "kiln/no-token" });
  const blocks = await callerPermissions(client, signal);
  return { subscriptionId: client.subscriptionId, principal: principalOf(token.token), missing: NEEDED.filter((n) => !allows(blocks, n.action)) };
}

export function describeCheck(c: AzureCheck, source: string): string {
  const who = `subscription ${c.subscriptionId} (from ${source})${c.principal ? ` as ${c.principal}` : ""}`;
  if (c.missing.length === 0) return `${who}: every permission Kiln needs is granted at subscription scope`;
  const byStep = new Map<string, string[]>();
  for (const m of c.missing) byStep.set(m.step, [...(byStep.get(m.step) ?? []), m.action]);
  const parts = [...byStep.entries()].map(([step, actions]) => `${step}: ${actions.join(", ")}`);
  return `${who}: missing at subscription scope (a role on a narrower scope is not seen here) — ${parts.join("; ")}`;
}
