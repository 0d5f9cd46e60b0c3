/**
 * The routes of the emulated v2 API under `/api/v2`: `/locations`, `/instances` (list, create) and
 * `/instances/{id}` (get, delete). Creates are checked as the instance-creation page states its rules (storage
 * at least 100 GB, a balance of at least $1, at least one GPU, an SSH key) and against the location's stock and
 * limits.
 */
import { z } from "zod";
import type { FaultRule } from "../../emulator-kit/faults.js";
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import type { TensordockAccount } from "./account.js";
import { apiError, renderInstance, renderList, renderLocations } from "./render.js";

export const API_PREFIX = "/api/v2";

const createSchema = z.strictObject({
  data: z.strictObject({
    type: z.literal("virtualmachine"),
    attributes: z.strictObject({
      name: z.string().min(1),
      type: z.literal("virtualmachine").optional(),
      image: z.string().min(1),
      resources: z.strictObject({
        vcpu_count: z.number().int().min(1),
        ram_gb: z.number().min(1),
        storage_gb: z.number(),
        gpus: z.record(z.string(), z.strictObject({ count: z.number().int().min(1) })),
      }),
      location_id: z.string().optional(),
      hostnode_id: z.string().optional(),
      useDedicatedIp: z.boolean().optional(),
      ssh_key: z.string().optional(),
      ssh_key_id: z.string().optional(),
      port_forwards: z.array(z.strictObject({ internal_port: z.number().int(), external_port: z.number().int() })).optional(),
      cloud_init: z.record(z.string(), z.unknown()).optional(),
    }),
  }),
});

export const BALANCE_DETAIL = "Insufficient balance: a minimum balance of $1 is required to deploy an instance";
export const CAPACITY_DETAIL = "Not enough GPUs available at this location for the requested configuration";

export interface RouteContext {
  account: TensordockAccount;
  createFault(): FaultRule | undefined;
  lagging(id: string): boolean;
  startLag(id: string, rule: FaultRule): void;
}

export async function route(c: RouteContext, r: EmuRequest): Promise<EmuReply> {
  const { account } = c;
  const path = r.path.startsWith(API_PREFIX) ? r.path.slice(API_PREFIX.length) : undefined;
  if (path === "/locations") return r.method === "GET" ? { status: 200, body: renderLocations(account) } : apiError(405, "method not allowed");
  if (path === "/instances") {
    if (r.method === "GET") return { status: 200, body: renderList(account.listed().filter((i) => !c.lagging(i.id))) };
    if (r.method === "POST") return create(c, r);
    return apiError(405, "method not allowed");
  }
  const m = path === undefined ? null : /^\/instances\/([^/]+)$/.exec(path);
  if (!m) return apiError(404, "resource not found");
  const id = decodeURIComponent(m[1] ?? "");
  const inst = account.get(id);
  if (!inst || c.lagging(id)) return apiError(404, "Instance not found");
  if (r.method === "GET") return { status: 200, body: renderInstance(inst) };
  if (r.method === "DELETE") {
    await account.remove(inst);
    return { status: 200, body: { data: { type: "success", attributes: { message: "Instance deleted successfully" } } } };
  }
  return apiError(405, "method not allowed");
}

async function create(c: RouteContext, r: EmuRequest): Promise<EmuReply> {
  const { account } = c;
  const b = createSchema.safeParse(r.body);
  if (!b.success) return apiError(400, b.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; "));
  const a = b.data.data.attributes;
  if (a.resources.storage_gb < 100) return apiError(400, "Minimum storage is 100GB");
  if ((a.ssh_key === undefined) === (a.ssh_key_id === undefined)) return apiError(400, "Provide either ssh_key or ssh_key_id (not both)");
  if (a.ssh_key_id !== undefined) return apiError(400, "ssh_key_id is not supported by this emulator; send the public key as ssh_key");
  if (a.location_id === undefined) return apiError(400, "location_id is required (hostnode-based deployment is not emulated)");
  const gpus = Object.entries(a.resources.gpus);
  const [gpuName, want] = gpus[0] ?? [];
  if (gpus.length !== 1 || gpuName === undefined || want === undefined) return apiError(400, "At least one GPU is required for location-based deployment (one GPU model per instance)");
  const fault = c.createFault();
  if (fault?.kind === "insufficient-balance" || account.balance < 1) return apiError(400, BALANCE_DETAIL);
  const location = account.location(a.location_id);
  if (!location) return apiError(404, `Location ${a.location_id} not found`);
  const gpu = location.gpus.find((g) => g.v0Name === gpuName);
  if (!gpu) return apiError(400, `GPU ${gpuName} is not offered at this location`);
  if (a.resources.vcpu_count > gpu.maxVcpus || a.resources.ram_gb > gpu.maxRamGb || a.resources.storage_gb > gpu.maxStorageGb) return apiError(400, "Requested resources exceed what this location can deploy");
  if (fault?.kind === "capacity" || want.count > gpu.free) return apiError(400, CAPACITY_DETAIL);
  const inst = account.create({ name: a.name, location, gpu, gpuCount: want.count, vcpus: a.resources.vcpu_count, ramGb: a.resources.ram_gb, storageGb: a.resources.storage_gb, image: a.image, sshKey: a.ssh_key ?? "", useDedicatedIp: a.useDedicatedIp ?? false });
  if (fault?.kind === "listing-lag") c.startLag(inst.id, fault);
  // The instance-creation page's answer: flat name and status under data (no attributes). GUESS(tensordock): the
  // status code (201, the third-party document's; the page does not say). The client takes any 2xx.
  if (fault?.kind === "no-id") return { status: 201, body: { data: { type: "virtualmachine", name: inst.name, status: "starting" } } };
  return { status: 201, body: { data: { type: "virtualmachine", id: inst.id, name: inst.name, status: inst.status } } };
}
