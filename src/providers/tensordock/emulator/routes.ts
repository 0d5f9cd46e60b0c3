/**
 * The routes of the emulated v2 API under `/api/v2`: `/locations`, `/instances` (list, create) and
 * `/instances/{id}` (get, delete); any other method is a 405 with `Allow`. Creates are checked against the
 * third-party document's types (a 400 for a body that breaks them), then as TensorDock's pages state the rules
 * (storage at least 100 GB, a balance of at least $1, at least one GPU, an SSH key: {@link RULES}), then against
 * the location's stock and limits.
 */
import { z } from "zod";
import type { FaultRule } from "../../emulator-kit/faults.js";
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import type { TensordockAccount } from "./account.js";
import { apiError, renderInstance, renderList, renderLocations } from "./render.js";

export const API_PREFIX = "/api/v2";

// CreateInstanceRequest as the (third-party) document types it: its objects are open (unknown keys are
// ignored, as JSON Schema reads them), and `gpus` takes the document's array or the instance-creation page's map.
// What the document leaves free but TensorDock's pages rule on is checked after parsing, as a 400 with RULES.
const gpuEntry = z.object({ gpuV0Name: z.string().optional(), count: z.number().optional() });
const createSchema = z.object({
  data: z.object({
    type: z.literal("virtualmachine"),
    attributes: z.object({
      name: z.string(),
      type: z.literal("virtualmachine").optional(),
      image: z.string(),
      resources: z.object({
        vcpu_count: z.number().refine(Number.isInteger, "expected an integer").optional(),
        ram_gb: z.number().optional(),
        storage_gb: z.number().optional(),
        gpus: z.union([z.array(gpuEntry), z.record(z.string(), z.object({ count: z.number().optional() }))]).optional(),
      }),
      location_id: z.string().optional(),
      hostnode_id: z.string().optional(),
      useDedicatedIp: z.boolean().optional(),
      ssh_key: z.string().optional(),
      ssh_key_id: z.string().optional(),
      port_forwards: z.array(z.object({ internal_port: z.number(), external_port: z.number() })).optional(),
      // A string in the document; an object on the instance-creation page (cloud-init's own YAML-as-JSON).
      cloud_init: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    }),
  }),
});

/** The 400s for a body the document's schema accepts but TensorDock's rules refuse (tests match on these). */
export const RULES = {
  named: "name and image must not be empty",
  sized: "resources.vcpu_count, ram_gb and storage_gb are required, each at least 1 (vcpu_count a whole number)",
  storage: "Minimum storage is 100GB",
  sshKey: "Provide either ssh_key or ssh_key_id (not both)",
  placement: "Specify either location_id (location-based deployment) or hostnode_id (hostnode-based deployment)",
  gpus: "At least one GPU is required for location-based deployment (one GPU model per instance, each count a whole number of at least 1)",
} as const;

export const BALANCE_DETAIL = "Insufficient balance: a minimum balance of $1 is required to deploy an instance";
export const CAPACITY_DETAIL = "Not enough GPUs available at this location for the requested configuration";

/** RFC 9110: a 405 names the methods the path does serve. */
const notAllowed = (allow: string) => apiError(405, "method not allowed", { Allow: allow });

export interface RouteContext {
  account: TensordockAccount;
  createFault(): FaultRule | undefined;
  lagging(id: string): boolean;
  startLag(id: string, rule: FaultRule): void;
}

export async function route(c: RouteContext, r: EmuRequest): Promise<EmuReply> {
  const { account } = c;
  const path = r.path.startsWith(API_PREFIX) ? r.path.slice(API_PREFIX.length) : undefined;
  if (path === "/locations") return r.method === "GET" ? { status: 200, body: renderLocations(account) } : notAllowed("GET");
  if (path === "/instances") {
    if (r.method === "GET") return { status: 200, body: renderList(account.listed().filter((i) => !c.lagging(i.id))) };
    if (r.method === "POST") return create(c, r);
    return notAllowed("GET, POST");
  }
  const m = path === undefined ? null : /^\/instances\/([^/]+)$/.exec(path);
  if (!m) return apiError(404, "resource not found");
  // The method before the instance: a 405 does not depend on whether the instance exists.
  if (r.method !== "GET" && r.method !== "DELETE") return notAllowed("GET, DELETE");
  const id = decodeURIComponent(m[1] ?? "");
  const inst = account.get(id);
  if (!inst || c.lagging(id)) return apiError(404, "Instance not found");
  if (r.method === "GET") return { status: 200, body: renderInstance(inst) };
  await account.remove(inst);
  return { status: 200, body: { data: { type: "success", attributes: { message: "Instance deleted successfully" } } } };
}

async function create(c: RouteContext, r: EmuRequest): Promise<EmuReply> {
  const { account } = c;
  const b = createSchema.safeParse(r.body);
  if (!b.success) return apiError(400, b.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; "));
  const a = b.data.data.attributes;
  const { vcpu_count: vcpus, ram_gb: ramGb, storage_gb: storageGb } = a.resources;
  if (a.name === "" || a.image === "") return apiError(400, RULES.named);
  if (vcpus === undefined || ramGb === undefined || storageGb === undefined || vcpus < 1 || ramGb < 1) return apiError(400, RULES.sized);
  if (storageGb < 100) return apiError(400, RULES.storage);
  if ((a.ssh_key === undefined) === (a.ssh_key_id === undefined)) return apiError(400, RULES.sshKey);
  if ((a.location_id === undefined) === (a.hostnode_id === undefined)) return apiError(400, RULES.placement);
  const gpus = Array.isArray(a.resources.gpus) ? a.resources.gpus.map((g) => [g.gpuV0Name ?? "", { count: g.count }] as const) : Object.entries(a.resources.gpus ?? {});
  const [gpuName, want] = gpus[0] ?? [];
  const count = want?.count;
  if (gpus.length !== 1 || !gpuName || count === undefined || !Number.isInteger(count) || count < 1) return apiError(400, RULES.gpus);
  // The emulated organization has no stored SSH keys and sees no hostnodes: an id of either names nothing (404).
  if (a.ssh_key_id !== undefined) return apiError(404, `SSH key ${a.ssh_key_id} not found`);
  if (a.location_id === undefined) return apiError(404, `Hostnode ${a.hostnode_id} not found`);
  const fault = c.createFault();
  if (fault?.kind === "insufficient-balance" || account.balance < 1) return apiError(400, BALANCE_DETAIL);
  const location = account.location(a.location_id);
  if (!location) return apiError(404, `Location ${a.location_id} not found`);
  const gpu = location.gpus.find((g) => g.v0Name === gpuName);
  if (!gpu) return apiError(400, `GPU ${gpuName} is not offered at this location`);
  if (vcpus > gpu.maxVcpus || ramGb > gpu.maxRamGb || storageGb > gpu.maxStorageGb) return apiError(400, "Requested resources exceed what this location can deploy");
  if (fault?.kind === "capacity" || count > gpu.free) return apiError(400, CAPACITY_DETAIL);
  const inst = account.create({ name: a.name, location, gpu, gpuCount: count, vcpus, ramGb, storageGb, image: a.image, sshKey: a.ssh_key ?? "", useDedicatedIp: a.useDedicatedIp ?? false });
  if (fault?.kind === "listing-lag") c.startLag(inst.id, fault);
  // The instance-creation page's answer: flat name and status under data (no attributes). GUESS(tensordock): the
  // status code (201, the third-party document's; the page does not say). The client takes any 2xx.
  if (fault?.kind === "no-id") return { status: 201, body: { data: { type: "virtualmachine", name: inst.name, status: "starting" } } };
  return { status: 201, body: { data: { type: "virtualmachine", id: inst.id, name: inst.name, status: inst.status } } };
}
