/**
 * What the Compute Swagger does not cover, emulated only as far as Kiln uses it (minimal, not validated
 * against any spec): resource groups (create, get, list, delete as an LRO with a `Location` poll), the
 * network resources of a job (VNet with its subnet, NSG, public IP, NIC: stored and echoed with
 * `provisioningState: Succeeded`, answered synchronously, which ARM's LRO rules allow), the caller's
 * permissions (Microsoft.Authorization/permissions) and the Retail Prices API.
 */
import type { EmuReply } from "../../emulator-kit/http.js";
import { groupLagKey } from "./account.js";
import type { PermissionBlock } from "./permissions.js";
import { PRICE_PAGE_SIZE, priceItems } from "./prices.js";
import { cloudError, groupId, renderGroup } from "./render.js";
import { type Route, PATHS, groupNotFound, notFound, route } from "./routes.js";

export const NET_KINDS: Record<string, string> = { virtualnetworks: "virtualNetworks", networksecuritygroups: "networkSecurityGroups", publicipaddresses: "publicIPAddresses", networkinterfaces: "networkInterfaces" };
const NET_OPS: Record<string, string> = { virtualnetworks: "VirtualNetworks", networksecuritygroups: "NetworkSecurityGroups", publicipaddresses: "PublicIPAddresses", networkinterfaces: "NetworkInterfaces" };

export function groupRoutes(): Route[] {
  const A = "Microsoft.Resources/subscriptions/resourceGroups";
  return [
    route("PUT", PATHS.RG, "ResourceGroups_CreateOrUpdate", `${A}/write`, (m, r, ctx) => {
      const body = r.body as { location?: string; tags?: Record<string, string> } | undefined;
      if (!body?.location) return { status: 400, body: cloudError("LocationRequired", "The location property is required for this definition.") };
      const existing = ctx.account.group(m[2]!);
      if (existing?.deleting) return { status: 409, body: cloudError("ResourceGroupBeingDeleted", `The resource group '${m[2]}' is in deprovisioning state and cannot perform this operation.`) };
      const g = existing ?? { name: m[2]!, location: body.location, tags: {}, deleting: false };
      g.tags = body.tags ?? {};
      ctx.account.groups.set(g.name.toLowerCase(), g);
      return { status: existing ? 200 : 201, body: renderGroup(ctx.sub, g) };
    }),
    route("GET", PATHS.RG, "ResourceGroups_Get", `${A}/read`, (m, _r, ctx) => {
      const g = ctx.account.group(m[2]!);
      return g ? { status: 200, body: renderGroup(ctx.sub, g) } : groupNotFound(m[2]!);
    }),
    // A group under a listing-lag fault is missing here (and only here: GET by name finds it).
    route("GET", `${PATHS.SUB}/resourcegroups`, "ResourceGroups_List", `${A}/read`, (_m, _r, ctx) => ({ status: 200, body: { value: [...ctx.account.groups.values()].filter((g) => !ctx.account.lag.hides(groupLagKey(g.name))).map((g) => renderGroup(ctx.sub, g)) } })),
    route("DELETE", PATHS.RG, "ResourceGroups_Delete", `${A}/delete`, (m, _r, ctx): EmuReply => {
      const g = ctx.account.group(m[2]!);
      if (!g) return groupNotFound(m[2]!); // ARM answers 404 for a group that does not exist
      const op = ctx.account.deleteGroup(g);
      return { status: 202, headers: { Location: `${ctx.url}/subscriptions/${ctx.sub}/operationresults/${op.id}?api-version=2025-04-01` } };
    }),
    route("GET", `${PATHS.SUB}/operationresults/([^/]+)`, "ResourceGroups_DeleteStatus", undefined, (m, r, ctx): EmuReply => {
      const op = ctx.account.poll(m[2]!);
      if (!op) return notFound(`operationresults/${m[2]}`);
      return op.status === "InProgress" ? { status: 202, headers: { Location: `${ctx.url}${r.path}?${r.query.toString()}` } } : { status: 200 };
    }),
  ];
}

export function networkRoutes(): Route[] {
  const path = `${PATHS.RG}/providers/microsoft\\.network/(virtualnetworks|networksecuritygroups|publicipaddresses|networkinterfaces)/([^/]+)`;
  const idOf = (sub: string, g: string, kind: string, name: string) => `${groupId(sub, g)}/providers/Microsoft.Network/${NET_KINDS[kind.toLowerCase()]}/${name}`;
  return [
    route("PUT", path, "Network_CreateOrUpdate", "Microsoft.Network/*/write", (m, r, ctx) => {
      const [, , g, kind, name] = m as [string, string, string, string, string];
      const group = ctx.account.group(g);
      if (!group || group.deleting) return groupNotFound(g);
      const id = idOf(ctx.sub, group.name, kind, name);
      const body = (r.body ?? {}) as { location?: string; tags?: Record<string, string>; properties?: Record<string, unknown> };
      const existed = ctx.account.network.has(id.toLowerCase());
      const properties: Record<string, unknown> = { ...body.properties, provisioningState: "Succeeded" };
      if (kind.toLowerCase() === "publicipaddresses") properties["ipAddress"] = "127.0.0.1"; // emulated: the sshd's loopback address
      const stored = { id, name, type: `Microsoft.Network/${NET_KINDS[kind.toLowerCase()]}`, location: body.location ?? group.location, tags: body.tags ?? {}, properties };
      ctx.account.network.set(id.toLowerCase(), { group: group.name, body: stored });
      return { status: existed ? 200 : 201, body: stored };
    }),
    route("GET", path, "Network_Get", "Microsoft.Network/*/read", (m, _r, ctx) => {
      const r = ctx.account.network.get(idOf(ctx.sub, m[2]!, m[3]!, m[4]!).toLowerCase());
      return r ? { status: 200, body: r.body } : notFound(`Microsoft.Network/${NET_KINDS[m[3]!.toLowerCase()]}/${m[4]}`);
    }),
  ];
}

export const networkOpName = (kind: string, verb: string) => `${NET_OPS[kind.toLowerCase()] ?? "Network"}_${verb}`;

export function authorizationRoute(permissions: () => readonly PermissionBlock[]): Route {
  return route("GET", `${PATHS.SUB}/providers/microsoft\\.authorization/permissions`, "Permissions_ListForSubscription", undefined, () => ({
    status: 200,
    body: { value: permissions().map((b) => ({ actions: b.actions, notActions: b.notActions, dataActions: [], notDataActions: [] })) },
  }));
}

export function retailPricesRoute(): Route {
  return route("GET", "/api/retail/prices", "RetailPrices_List", undefined, (_m, r, ctx) => {
    const all = priceItems(ctx.account.o.prices, r.query.get("$filter") ?? "");
    const skip = Number(r.query.get("$skip") ?? "0") || 0;
    const page = all.slice(skip, skip + PRICE_PAGE_SIZE);
    const next = skip + PRICE_PAGE_SIZE < all.length ? `${ctx.url}/api/retail/prices?${new URLSearchParams({ ...Object.fromEntries(r.query), $skip: String(skip + PRICE_PAGE_SIZE) }).toString()}` : null;
    return { status: 200, body: { BillingCurrency: "USD", CustomerEntityId: "Default", CustomerEntityType: "Retail", Items: page, NextPageLink: next, Count: page.length } };
  });
}
