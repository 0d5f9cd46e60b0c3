/**
 * REST v2 routes of the emulated account: `/v2/pods` (list, create), `/v2/pods/{id}` (get, update, delete),
 * `/v2/pods/{id}/action`, and `/v2/catalog/gpus`. Requests are checked as RunPod documents them (422 with
 * `errors` for a body or parameter that breaks the schema, 400 for a rule the schema cannot state or for no
 * capacity, 404 for a GPU type, template, CPU flavor or network volume the account does not have, 409 for an
 * action the pod's status does not allow, 405 with `Allow` for a method the path does not serve).
 */
import { z } from "zod";
import type { FaultRule } from "../../emulator-kit/faults.js";
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import type { EmuPod, RunpodAccount } from "./account.js";
import { type CloudTier, HOST_CUDA } from "./catalog.js";
import { problem, renderGpuType, renderPod } from "./render.js";

export const CAPACITY_DETAIL = "There are no longer any instances available with the requested specifications. Please refresh and try again.";

// JSON numbers past 2^53 are still integers by the spec's `type: integer`; zod's int() would refuse them.
const integer = (min: number) => z.number().refine(Number.isInteger, "expected an integer").refine((n) => n >= min, `expected >= ${min}`);
const cudaVersion = z.string().regex(/^\d+\.\d+$/);
const mountsSchema = z.strictObject({
  persistent: z.strictObject({ size: integer(10), path: z.string() }).optional(),
  network: z.array(z.strictObject({ volumeId: z.string(), path: z.string() })).max(1).optional(),
});
// CreatePodRequest, field for field (unevaluatedProperties: false, so unknown keys are a 422 too).
const createSchema = z
  .strictObject({
    name: z.string().min(1),
    image: z.string().optional(),
    templateId: z.string().min(1).optional(),
    gpu: z.strictObject({ id: z.string(), count: integer(1).default(1), allowedCudaVersions: z.array(cudaVersion).optional(), minCudaVersion: cudaVersion.optional() }).optional(),
    cpu: z.strictObject({ id: z.string().min(1), vcpuCount: integer(2) }).optional(),
    cloud: z.enum(["SECURE", "COMMUNITY"]).default("SECURE"),
    dataCenterIds: z.array(z.string()).optional(),
    disk: integer(1).default(50),
    ports: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    args: z.string().optional(),
    registry: z.string().nullable().optional(),
    startSsh: z.boolean().optional(),
    startJupyter: z.boolean().optional(),
    globalNetworking: z.boolean().optional(),
    mounts: mountsSchema.optional(),
  })
  // The schema's `if: {not: {required: [templateId]}}, then: {required: [image]}`.
  .refine((b) => b.templateId !== undefined || b.image !== undefined, { message: "image is required unless templateId is set", path: ["image"] });
// UpdatePodRequest: ContainerConfig plus name, locked, globalNetworking, mounts and templateId.
const updateSchema = z.strictObject({
  name: z.string().min(1).optional(),
  image: z.string().optional(),
  args: z.string().optional(),
  disk: integer(1).optional(),
  ports: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  registry: z.string().nullable().optional(),
  mounts: mountsSchema.optional(),
  locked: z.boolean().optional(),
  globalNetworking: z.boolean().optional(),
  templateId: z.string().optional(),
});
const actionSchema = z.strictObject({ action: z.enum(["start", "stop", "restart", "terminate"]) });

/** RFC 9110: a 405 names the methods the resource does allow. */
const notAllowed = (allow: string) => problem(405, "The requested method is not allowed for this path.", { headers: { Allow: allow } });

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
  if (r.path === "/v2/catalog/gpus") {
    if (r.method !== "GET") return notAllowed("GET");
    const q = catalogQuery(r.query);
    if ("refuse" in q) return q.refuse;
    return { status: 200, body: { gpus: account.gpus.map((g) => renderGpuType(account, g, q)) } };
  }
  if (r.path === "/v2/pods") {
    if (r.method === "GET") {
      const cluster = r.query.get("includeClusterPods");
      // A boolean; the emulated account has no clusters, so either value lists the same pods.
      if (cluster !== null && cluster !== "true" && cluster !== "false") return problem(422, "Request validation failed.", { errors: ["includeClusterPods: must be true or false"] });
      return { status: 200, body: { pods: account.listed().filter((p) => !c.lagging(p.id)).map(render) } };
    }
    if (r.method === "POST") return createPod(c, r);
    return notAllowed("GET, POST");
  }
  const m = /^\/v2\/pods\/([^/]+)(\/action)?$/.exec(r.path);
  if (!m) return problem(404, "resource not found");
  // The method before the pod: a 405 does not depend on whether the pod exists.
  if (m[2] && r.method !== "POST") return notAllowed("POST");
  if (!m[2] && !["GET", "PATCH", "DELETE"].includes(r.method)) return notAllowed("GET, PATCH, DELETE");
  const id = decodeURIComponent(m[1] ?? "");
  const pod = account.get(id);
  if (!pod || c.lagging(id)) return problem(404, "pod not found");
  if (m[2]) {
    const a = actionSchema.safeParse(r.body);
    if (!a.success) return problem(422, "Request validation failed.", { errors: zodErrors(a.error) });
    const action = a.data.action;
    if (action === "terminate") {
      await account.remove(pod);
      return { status: 204 };
    }
    const allowed = { stop: ["RUNNING", "PROVISIONING", "STARTING"], start: ["EXITED", "ERROR"], restart: ["RUNNING"] }[action];
    if (!allowed.includes(pod.status)) return problem(409, `cannot ${action} a pod in status ${pod.status}`);
    // "Locked pods cannot be stopped or reset" (UpdatePodRequest.locked).
    if (pod.locked && action !== "start") return problem(409, `cannot ${action} a locked pod`);
    if (action === "stop") await account.stop(pod, "stopped");
    else if (action === "start") account.start(pod);
    return { status: 200, body: render(account.advance(pod)) };
  }
  if (r.method === "GET") return { status: 200, body: render(pod) };
  if (r.method === "PATCH") return updatePod(pod, r, render);
  await account.remove(pod);
  return { status: 204 };
}

/** PATCH /v2/pods/{id}: only the fields present change (UpdatePodRequest), with the Mounts rules for updates. */
function updatePod(pod: EmuPod, r: EmuRequest, render: (p: EmuPod) => Record<string, unknown>): EmuReply {
  const b = updateSchema.safeParse(r.body);
  if (!b.success) return problem(422, "Request validation failed.", { errors: zodErrors(b.error) });
  const u = b.data;
  if (u.templateId !== undefined) return problem(404, `template ${JSON.stringify(u.templateId)} not found`);
  const mountRule = u.mounts && mountUpdateRule(pod, u.mounts);
  if (mountRule) return problem(400, mountRule);
  if (u.name !== undefined) pod.name = u.name;
  if (u.image !== undefined) pod.image = u.image;
  if (u.args !== undefined) pod.args = u.args;
  if (u.disk !== undefined) pod.disk = u.disk;
  if (u.ports !== undefined) pod.ports = u.ports;
  if (u.env !== undefined) pod.env = u.env;
  if (u.registry !== undefined) pod.registry = u.registry;
  if (u.locked !== undefined) pod.locked = u.locked;
  if (u.globalNetworking !== undefined) pod.globalNetworking = u.globalNetworking;
  if (u.mounts?.persistent) pod.persistentMount = u.mounts.persistent;
  return { status: 200, body: render(pod) };
}

/** Mounts's PATCH semantics: why an update's mounts are refused (400), or undefined. */
function mountUpdateRule(pod: EmuPod, mounts: z.infer<typeof mountsSchema>): string | undefined {
  if (mounts.persistent && mounts.network?.length) return "At most one of mounts.persistent and mounts.network may be set.";
  if (mounts.network?.length === 0) return "mounts.network: [] would clear the mount, which is not supported.";
  // The emulator creates no network-volume pods, so a network mount is always a new kind.
  if (mounts.network?.length || (mounts.persistent && !pod.persistentMount)) return "The mount kind is fixed at create.";
  return undefined;
}

async function createPod(c: RestContext, r: EmuRequest): Promise<EmuReply> {
  const { account } = c;
  const b = createSchema.safeParse(r.body);
  if (!b.success) return problem(422, "Request validation failed.", { errors: zodErrors(b.error) });
  const body = b.data;
  // The emulated account has no templates, network volumes or CPU flavors (Kiln rents GPU pods), so a
  // reference to one names nothing the caller can see: createPod's 404.
  if (body.templateId !== undefined) return problem(404, `template ${JSON.stringify(body.templateId)} not found`);
  // The rules the spec enforces "at the handler layer": 400.
  if ((body.gpu === undefined) === (body.cpu === undefined)) return problem(400, "Exactly one of gpu or cpu must be set.");
  if (body.mounts?.persistent && body.mounts.network?.length) return problem(400, "At most one of mounts.persistent and mounts.network may be set.");
  if (body.gpu?.allowedCudaVersions?.length && body.gpu.minCudaVersion !== undefined) return problem(400, "gpu.allowedCudaVersions and gpu.minCudaVersion are mutually exclusive.");
  if (body.cpu) return problem(404, `cpu flavor ${JSON.stringify(body.cpu.id)} not found`);
  const volume = body.mounts?.network?.[0];
  if (volume) return problem(404, `network volume ${JSON.stringify(volume.volumeId)} not found`);
  const want = body.gpu!;
  const gpu = account.gpu(want.id);
  if (!gpu) return problem(404, `gpu type ${JSON.stringify(want.id)} not found`);
  const max = body.cloud === "SECURE" ? gpu.maxCount.secure : gpu.maxCount.community;
  if (want.count > max) return problem(400, `at most ${max} GPUs of ${gpu.id} fit one pod on ${body.cloud.toLowerCase()} cloud`);
  const fault = c.createFault(r.method, r.path);
  if (fault?.kind === "insufficient-balance") return problem(402, "insufficient balance to deploy this pod");
  // "A version no machine reports yields a capacity error rather than a fallback" (allowedCudaVersions).
  const cudaOk = (want.allowedCudaVersions?.length ? want.allowedCudaVersions.includes(HOST_CUDA) : true) && (want.minCudaVersion === undefined || compareVersions(HOST_CUDA, want.minCudaVersion) >= 0);
  const dc = cudaOk ? account.placement(gpu, body.cloud, body.dataCenterIds) : undefined;
  if (fault?.kind === "capacity" || dc === undefined) return problem(400, CAPACITY_DETAIL);
  const price = body.cloud === "SECURE" ? gpu.price.secure : gpu.price.community;
  const pod = account.create({
    name: body.name,
    image: body.image ?? "",
    gpu,
    gpuCount: want.count,
    cloud: body.cloud,
    dataCenterId: dc,
    env: body.env,
    ports: body.ports,
    disk: body.disk,
    interruptible: false,
    pricePerHour: Math.round(price * want.count * 10_000) / 10_000,
    args: body.args ?? "",
    registry: body.registry ?? null,
    ...(body.mounts?.persistent && { persistentMount: body.mounts.persistent }),
    globalNetworking: body.globalNetworking ?? false,
  });
  if (fault?.kind === "listing-lag") c.startLag(pod.id, fault);
  return { status: 201, body: renderPod(pod, c.sshUser, c.now()) };
}

/** "major.minor" compared numerically (12.11 is above 12.2); a bare major is `major.0`. */
function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am - bm || an - bn;
}

/** The catalog's query, checked as listGpuTypes's parameters describe it: 422 for a malformed value, 400 for a rule. */
function catalogQuery(q: URLSearchParams): { availability: boolean; cloud: CloudTier; count: number } | { refuse: EmuReply } {
  // style: form, explode: false — one comma-separated value; an empty one is an empty list.
  const list = (name: string) => {
    const v = q.get(name);
    return v === null ? undefined : v === "" ? [] : v.split(",");
  };
  const [include, product, countries, cudas] = [list("include"), list("product"), list("countryCodes"), list("cudaVersions")];
  const [count, cloud, minCuda] = [q.get("count"), q.get("cloud"), q.get("minCudaVersion")];
  const errors = [
    ...(include && (include.length > 1 || include.some((v) => v !== "AVAILABILITY")) ? ["include: at most one of AVAILABILITY"] : []),
    ...(product?.some((v) => !["POD", "CLUSTER", "SERVERLESS"].includes(v)) ? ["product: each one of POD, CLUSTER, SERVERLESS"] : []),
    ...(count !== null && !(/^\d+$/.test(count) && Number(count) >= 1) ? ["count: an integer, at least 1"] : []),
    ...(cloud !== null && cloud !== "SECURE" && cloud !== "COMMUNITY" ? ["cloud: must be SECURE or COMMUNITY"] : []),
    ...(countries?.some((v) => !/^[A-Z]{2}$/.test(v)) ? ["countryCodes: each an ISO 3166-1 alpha-2 code, uppercase"] : []),
    ...(cudas?.some((v) => !/^\d+\.\d+$/.test(v)) ? ["cudaVersions: each major.minor"] : []),
    ...(minCuda !== null && !/^\d+(\.\d+)?$/.test(minCuda) ? ["minCudaVersion: major or major.minor"] : []),
  ];
  if (errors.length > 0) return { refuse: problem(422, "Request validation failed.", { errors }) };
  const availability = include?.[0] === "AVAILABILITY";
  // "Required with include=AVAILABILITY, and valid only with it (400 either way)"; the scoping filters are
  // "valid only with include=AVAILABILITY"; cudaVersions and minCudaVersion are "mutually exclusive (400 if both are sent)".
  if (availability && !product?.length) return { refuse: problem(400, "product is required with include=AVAILABILITY") };
  const stray = ["product", "count", "cloud", "countryCodes", "cudaVersions", "minCudaVersion"].filter((k) => q.has(k));
  if (!availability && stray.length > 0) return { refuse: problem(400, `${stray.join(", ")}: valid only with include=AVAILABILITY`) };
  if (cudas !== undefined && minCuda !== null) return { refuse: problem(400, "cudaVersions and minCudaVersion are mutually exclusive") };
  // countryCodes and the CUDA filters are checked, not applied (Kiln sends neither).
  return { availability, cloud: (cloud ?? "SECURE") as CloudTier, count: Number(count ?? "1") };
}
