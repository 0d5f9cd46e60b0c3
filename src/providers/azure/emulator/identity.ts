/**
 * Managed identities and role-based access, as far as a VM deleting itself needs them (minimal, not validated
 * against a spec: Microsoft.Authorization is outside the Compute Swagger Kiln carries):
 * - a VM created with `identity: {type: "SystemAssigned"}` gets a principal (its `principalId`, echoed under
 *   `identity` with the tenant, as ARM does);
 * - custom role definitions (`PUT /subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{id}`,
 *   properties.permissions as `{actions, notActions}`) and role assignments (`PUT {scope}/providers/
 *   Microsoft.Authorization/roleAssignments/{name}` for a principal and a role, at any scope under the
 *   subscription), each needing its `…/write` action of the caller;
 * - the Instance Metadata Service's token endpoint for that identity (`GET /metadata/identity/oauth2/token?
 *   api-version=…&resource=https://management.azure.com/` with `Metadata: true`, reached as the VM's other IMDS
 *   paths are: ./scheduled-events.ts), answering an access token that ARM accepts for exactly what the
 *   principal's assignments allow at the scopes they name (a request's path must lie under the scope).
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import { type PermissionBlock, allows } from "./permissions.js";
import { cloudError } from "./render.js";
import { type Route, PATHS, route } from "./routes.js";

export interface RoleDefinition {
  id: string;
  roleName: string;
  permissions: PermissionBlock[];
  assignableScopes: string[];
}

export interface RoleAssignment {
  name: string;
  scope: string;
  principalId: string;
  roleDefinitionId: string;
}

/** The subscription's identities, roles and assignments, and the IMDS tokens handed out. */
export class Identities {
  readonly roles = new Map<string, RoleDefinition>();
  readonly assignments = new Map<string, RoleAssignment>();
  /** vmId → principalId, for VMs created with a system-assigned identity. */
  readonly principals = new Map<string, string>();
  /** access token → principalId. */
  readonly tokens = new Map<string, string>();
  readonly tenantId = randomUUID();

  /** Give a VM its system-assigned identity; its principal id. */
  assign(vmId: string): string {
    const p = this.principals.get(vmId) ?? randomUUID();
    this.principals.set(vmId, p);
    return p;
  }

  /** The principal a bearer token stands for, when it is a managed identity's. */
  principalOf(token: string | undefined): string | undefined {
    return token === undefined ? undefined : this.tokens.get(token);
  }

  /** May `principal` do `action` on `path`? Some assignment's scope holds the path and its role allows the action. */
  allows(principal: string, action: string, path: string): boolean {
    const p = path.toLowerCase();
    return [...this.assignments.values()].some((a) => {
      if (a.principalId !== principal) return false;
      const scope = a.scope.toLowerCase();
      if (p !== scope && !p.startsWith(`${scope}/`)) return false;
      const role = this.roles.get(a.roleDefinitionId.toLowerCase());
      return role !== undefined && allows(role.permissions, action);
    });
  }
}

const ROLE_DEF = `${PATHS.SUB}/providers/microsoft\\.authorization/roledefinitions/([^/]+)`;
// Group 1 is the subscription (as in every route), 2 the rest of the scope, 3 the assignment's name.
const ASSIGNMENT = `${PATHS.SUB}((?:/.+)?)/providers/microsoft\\.authorization/roleassignments/([^/]+)`;

export function identityRoutes(ids: Identities): Route[] {
  const A = "Microsoft.Authorization";
  return [
    route("PUT", ROLE_DEF, "RoleDefinitions_CreateOrUpdate", `${A}/roleDefinitions/write`, (m, r, ctx): EmuReply => {
      const body = r.body as { properties?: { roleName?: string; permissions?: { actions?: string[]; notActions?: string[] }[]; assignableScopes?: string[] } } | undefined;
      const p = body?.properties;
      if (!p?.roleName || !Array.isArray(p.permissions) || !Array.isArray(p.assignableScopes) || p.assignableScopes.length === 0) {
        return { status: 400, body: cloudError("InvalidRoleDefinition", "A role definition needs properties.roleName, properties.permissions and properties.assignableScopes.") };
      }
      const id = `/subscriptions/${ctx.sub}/providers/Microsoft.Authorization/roleDefinitions/${m[2]}`;
      const existed = ids.roles.has(id.toLowerCase());
      const role = { id, roleName: p.roleName, permissions: p.permissions.map((b) => ({ actions: b.actions ?? [], notActions: b.notActions ?? [] })), assignableScopes: p.assignableScopes };
      ids.roles.set(id.toLowerCase(), role);
      return { status: existed ? 200 : 201, body: { id, name: m[2], type: `${A}/roleDefinitions`, properties: { roleName: role.roleName, type: "CustomRole", permissions: role.permissions, assignableScopes: role.assignableScopes } } };
    }),
    route("PUT", ASSIGNMENT, "RoleAssignments_Create", `${A}/roleAssignments/write`, (m, r): EmuReply => {
      const [, sub, rest, name] = m as [string, string, string, string];
      const scope = `/subscriptions/${sub}${rest}`;
      const p = (r.body as { properties?: { roleDefinitionId?: string; principalId?: string } } | undefined)?.properties;
      if (!p?.roleDefinitionId || !p.principalId) return { status: 400, body: cloudError("InvalidRoleAssignment", "A role assignment needs properties.roleDefinitionId and properties.principalId.") };
      if (!ids.roles.has(p.roleDefinitionId.toLowerCase())) return { status: 400, body: cloudError("RoleDefinitionDoesNotExist", `The specified role definition with ID '${p.roleDefinitionId.split("/").at(-1)}' does not exist.`) };
      if (![...ids.principals.values()].includes(p.principalId)) return { status: 400, body: cloudError("PrincipalNotFound", `Principal ${p.principalId} does not exist in the directory ${ids.tenantId}.`) };
      const existing = ids.assignments.get(name.toLowerCase());
      if (existing && (existing.principalId !== p.principalId || existing.roleDefinitionId.toLowerCase() !== p.roleDefinitionId.toLowerCase())) return { status: 409, body: cloudError("RoleAssignmentExists", "The role assignment already exists.") };
      ids.assignments.set(name.toLowerCase(), { name, scope, principalId: p.principalId, roleDefinitionId: p.roleDefinitionId });
      return { status: existing ? 200 : 201, body: { id: `${scope}/providers/${A}/roleAssignments/${name}`, name, type: `${A}/roleAssignments`, properties: { scope, roleDefinitionId: p.roleDefinitionId, principalId: p.principalId, principalType: "ServicePrincipal" } } };
    }),
  ];
}

const TOKEN_PATH = "/metadata/identity/oauth2/token";
export const IDENTITY_ROUTE = /^\/__imds\/([0-9a-f-]+)(\/metadata\/identity\/oauth2\/token)$/i;

/** IMDS's token endpoint for VM `vmId`'s identity (its `Metadata: true` and api-version rules as the rest of IMDS). */
export function identityToken(ids: Identities, vmId: string, r: EmuRequest): EmuReply {
  if (String(r.headers["metadata"] ?? "").toLowerCase() !== "true") return { status: 400, body: { error: "invalid_request", error_description: "Required metadata header not specified" } };
  if (!r.query.get("api-version")) return { status: 400, body: { error: "invalid_request", error_description: "api-version was not specified in the request" } };
  const resource = r.query.get("resource") ?? "";
  if (!/^https:\/\/management\.(core\.windows\.net|azure\.com)\/?$/.test(resource)) return { status: 400, body: { error: "invalid_resource", error_description: `AADSTS500011: The resource principal named ${resource} was not found in the tenant.` } };
  const principal = ids.principals.get(vmId);
  if (!principal) return { status: 400, body: { error: "invalid_request", error_description: "Identity not found" } };
  const token = `mi-${randomBytes(16).toString("hex")}`;
  ids.tokens.set(token, principal);
  const now = Math.floor(Date.now() / 1000);
  return { status: 200, body: { access_token: token, client_id: principal, expires_in: "86399", expires_on: String(now + 86399), ext_expires_in: "86399", not_before: String(now), resource, token_type: "Bearer" } };
}

export const isIdentityPath = (r: EmuRequest): boolean => r.path === TOKEN_PATH || IDENTITY_ROUTE.test(r.path);
