/**
 * The emulator's HTTP routes, in the Compute v1 REST dialect (paths from the discovery document's
 * `resources.instances.methods[*].path` and `zoneOperations`, under `/compute/v1/`), with fault injection
 * and Google's error envelope. Requests are authenticated with the emulator's static bearer token.
 */
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import { bearerToken } from "../../emulator-kit/http.js";
import type { FaultPlan, FaultRule } from "../../emulator-kit/faults.js";
import { GCE_NAME, GCE_NAME_MAX } from "../names.js";
import { machineTypeNamed } from "../machine-types.js";
import { GcpAccount } from "./account.js";
import { parseFilter } from "./filter.js";
import { API_ROOT, googleError, renderInstance, renderOperation } from "./render.js";

const ROUTE = /^\/compute\/v1\/projects\/([^/]+)\/(?:zones\/([^/]+)\/(instances|operations)(?:\/([^/]+))?(\/wait)?|aggregated\/(instances))$/;

const json = (status: number, body: unknown): EmuReply => ({ status, body });
const err = (status: number, gstatus: string, reason: string, message: string): EmuReply => json(status, googleError(status, gstatus, reason, message));
const notFound = (what: string) => err(404, "NOT_FOUND", "notFound", `The resource '${what}' was not found`);

/** Faults that shape an insert's outcome (the others apply to every route). */
const INSERT_FAULTS = new Set(["capacity", "capacity-leftover", "quota", "listing-lag"]);
export const ANY_FAULTS = new Set(["error-5xx", "rate-limit", "slow", "hang", "html-error", "lost-response", "malformed"]);

export interface RouteContext {
  account: GcpAccount;
  token: string;
  faults: FaultPlan;
  /** How long zoneOperations.wait holds a request before answering a still-running operation. */
  waitMaxMs: number;
}

export async function route(c: RouteContext, r: EmuRequest): Promise<EmuReply> {
  if (bearerToken(r.headers.authorization) !== c.token) {
    return err(401, "UNAUTHENTICATED", "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
  }
  const m = ROUTE.exec(r.path);
  if (!m) return notFound(r.path);
  const [, project, zone, collection, item, wait, aggregated] = m;
  if (project !== c.account.o.project) return err(403, "PERMISSION_DENIED", "forbidden", `Required 'compute.instances.list' permission for 'projects/${project}'`);
  if (zone !== undefined && !c.account.o.zones.includes(zone)) return notFound(`projects/${project}/zones/${zone}`);

  const isInsert = r.method === "POST" && collection === "instances" && item === undefined;
  const fault = c.faults.pick(r.method, r.path, ANY_FAULTS);
  if (fault && fault.kind !== "lost-response" && fault.kind !== "malformed" && fault.kind !== "slow") return faultReply(fault);
  const insertFault = isInsert ? c.faults.pick(r.method, r.path, INSERT_FAULTS) : undefined;

  let reply = handle(c, r, { project: project!, zone, collection, item, wait: wait !== undefined, aggregated: aggregated !== undefined }, insertFault);
  if (reply instanceof Promise) reply = await reply;
  if (fault?.kind === "lost-response") return { lose: true };
  if (fault?.kind === "slow") return { ...reply, delayMs: fault.delayMs ?? 1_000 } as EmuReply;
  if (fault?.kind === "malformed" && "status" in reply && reply.status === 200) {
    // A response missing a field Kiln reads (an API change, a broken proxy): `status`, or `name` in lists.
    const { status: _dropped, ...rest } = reply.body as Record<string, unknown>;
    return json(200, rest);
  }
  return reply;
}

export function faultReply(f: FaultRule): EmuReply {
  switch (f.kind) {
    case "rate-limit":
      return { status: 429, body: googleError(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Rate Limit Exceeded"), headers: { "retry-after": String(Math.ceil((f.delayMs ?? 1_000) / 1000)) } };
    case "hang":
      return { hang: true };
    case "html-error":
      return { status: f.status ?? 502, text: "<!DOCTYPE html><html><head><title>Error 502 (Server Error)!!1</title></head><body><p>That's an error.</p></body></html>", contentType: "text/html; charset=UTF-8" };
    default:
      return { status: f.status ?? 503, body: googleError(f.status ?? 503, "UNAVAILABLE", "backendError", "Backend Error") };
  }
}

interface Target {
  project: string;
  zone: string | undefined;
  collection: string | undefined;
  item: string | undefined;
  wait: boolean;
  aggregated: boolean;
}

function handle(c: RouteContext, r: EmuRequest, t: Target, insertFault: FaultRule | undefined): EmuReply | Promise<EmuReply> {
  const a = c.account;
  const { project, zone } = t;
  if (t.aggregated && r.method === "GET") {
    const f = parseFilter(r.query.get("filter"));
    if ("error" in f) return err(400, "INVALID_ARGUMENT", "invalid", f.error);
    const items: Record<string, { instances: unknown[] }> = {};
    for (const [id, i] of a.instances) {
      if (!a.visible(id) || !f((k) => (i as unknown as Record<string, unknown>)[k])) continue;
      const key = `zones/${i.zone}`;
      items[key] = { instances: [...(items[key]?.instances ?? []), renderInstance(i)] };
    }
    return json(200, { kind: "compute#instanceAggregatedList", id: `projects/${project}/aggregated/instances`, items, selfLink: `${API_ROOT}/projects/${project}/aggregated/instances` });
  }
  if (zone === undefined) return notFound(r.path);
  if (t.collection === "instances") {
    if (t.item === undefined && r.method === "POST") return insert(c, r, project, zone, insertFault);
    if (t.item === undefined && r.method === "GET") {
      const f = parseFilter(r.query.get("filter"));
      if ("error" in f) return err(400, "INVALID_ARGUMENT", "invalid", f.error);
      const items = [...a.instances.entries()].filter(([id, i]) => i.zone === zone && a.visible(id) && f((k) => (i as unknown as Record<string, unknown>)[k])).map(([, i]) => renderInstance(i));
      return json(200, { kind: "compute#instanceList", id: `projects/${project}/zones/${zone}/instances`, items, selfLink: `${API_ROOT}/projects/${project}/zones/${zone}/instances` });
    }
    const id = GcpAccount.idOf(project, zone, t.item!);
    if (r.method === "GET") {
      const i = a.visible(id);
      return i ? json(200, renderInstance(i)) : notFound(`projects/${project}/zones/${zone}/instances/${t.item}`);
    }
    if (r.method === "DELETE") {
      const op = a.delete(zone, t.item!, r.query.get("requestId") ?? undefined);
      return op ? json(200, renderOperation(op)) : notFound(`projects/${project}/zones/${zone}/instances/${t.item}`);
    }
    return err(405, "INVALID_ARGUMENT", "badRequest", `${r.method} is not allowed here`);
  }
  if (t.collection === "operations") {
    if (t.item === undefined && r.method === "GET") {
      const f = parseFilter(r.query.get("filter"));
      if ("error" in f) return err(400, "INVALID_ARGUMENT", "invalid", f.error);
      const items = [...a.operations.values()].filter((o) => o.zone === zone && f((k) => renderOperation(o)[k])).map(renderOperation);
      return json(200, { kind: "compute#operationList", id: `projects/${project}/zones/${zone}/operations`, items, selfLink: `${API_ROOT}/projects/${project}/zones/${zone}/operations` });
    }
    const op = t.item === undefined ? undefined : a.operations.get(t.item);
    if (!op || op.zone !== zone) return notFound(`projects/${project}/zones/${zone}/operations/${t.item}`);
    if (r.method === "GET" && !t.wait) return json(200, renderOperation(op));
    if (r.method === "POST" && t.wait) return waitFor(c, op.name);
  }
  return notFound(r.path);
}

/** zoneOperations.wait: answer when DONE, or after the wait limit with the operation as it is. */
async function waitFor(c: RouteContext, name: string): Promise<EmuReply> {
  const until = Date.now() + c.waitMaxMs;
  for (;;) {
    const op = c.account.operations.get(name)!;
    if (op.status === "DONE" || Date.now() >= until) return json(200, renderOperation(op));
    await new Promise((res) => setTimeout(res, 10));
  }
}

function insert(c: RouteContext, r: EmuRequest, project: string, zone: string, fault: FaultRule | undefined): EmuReply {
  const body = r.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== "object") return err(400, "INVALID_ARGUMENT", "required", "Required field 'resource' not specified");
  const name = body["name"];
  if (typeof name !== "string" || name.length > GCE_NAME_MAX || !GCE_NAME.test(name)) {
    return err(400, "INVALID_ARGUMENT", "invalid", `Invalid value for field 'resource.name': '${String(name)}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`);
  }
  const requestId = r.query.get("requestId") ?? undefined;
  const prior = requestId === undefined ? undefined : c.account.byRequestId.get(requestId);
  if (!prior && c.account.instances.has(GcpAccount.idOf(project, zone, name))) {
    return err(409, "ALREADY_EXISTS", "alreadyExists", `The resource 'projects/${project}/zones/${zone}/instances/${name}' already exists`);
  }
  const type = String(body["machineType"] ?? "").split("/").pop() ?? "";
  const known = machineTypeNamed(type);
  if (!prior && !known?.zones.includes(zone)) {
    return err(400, "INVALID_ARGUMENT", "invalid", `Invalid value for field 'resource.machineType': '${String(body["machineType"])}'. Machine type with name '${type}' does not exist in zone '${zone}'.`);
  }
  const scheduling = (body["scheduling"] ?? {}) as Record<string, unknown>;
  if (!prior && known?.spotOnly && scheduling["provisioningModel"] !== "SPOT") {
    return err(400, "INVALID_ARGUMENT", "invalid", `Invalid value for field 'resource.scheduling.provisioningModel': '${String(scheduling["provisioningModel"] ?? "STANDARD")}'. ${type} is available as Spot only.`);
  }
  // A boot disk over its type's limit (pd-balanced: 65,536 GB) is refused as GCE words it; the emulator does not
  // model per-type limits, so the largest applies to all.
  const disk = (body["disks"] as { initializeParams?: { diskSizeGb?: string | number } }[] | undefined)?.[0]?.initializeParams?.diskSizeGb;
  if (!prior && disk !== undefined && Number(disk) > MAX_DISK_GB) {
    return err(400, "INVALID_ARGUMENT", "invalid", `Invalid value for field 'resource.disks[0].initializeParams.diskSizeGb': '${String(disk)}'. Disk size cannot be larger than ${MAX_DISK_GB} GB.`);
  }
  return json(200, renderOperation(c.account.insert(zone, body, requestId, fault)));
}

/** pd-balanced's largest disk (cloud.google.com/compute/docs/disks: 64 TiB, 65,536 GB as GCE counts sizes). */
const MAX_DISK_GB = 65_536;
