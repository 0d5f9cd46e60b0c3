/**
 * The Azure emulator: a stateful ARM endpoint on loopback (on the emulator kit's HTTP front) that the
 * real SDKs (@azure/arm-compute, arm-resources, arm-network) talk to. Microsoft.Compute virtualMachines
 * follows the 2024-07-01 Swagger (tests validate every exchange against it, ./testing/swagger.ts);
 * resource groups, network resources, permissions and retail prices are minimal (./emulator/arm-routes.ts).
 *
 * Auth: a static bearer token (`token`); a wrong one is 401 InvalidAuthenticationToken, another
 * subscription 404 SubscriptionNotFound, and an action outside `permissions` 403 AuthorizationFailed.
 *
 * Faults (FaultPlan rules match `path` against the operation id, e.g. "VirtualMachines_CreateOrUpdate",
 * "ResourceGroups_*"): the kit's kinds, plus on VM create `capacity` (409 SkuNotAvailable),
 * `allocation-failed` (the operation fails with AllocationFailed and the VM stays, Failed), `zonal-allocation-failed`,
 * `quota` (409 OperationNotAllowed, quota text), `listing-lag` (the new VM, and its resource group,
 * missing from listings for the rule's `requests` reads or `delayMs`; GET by name still finds them);
 * anywhere `auth-failed` (403 AuthorizationFailed) and `malformed` (a 200 whose body has the wrong types).
 *
 * Each VM's Scheduled Events (./emulator/scheduled-events.ts) are served at `/__imds/{vmId}/…` and, through
 * the `http_proxy` its sessions get, at Azure's own 169.254.169.254: a Spot eviction (`reclaim`, or the
 * SimulateEviction action) posts a `Preempt` event `preemptNoticeMs` before the VM is deleted.
 *
 * @example
 *   const emu = await startAzureEmulator({ machines: new SshdMachines() });
 *   // point the SDKs at emu.url with a TokenCredential answering emu.token, subscription emu.subscriptionId
 */
import { randomBytes, randomUUID } from "node:crypto";
import { type FaultRule, FaultPlan, seededRandom } from "../emulator-kit/faults.js";
import { type EmuReply, type EmuRequest, bearerToken, serveJson } from "../emulator-kit/http.js";
import type { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { AZURE_CATALOG, AZURE_SIZES } from "./catalog.js";
import { AzureAccount, groupLagKey } from "./emulator/account.js";
import { NET_KINDS, authorizationRoute, groupRoutes, networkOpName, networkRoutes, retailPricesRoute } from "./emulator/arm-routes.js";
import { type CreateFault, computeRoutes } from "./emulator/compute-routes.js";
import { type PermissionBlock, allows } from "./emulator/permissions.js";
import type { EmulatedPrice } from "./emulator/prices.js";
import { cloudError } from "./emulator/render.js";
import type { Route } from "./emulator/routes.js";
import { IDENTITY_ROUTE, identityRoutes, identityToken } from "./emulator/identity.js";
import { IMDS_PREFIX, imdsProxyEnv, imdsRoute, proxiedImds, scheduledEventsUrl } from "./emulator/scheduled-events.js";

export interface AzureEmulatorOptions {
  machines: SshdMachines;
  host?: string;
  port?: number;
  subscriptionId?: string;
  token?: string;
  regions?: readonly string[];
  faults?: readonly FaultRule[];
  seed?: number;
  allocateMs?: number;
  bootDelayMs?: number;
  deleteMs?: number;
  /** What the caller may do (RBAC); default everything (`*`). */
  permissions?: PermissionBlock[];
  /**
   * Between a Spot VM's `Preempt` Scheduled Event and its eviction when `reclaim` names none. Azure gives
   * ≥ 30 s; the default here is 0 (evicted at once: the notice-missed path, seen only by describe).
   */
  preemptNoticeMs?: number;
}

/** One request and its answer, for the Swagger conformance check. */
export interface Exchange {
  op: string;
  method: string;
  path: string;
  query: Record<string, string>;
  requestBody: unknown;
  status: number;
  responseBody: unknown;
  headers: Record<string, string>;
}

export interface AzureEmulator {
  url: string;
  token: string;
  subscriptionId: string;
  account: AzureAccount;
  exchanges: Exchange[];
  inject(rule: FaultRule): void;
  setPermissions(blocks: PermissionBlock[]): void;
  /** Live machines: ids as the provider's (`group/vm`). */
  live(): { id: string; name: string; status: string }[];
  billed(): { id: string; status: string; billedSeconds: number; costUsd: number }[];
  sshEndpoint(id: string): { host: string; port: number } | undefined;
  homeOf(id: string): string | undefined;
  /**
   * Evict a Spot VM (evictionPolicy Delete), as Azure's capacity reclaim does: a `Preempt` Scheduled Event
   * at once, the VM deleted `noticeMs` (default the emulator's `preemptNoticeMs`) later. Resolves when it is gone.
   */
  reclaim(id: string, o?: { noticeMs?: number }): Promise<void>;
  /** The URL of a VM's Scheduled Events on this emulator (on Azure: http://169.254.169.254/metadata/scheduledevents). */
  scheduledEventsUrl(id: string): string | undefined;
  close(): Promise<void>;
}

const GENERAL = new Set(["error-5xx", "rate-limit", "slow", "hang", "lost-response", "html-error", "auth-failed", "malformed"]);
const CREATE = new Set(["capacity", "allocation-failed", "zonal-allocation-failed", "quota", "listing-lag"]);

/** Emulated prices: the catalog's on-demand price in every region, and its Spot price (or 40 % of on-demand). */
export function emulatedPrices(regions: readonly string[]): EmulatedPrice[] {
  return regions.flatMap((region) =>
    AZURE_SIZES.map((size) => {
      const row = AZURE_CATALOG.find((r) => r.instanceType === size.armSku)!;
      return { size, region, onDemand: row.pricePerHour, spot: row.spotPricePerHour ?? Math.round(row.pricePerHour * 40) / 100 };
    }),
  );
}

export async function startAzureEmulator(o: AzureEmulatorOptions): Promise<AzureEmulator> {
  const subscriptionId = o.subscriptionId ?? randomUUID();
  const token = o.token ?? `emu-${randomBytes(12).toString("hex")}`;
  // Set once the server listens, before any VM boots: each VM reaches its metadata service here.
  let url = "";
  const account = new AzureAccount({
    subscriptionId,
    machines: o.machines,
    prices: emulatedPrices(o.regions ?? ["eastus", "westus3"]),
    allocateMs: o.allocateMs ?? 0,
    bootDelayMs: o.bootDelayMs ?? 100,
    deleteMs: o.deleteMs ?? 50,
    preemptNoticeMs: o.preemptNoticeMs ?? 0,
    machineEnv: (vm) => imdsProxyEnv(Number(new URL(url).port), vm.vmId),
  });
  const faults = new FaultPlan(o.faults ?? [], seededRandom(o.seed ?? 1));
  let permissions: PermissionBlock[] = o.permissions ?? [{ actions: ["*"], notActions: [] }];
  const exchanges: Exchange[] = [];
  let lagRule: FaultRule | undefined;
  const createFault = (): CreateFault | undefined => {
    const f = faults.pick("PUT", "VirtualMachines_CreateOrUpdate", CREATE);
    if (!f) return undefined;
    if (f.kind === "listing-lag") {
      lagRule = f;
      return undefined;
    }
    if (f.kind === "capacity") return { reject: { status: 409, code: "SkuNotAvailable", message: "The requested VM size is currently not available in this location. Please try another size or deploy to a different location." } };
    if (f.kind === "quota") return { reject: { status: 409, code: "OperationNotAllowed", message: "Operation could not be completed as it results in exceeding approved standardNCADSA100v4Family Cores quota. Additional details - Current Limit: 0, Current Usage: 0, Additional Required: 24." } };
    if (f.kind === "zonal-allocation-failed") return { failOperation: { code: "ZonalAllocationFailed", message: "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone." } };
    return { failOperation: { code: "AllocationFailed", message: "Allocation failed. We do not have sufficient capacity for the requested VM size in this region." } };
  };
  const routes: Route[] = [...groupRoutes(), ...networkRoutes(), ...computeRoutes(createFault), ...identityRoutes(account.identities), authorizationRoute(() => permissions), retailPricesRoute()];
  // The VM's metadata service: Scheduled Events, or its managed identity's token.
  const imds = (r: EmuRequest): EmuReply => {
    const id = IDENTITY_ROUTE.exec(r.path);
    return id ? identityToken(account.identities, id[1]!.toLowerCase(), r) : imdsRoute(account, r);
  };

  const handle = async (r: EmuRequest): Promise<EmuReply> => {
    if (r.method === "GET" && r.path === "/__emulator/machines") {
      return { status: 200, body: account.vms.size === 0 ? [] : [...account.vms.values()].flatMap((v) => { const s = account.sshOf(v.group, v.name); return s ? [{ id: `${v.group}/${v.name}`, port: s.port }] : []; }) };
    }
    // The VMs' metadata service: not ARM (no token, no faults), and only a VM's own requests reach it on Azure.
    if (r.path.startsWith(IMDS_PREFIX)) return imds(r);
    const proxied = proxiedImds(account, r, imds);
    if (proxied) return proxied;
    let match: { route: Route; m: RegExpExecArray } | undefined;
    for (const route of routes) {
      const m = route.method === r.method ? route.pattern.exec(r.path) : null;
      if (m) match = { route, m };
      if (match) break;
    }
    if (!match) {
      // RFC 9110: a path that exists under other methods is a 405 naming them, in ARM's words.
      const allow = [...new Set(routes.filter((route) => route.pattern.test(r.path)).map((route) => route.method))];
      if (allow.length > 0) return { status: 405, body: cloudError("MethodNotAllowed", `The requested resource does not support http method '${r.method}'.`), headers: { Allow: allow.join(", ") } };
      return { status: 404, body: cloudError("InvalidResourceType", `No route for ${r.method} ${r.path}.`) };
    }
    const { route, m } = match;
    const op = route.op.startsWith("Network_") ? networkOpName(m[3]!, route.op.slice("Network_".length)) : route.op;
    const isPrices = op === "RetailPrices_List";
    if (!isPrices) {
      const bearer = bearerToken(r.headers.authorization);
      // The user's token, or a VM's managed identity's (from IMDS), allowed what its role assignments say.
      const principal = bearer === token ? undefined : account.identities.principalOf(bearer);
      if (bearer !== token && !principal) return { status: 401, body: cloudError("InvalidAuthenticationToken", "The access token is invalid.") };
      if (m[1]!.toLowerCase() !== subscriptionId.toLowerCase()) return { status: 404, body: cloudError("SubscriptionNotFound", `The subscription '${m[1]}' could not be found.`) };
      const action = route.op.startsWith("Network_") ? `Microsoft.Network/${NET_KINDS[m[3]!.toLowerCase()]}/${route.method === "PUT" ? "write" : "read"}` : route.action;
      const allowed = !action || (principal ? account.identities.allows(principal, action, r.path) : allows(permissions, action));
      if (!allowed) return { status: 403, body: cloudError("AuthorizationFailed", `The client does not have authorization to perform action '${action}' over scope '${r.path}' or the scope is invalid.`) };
    }
    const f = faults.pick(r.method, op, GENERAL);
    if (f?.kind === "hang") return { hang: true };
    if (f?.kind === "error-5xx") return { status: f.status ?? 503, body: cloudError(f.status === 500 ? "InternalServerError" : "ServiceUnavailable", "The service is temporarily unavailable. Please retry.") };
    if (f?.kind === "rate-limit") return { status: 429, body: cloudError("TooManyRequests", "The request is being throttled."), headers: { "Retry-After": String(Math.max(1, Math.ceil((f.delayMs ?? 1000) / 1000))) } };
    if (f?.kind === "html-error") return { status: 502, text: "<html><body><h1>502 Bad Gateway</h1></body></html>", contentType: "text/html" };
    // A 200 whose body has the wrong types (a proxy's or a broken deployment's answer).
    if (f?.kind === "malformed") return { status: 200, body: { name: 42, location: ["eastus"], value: "not-a-list", properties: "none" } };
    if (f?.kind === "auth-failed") return { status: 403, body: cloudError("AuthorizationFailed", `The client does not have authorization to perform action '${route.action ?? op}'.`) };
    const reply = await route.handle(m, r, { account, url, sub: subscriptionId });
    if (op === "VirtualMachines_CreateOrUpdate" && "status" in reply && reply.status === 201 && lagRule) {
      // ARM's listings trail a new resource: the VM in the VM listings, and its group in the group
      // listing (what Kiln's listMachines reads), each for the rule's reads or time.
      account.lag.start(account.vmKey(m[2]!, m[3]!), lagRule);
      account.lag.start(groupLagKey(m[2]!), lagRule);
      lagRule = undefined;
    }
    if ("status" in reply && !isPrices) exchanges.push({ op, method: r.method, path: r.path, query: Object.fromEntries(r.query), requestBody: r.body, status: reply.status, responseBody: reply.body, headers: reply.headers ?? {} });
    if (f?.kind === "lost-response") return { lose: true };
    if (f?.kind === "slow") return { ...reply, delayMs: f.delayMs ?? 1000 } as EmuReply;
    return reply;
  };

  const http = await serveJson(handle, {
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 0,
    badRequest: (why) => ({ status: 400, body: cloudError("InvalidRequestContent", why) }),
    internalError: () => ({ status: 500, body: cloudError("InternalServerError", "An internal error occurred.") }),
  });
  url = http.url;
  const parse = (id: string) => {
    const [g, n] = id.split("/");
    return g && n ? account.vm(g, n) : undefined;
  };
  return {
    url,
    token,
    subscriptionId,
    account,
    exchanges,
    inject: (rule) => faults.add(rule),
    setPermissions: (blocks) => {
      permissions = blocks;
    },
    live: () => [...account.vms.values()].map((v) => ({ id: `${v.group}/${v.name}`, name: v.name, status: account.statusOf(v) })),
    // Meter keys are lower-cased `group/vm`, as Kiln's ids are (intent ids are lower-case hex).
    billed: () => account.billed().map(({ id, status, billedSeconds, costUsd }) => ({ id, status, billedSeconds, costUsd })),
    sshEndpoint: (id) => {
      const v = parse(id);
      return v ? account.sshOf(v.group, v.name) : undefined;
    },
    homeOf: (id) => o.machines.homeOf(id.toLowerCase()),
    reclaim: async (id, ro = {}) => {
      const v = parse(id);
      if (v) await account.preempt(v, ro.noticeMs);
    },
    scheduledEventsUrl: (id) => {
      const v = parse(id);
      return v && scheduledEventsUrl(url, v.vmId);
    },
    close: async () => {
      await http.close();
      await o.machines.closeAll();
    },
  };
}
