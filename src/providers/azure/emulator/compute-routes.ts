/**
 * Microsoft.Compute virtualMachines routes, per the 2024-07-01 Swagger: CreateOrUpdate (LRO, answered 201
 * with `Azure-AsyncOperation`), Update (PATCH: tags and properties, answered 200 at once), Get (`$expand`
 * instanceView or userData), InstanceView, List and ListAll (`$expand=instanceView`), Delete (LRO, 202 with
 * `Location`), SimulateEviction (204), and the operation status the async header points at. Query
 * parameters the Swagger types or enumerates are checked: a value outside them is a 400 InvalidParameter.
 */
import type { EmuReply } from "../../emulator-kit/http.js";
import { sizeOf } from "../catalog.js";
import type { Vm } from "./account.js";
import { cloudError, renderInstanceView, renderOperation, renderVm } from "./render.js";
import { type Route, type RouteContext, PATHS, groupNotFound, notFound, route } from "./routes.js";

const API = "2024-07-01";

export interface CreateFault {
  /** Answer the PUT with this error (SkuNotAvailable, a quota) and create nothing. */
  reject?: { status: number; code: string; message: string };
  /** Accept the PUT, then fail the operation (AllocationFailed), leaving the VM behind. */
  failOperation?: { code: string; message: string };
}

const asyncHeader = (ctx: RouteContext, location: string, id: string) => ({ "Azure-AsyncOperation": `${ctx.url}/subscriptions/${ctx.sub}/providers/Microsoft.Compute/locations/${location}/operations/${id}?api-version=${API}` });

/** ARM's answer to a query parameter outside its type or enum. */
const invalidParameter = (name: string, value: string): EmuReply => ({ status: 400, body: cloudError("InvalidParameter", `The value '${value}' of parameter '${name}' is not valid.`) });

/** A query parameter's value when it is one of `allowed` (or absent), else the 400 to answer. */
function queryEnum(q: URLSearchParams, name: string, allowed: readonly string[]): { value: string | undefined } | { refuse: EmuReply } {
  const v = q.get(name);
  if (v === null) return { value: undefined };
  return allowed.includes(v) ? { value: v } : { refuse: invalidParameter(name, v) };
}

/** PATCH's VirtualMachineUpdate merged into the VM's properties: objects merge key by key, anything else replaces. */
function merge(into: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out = { ...into };
  for (const [k, v] of Object.entries(patch)) {
    const old = out[k];
    const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
    out[k] = isObj(old) && isObj(v) ? merge(old, v) : v;
  }
  return out;
}

const visible = (ctx: RouteContext, vm: Vm | undefined): Vm | undefined => (vm && !ctx.account.lag.hides(ctx.account.vmKey(vm.group, vm.name)) ? vm : undefined);

export function computeRoutes(createFault: () => CreateFault | undefined): Route[] {
  const R = "Microsoft.Compute/virtualMachines";
  return [
    route("PUT", PATHS.VM, "VirtualMachines_CreateOrUpdate", `${R}/write`, (m, r, ctx) => {
      const [, , g, name] = m as [string, string, string, string];
      const group = ctx.account.group(g);
      if (!group || group.deleting) return groupNotFound(g);
      const body = r.body as { location?: string; tags?: Record<string, string>; properties?: Record<string, unknown>; identity?: { type?: string } } | undefined;
      const existing = ctx.account.vm(g, name);
      if (existing) {
        if (r.headers["if-none-match"] === "*") return { status: 412, body: cloudError("PreconditionFailed", `The virtual machine '${name}' already exists.`) };
        return { status: 200, body: renderVm(ctx.account, ctx.sub, existing, false) };
      }
      if (!body?.location || !body.properties) return { status: 400, body: cloudError("InvalidRequestContent", "The request content must have 'location' and 'properties'.") };
      const vmSize = (body.properties["hardwareProfile"] as { vmSize?: string } | undefined)?.vmSize ?? "";
      const size = sizeOf(vmSize);
      if (!size) return { status: 400, body: cloudError("InvalidParameter", `The value ${vmSize} provided for the VM size is not valid.`) };
      if (!ctx.account.regions().includes(body.location) || ctx.account.priceOf(size, body.location, false) === undefined) {
        return { status: 409, body: cloudError("SkuNotAvailable", `The requested size for resource '${name}' is currently not available in location '${body.location}'.`) };
      }
      const nics = (body.properties["networkProfile"] as { networkInterfaces?: { id?: string }[] } | undefined)?.networkInterfaces ?? [];
      for (const n of nics) if (!n.id || !ctx.account.network.has(n.id.toLowerCase())) return { status: 400, body: cloudError("InvalidResourceReference", `Resource ${n.id} referenced by resource ${name} was not found.`) };
      const fault = createFault();
      if (fault?.reject) return { status: fault.reject.status, body: cloudError(fault.reject.code, fault.reject.message) };
      const keys = ((body.properties["osProfile"] as { linuxConfiguration?: { ssh?: { publicKeys?: { keyData?: string }[] } } } | undefined)?.linuxConfiguration?.ssh?.publicKeys ?? []).flatMap((k) => (k.keyData ? [k.keyData] : []));
      const identity = body.identity?.type;
      if (identity !== undefined && identity !== "SystemAssigned" && identity !== "None") return { status: 400, body: cloudError("InvalidParameter", `The emulator models only SystemAssigned identities, not '${identity}'.`) };
      const { vm, op } = ctx.account.createVm(group, name, { location: body.location, ...(body.tags && { tags: body.tags }), properties: body.properties }, keys, fault?.failOperation);
      if (identity === "SystemAssigned") vm.principalId = ctx.account.identities.assign(vm.vmId);
      return { status: 201, body: renderVm(ctx.account, ctx.sub, vm, false), headers: asyncHeader(ctx, vm.location, op.id) };
    }),
    // GET by name is consistent once the create operation settled (the SDK's final GET depends on it);
    // only the listings trail a new VM under a listing-lag fault.
    route("GET", PATHS.VM, "VirtualMachines_Get", `${R}/read`, (m, r, ctx) => {
      // InstanceViewTypes is a closed enum (x-ms-enum modelAsString: false).
      const expand = queryEnum(r.query, "$expand", ["instanceView", "userData"]);
      if ("refuse" in expand) return expand.refuse;
      const vm = ctx.account.vm(m[2]!, m[3]!);
      if (!vm) return ctx.account.group(m[2]!) ? notFound(`Microsoft.Compute/virtualMachines/${m[3]}`) : groupNotFound(m[2]!);
      return { status: 200, body: renderVm(ctx.account, ctx.sub, vm, expand.value === "instanceView", expand.value === "userData") };
    }),
    route("PATCH", PATHS.VM, "VirtualMachines_Update", `${R}/write`, (m, r, ctx) => {
      const vm = ctx.account.vm(m[2]!, m[3]!);
      if (!vm) return ctx.account.group(m[2]!) ? notFound(`Microsoft.Compute/virtualMachines/${m[3]}`) : groupNotFound(m[2]!);
      const body = r.body as { tags?: unknown; properties?: unknown } | undefined;
      const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
      if (!isObj(body) || (body.tags !== undefined && !isObj(body.tags)) || (body.properties !== undefined && !isObj(body.properties))) {
        return { status: 400, body: cloudError("InvalidRequestContent", "The request content must be a VirtualMachineUpdate: an object whose tags and properties are objects.") };
      }
      const props = body.properties ?? {};
      // A VM's priority is fixed at create; a resize is outside what the emulator models (Kiln never resizes).
      if (props["priority"] !== undefined && props["priority"] !== vm.properties["priority"]) return { status: 400, body: cloudError("PropertyChangeNotAllowed", "Changing property 'priority' is not allowed.") };
      const size = (props["hardwareProfile"] as { vmSize?: unknown } | undefined)?.vmSize;
      if (size !== undefined && size !== vm.size.armSku) return { status: 409, body: cloudError("OperationNotAllowed", `The emulator does not resize virtual machines (from ${vm.size.armSku} to ${String(size)}).`) };
      if (body.tags) vm.tags = body.tags as Record<string, string>;
      vm.properties = merge(vm.properties, props);
      return { status: 200, body: renderVm(ctx.account, ctx.sub, vm, false) };
    }),
    route("GET", `${PATHS.VM}/instanceview`, "VirtualMachines_InstanceView", `${R}/instanceView/read`, (m, _r, ctx) => {
      const vm = ctx.account.vm(m[2]!, m[3]!);
      return vm ? { status: 200, body: renderInstanceView(ctx.account, vm) } : notFound(`Microsoft.Compute/virtualMachines/${m[3]}`);
    }),
    route("DELETE", PATHS.VM, "VirtualMachines_Delete", `${R}/delete`, (m, r, ctx) => {
      const force = queryEnum(r.query, "forceDeletion", ["true", "false"]);
      if ("refuse" in force) return force.refuse;
      const vm = ctx.account.vm(m[2]!, m[3]!);
      if (!vm) return { status: 204 };
      vm.provisioningState = "Deleting";
      const op = ctx.account.newOperation(() => undefined, 0);
      void ctx.account.removeVm(vm);
      return { status: 202, headers: { Location: `${ctx.url}/subscriptions/${ctx.sub}/providers/Microsoft.Compute/locations/${vm.location}/operations/${op.id}?api-version=${API}&monitor=true` } };
    }),
    route("POST", `${PATHS.VM}/simulateeviction`, "VirtualMachines_SimulateEviction", `${R}/simulateEviction/action`, (m, _r, ctx) => {
      const vm = ctx.account.vm(m[2]!, m[3]!);
      if (!vm) return notFound(`Microsoft.Compute/virtualMachines/${m[3]}`);
      if (!vm.spot) return { status: 409, body: cloudError("OperationNotAllowed", "Eviction can only be simulated for Spot virtual machines.") };
      // As Azure: the Preempt Scheduled Event first, the eviction at its NotBefore (the account's notice).
      void ctx.account.preempt(vm);
      return { status: 204 };
    }),
    route("GET", `${PATHS.RG}/providers/microsoft\\.compute/virtualmachines`, "VirtualMachines_List", `${R}/read`, (m, r, ctx) => {
      // ExpandTypeForListVMs is an open enum (modelAsString: true), but instanceView is the only expansion there is.
      const expand = queryEnum(r.query, "$expand", ["instanceView"]);
      if ("refuse" in expand) return expand.refuse;
      const vms = [...ctx.account.vms.values()].filter((v) => v.group.toLowerCase() === m[2]!.toLowerCase() && visible(ctx, ctx.account.vm(v.group, v.name)));
      return { status: 200, body: { value: vms.map((v) => renderVm(ctx.account, ctx.sub, v, expand.value === "instanceView")) } };
    }),
    route("GET", `${PATHS.SUB}/providers/microsoft\\.compute/virtualmachines`, "VirtualMachines_ListAll", `${R}/read`, (_m, r, ctx) => {
      const expand = queryEnum(r.query, "$expand", ["instanceView"]);
      if ("refuse" in expand) return expand.refuse;
      const vms = [...ctx.account.vms.values()].filter((v) => visible(ctx, ctx.account.vm(v.group, v.name)));
      // statusOnly=true: each VM with its instance view (run-time status).
      return { status: 200, body: { value: vms.map((v) => renderVm(ctx.account, ctx.sub, v, r.query.get("statusOnly") === "true" || expand.value === "instanceView")) } };
    }),
    route("GET", `${PATHS.SUB}/providers/microsoft\\.compute/locations/([^/]+)/operations/([^/]+)`, "Operations_Status", undefined, (m, r, ctx): EmuReply => {
      const op = ctx.account.poll(m[3]!);
      if (!op) return notFound(`operations/${m[3]}`);
      // `monitor=true` is a Location-style poll (VM delete): 202 until done, then 200 with no body.
      if (r.query.get("monitor") === "true") return op.status === "InProgress" ? { status: 202, headers: { Location: `${ctx.url}${r.path}?${r.query.toString()}` } } : { status: 200 };
      return { status: 200, body: renderOperation(op) };
    }),
  ];
}
