/**
 * REST v2 routes of the emulated account: `/v2/pods` (list, create), `/v2/pods/{id}` (get, delete),
 * `/v2/pods/{id}/action`, and `/v2/catalog/gpus`. Bodies are checked as RunPod documents them (422 with
 * `errors` for a body that breaks the schema, 400 for a rule or for no capacity, 409 for an action the
 * pod's status does not allow).
 */
import { z } from "zod";
import type { FaultRule } from "../../emulator-kit/faults.js";
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import type { EmuPod, RunpodAccount } from "./account.js";
import type { CloudTier } from "./catalog.js";
import { problem, renderGpuType, renderPod } from "./render.js";

export const CAPACITY_DETAIL = "There are no longer any instances available with the requested specifications. Please refresh and try again.";

const createSchema = z.strictObject({
  name: z.string().min(1),
  image: z.string().min(1),
  gpu: z.strictObject({ id: z.string(), count: z.number().int().min(1).default(1), allowedCudaVersions: z.array(z.string()).optional(), minCudaVersion: z.string().optional() }),
  cloud: z.enum(["SECURE", "COMMUNITY"]).default("SECURE"),
  dataCenterIds: z.array(z.string()).optional(),
  disk: z.number().int().min(1).default(50),
  ports: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  args: z.string().optional(),
  startSsh: z.boolean().optional(),
  startJupyter: z.boolean().optional(),
  globalNetworking: z.boolean().optional(),
  registry: z.string().nullable().optional(),
});
const actionSchema = z.strictObject({ action: z.enum(["start", "stop", "restart", "terminate"]) });

export interface RestContext {
  account: RunpodAccount;
  sshUser: string;
  now(): number;
  /** A create-shaping fault for this request (capacity, listing-lag, insufficient-balance), if one fires. */
  createFault(method: string, path: string): FaultRule | undefined;
  lagging(id: string): boolean;
  startLag(id: string, rule: FaultRule): void;
}

const zodErrors = (e: z.ZodError): string[] => e.issues.map((i) => `$${i.path.length ? `.${i.path.join(".")}` : ""}: ${i.message}`);

export async function restRoute(c: RestContext, r: EmuRequest): Promise<EmuReply> {
  const { account } = c;
  const render = (p: EmuPod) => renderPod(p, c.sshUser, c.now());
  if (r.path === "/v2/catalog/gpus" && r.method === "GET") {
    const include = r.query.get("include");
    const product = r.query.get("product");
    // "Required with include=AVAILABILITY, and valid only with it (400 either way)."
    if ((include === "AVAILABILITY") !== (product !== null)) return problem(400, "product is required with include=AVAILABILITY and valid only with it");
    const cloud = (r.query.get("cloud") ?? "SECURE") as CloudTier;
    if (cloud !== "SECURE" && cloud !== "COMMUNITY") return problem(422, "Request validation failed.", { errors: [`cloud: must be SECURE or COMMUNITY`] });
    const count = Number(r.query.get("count") ?? "1");
    return { status: 200, body: { gpus: account.gpus.map((g) => renderGpuType(account, g, { availability: include === "AVAILABILITY", cloud, count })) } };
  }
  if (r.path === "/v2/pods") {
    if (r.method === "GET") return { status: 200, body: { pods: account.listed().filter((p) => !c.lagging(p.id)).map(render) } };
    if (r.method === "POST") return createPod(c, r);
    return problem(405, "The requested method is not allowed for this path.");
  }
  const m = /^\/v2\/pods\/([^/]+)(\/action)?$/.exec(r.path);
  if (!m) return problem(404, "resource not found");
  const id = decodeURIComponent(m[1] ?? "");
  const pod = account.get(id);
  if (!pod || c.lagging(id)) return problem(404, "pod not found");
  if (m[2]) {
    if (r.method !== "POST") return problem(405, "The requested method is not allowed for this path.");
    const a = actionSchema.safeParse(r.body);
    if (!a.success) return problem(422, "Request validation failed.", { errors: zodErrors(a.error) });
    const action = a.data.action;
    if (action === "terminate") {
      await account.remove(pod);
      return { status: 204 };
    }
    const allowed = { stop: ["RUNNING", "PROVISIONING", "STARTING"], start: ["EXITED", "ERROR"], restart: ["RUNNING"] }[action];
    if (!allowed.includes(pod.status)) return problem(409, `cannot ${action} a pod in status ${pod.status}`);
    if (action === "stop") await account.stop(pod, "stopped");
    else if (action === "start") account.start(pod);
    return { status: 200, body: render(account.advance(pod)) };
  }
  if (r.method === "GET") return { status: 200, body: render(pod) };
  if (r.method === "DELETE") {
    await account.remove(pod);
    return { status: 204 };
  }
  return problem(405, "The requested method is not allowed for this path.");
}

async function createPod(c: RestContext, r: EmuRequest): Promise<EmuReply> {
  const { account } = c;
  const b = createSchema.safeParse(r.body);
  if (!b.success) return problem(422, "Request validation failed.", { errors: zodErrors(b.error) });
  const body = b.data;
  const gpu = account.gpu(body.gpu.id);
  if (!gpu) return problem(400, `gpu type ${JSON.stringify(body.gpu.id)} does not exist`);
  const max = body.cloud === "SECURE" ? gpu.maxCount.secure : gpu.maxCount.community;
  if (body.gpu.count > max) return problem(400, `at most ${max} GPUs of ${gpu.id} fit one pod on ${body.cloud.toLowerCase()} cloud`);
  const fault = c.createFault(r.method, r.path);
  if (fault?.kind === "insufficient-balance") return problem(402, "insufficient balance to deploy this pod");
  const dc = account.placement(gpu, body.cloud, body.dataCenterIds);
  if (fault?.kind === "capacity" || dc === undefined) return problem(400, CAPACITY_DETAIL);
  const price = body.cloud === "SECURE" ? gpu.price.secure : gpu.price.community;
  const pod = account.create({ name: body.name, image: body.image, gpu, gpuCount: body.gpu.count, cloud: body.cloud, dataCenterId: dc, env: body.env, ports: body.ports, disk: body.disk, interruptible: false, pricePerHour: Math.round(price * body.gpu.count * 10_000) / 10_000 });
  if (fault?.kind === "listing-lag") c.startLag(pod.id, fault);
  return { status: 201, body: renderPod(pod, c.sshUser, c.now()) };
}
