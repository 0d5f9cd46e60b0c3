/**
 * Microsoft.Compute virtualMachines routes, per the 2024-07-01 Swagger: CreateOrUpdate (LRO, answered 201
 * with `Azure-AsyncOperation`), Get (`$expand=instanceView`), InstanceView, List, ListAll, Delete (LRO,
 * 202 with `Location`), SimulateEviction (204), and the operation status the async header points at.
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

const visible = (ctx: RouteContext, vm: Vm | undefined): Vm | undefined => (vm && !ctx.account.lag.hides(ctx.account.vmKey(vm.group, vm.name)) ? vm : undefined);

export function computeRoutes(createFault: () => CreateFault | undefined): Route[] {
  const R = "Microsoft.Compute/virtualMachines";
  return [
    route("PUT", PATHS.VM, "VirtualMachines_CreateOrUpdate", `${R}/write`, (m, r, ctx) => {
      const [, , g, name] = m as [string, string, string, string];
      const group = ctx.account.group(g);
      if (!group || group.deleting) return groupNotFound(g);
      const body = r.body as { location?: string; tags?: Record<string, string>; properties?: Record<string, unknown> } | undefined;
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
      const { vm, op } = ctx.account.createVm(group, name, { location: body.location, ...(body.tags && { tags: body.tags }), properties: body.properties }, keys, fault?.failOperation);
      return { status: 201, body: renderVm(ctx.account, ctx.sub, vm, false), headers: asyncHeader(ctx, vm.location, op.id) };
    }),
    // GET by name is consistent once the create operation settled (the SDK's final GET depends on it);
    // only the listings trail a new VM under a listing-lag fault.
    route("GET", PATHS.VM, "VirtualMachines_Get", `${R}/read`, (m, r, ctx) => {
      const vm = ctx.account.vm(m[2]!, m[3]!);
      if (!vm) return ctx.account.group(m[2]!) ? notFound(`Microsoft.Compute/virtualMachines/${m[3]}`) : groupNotFound(m[2]!);
      return { status: 200, body: renderVm(ctx.account, ctx.sub, vm, r.query.get("$expand") === "instanceView") };
    }),
    route("GET", `${PATHS.VM}/instanceview`, "VirtualMachines_InstanceView", `${R}/instanceView/read`, (m, _r, ctx) => {
      const vm = ctx.account.vm(m[2]!, m[3]!);
      return vm ? { status: 200, body: renderInstanceView(ctx.account, vm) } : notFound(`Microsoft.Compute/virtualMachines/${m[3]}`);
    }),
    route("DELETE", PATHS.VM, "VirtualMachines_Delete", `${R}/delete`, (m, _r, ctx) => {
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
      void ctx.account.evict(vm);
      return { status: 204 };
    }),
    route("GET", `${PATHS.RG}/providers/microsoft\\.compute/virtualmachines`, "VirtualMachines_List", `${R}/read`, (m, _r, ctx) => {
      const vms = [...ctx.account.vms.values()].filter((v) => v.group.toLowerCase() === m[2]!.toLowerCase() && visible(ctx, ctx.account.vm(v.group, v.name)));
      return { status: 200, body: { value: vms.map((v) => renderVm(ctx.account, ctx.sub, v, false)) } };
    }),
    route("GET", `${PATHS.SUB}/providers/microsoft\\.compute/virtualmachines`, "VirtualMachines_ListAll", `${R}/read`, (_m, r, ctx) => {
      const vms = [...ctx.account.vms.values()].filter((v) => visible(ctx, ctx.account.vm(v.group, v.name)));
      // statusOnly=true: each VM with its instance view (run-time status).
      return { status: 200, body: { value: vms.map((v) => renderVm(ctx.account, ctx.sub, v, r.query.get("statusOnly") === "true")) } };
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
