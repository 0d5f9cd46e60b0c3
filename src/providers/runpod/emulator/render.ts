/** The emulator's answers in RunPod's dialect: a v2 `Pod`, a catalog `GpuType`, an RFC 9457 problem. */
import type { EmuReply } from "../../emulator-kit/http.js";
import type { RunpodAccount, EmuPod } from "./account.js";
import { type CloudTier, DATA_CENTERS, type EmuGpuType, HOST_CUDA } from "./catalog.js";

const ACTIONS: Record<string, string[]> = {
  RUNNING: ["stop", "restart", "terminate"],
  EXITED: ["start", "terminate"],
  ERROR: ["start", "terminate"],
  PROVISIONING: ["stop", "terminate"],
  STARTING: ["stop", "terminate"],
  TERMINATED: [],
};

export function renderPod(p: EmuPod, sshUser: string, now: number): Record<string, unknown> {
  const running = p.status === "RUNNING";
  const ep = running ? p.endpoint : undefined;
  const proxyUser = `${p.id}-64411eb2`;
  return {
    id: p.id,
    name: p.name,
    image: p.image,
    args: p.args ?? "",
    disk: p.disk,
    ports: p.ports,
    env: p.env,
    registry: p.registry ?? null,
    status: p.status,
    actions: (ACTIONS[p.status] ?? []).filter((a) => !p.locked || (a !== "stop" && a !== "restart")),
    mounts: p.persistentMount ? { persistent: p.persistentMount } : {},
    gpu: { id: p.gpu.id, count: p.gpuCount },
    cloud: p.cloud,
    dataCenterId: p.dataCenterId,
    cudaVersion: HOST_CUDA,
    ssh: {
      proxy: { host: "ssh.runpod.io", port: 22, username: proxyUser, command: `ssh ${proxyUser}@ssh.runpod.io` },
      // Null until 22/tcp has a public port: RunPod shows RUNNING a moment before that.
      direct: ep && p.ports.includes("22/tcp") ? { host: ep.host, port: ep.port, username: sshUser, command: `ssh ${sshUser}@${ep.host} -p ${ep.port}` } : null,
    },
    template: null,
    cost: p.status === "EXITED" || p.status === "TERMINATED" ? 0 : p.pricePerHour,
    locked: p.locked ?? false,
    globalNetworking: p.globalNetworking ? { enabled: true, ip: globalIp(p.id), internalDns: `${p.id}.runpod.internal` } : { enabled: false },
    runtime: running ? { uptime: Math.floor((now - (p.startedAt?.getTime() ?? now)) / 1000), ports: ep ? [{ private: 22, public: ep.port, type: "tcp", ip: ep.host }] : [] } : null,
    createdAt: p.createdAt.toISOString(),
    startedAt: p.startedAt?.toISOString() ?? null,
  };
}

/** A stable private address per pod, in the range RunPod's example uses (10.65.0.0/16). */
const globalIp = (id: string) => {
  const h = [...id].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) >>> 0, 7);
  return `10.65.${(h >> 8) & 255}.${h & 255}`;
};

/** A catalog entry; with availability, stock for the tier and GPU count asked about. */
export function renderGpuType(a: RunpodAccount, g: EmuGpuType, q: { availability: boolean; cloud: CloudTier; count: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: g.id,
    name: g.name,
    pool: null,
    manufacturer: "NVIDIA",
    memory: g.memory,
    secure: g.maxCount.secure > 0 && g.price.secure > 0,
    community: g.maxCount.community > 0 && g.price.community > 0,
    price: { secure: g.price.secure, community: g.price.community },
    maxCount: { secure: g.maxCount.secure, community: g.maxCount.community },
  };
  if (!q.availability) return out;
  const max = q.cloud === "SECURE" ? g.maxCount.secure : g.maxCount.community;
  const dcs = Object.entries(DATA_CENTERS)
    .map(([id, name]) => ({ id, name, availability: q.count > max ? "NONE" : a.stock.level(g, q.cloud, id) }))
    .filter((d) => d.availability !== "NONE");
  const rank = ["NONE", "LOW", "MEDIUM", "HIGH"];
  out["availability"] = dcs.reduce((best, d) => (rank.indexOf(d.availability) > rank.indexOf(best) ? d.availability : best), "NONE");
  // "omitted entirely when the configuration is unavailable everywhere" (GpuType.dataCenters).
  if (dcs.length > 0) out["dataCenters"] = dcs;
  return out;
}

const TITLES: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable" };

/** RFC 9457 problem details, as `application/problem+json`. */
export function problem(status: number, detail: string, extra: { errors?: string[]; headers?: Record<string, string> } = {}): EmuReply {
  return {
    status,
    body: { title: TITLES[status] ?? "Error", status, detail, ...(extra.errors && { errors: extra.errors }) },
    contentType: "application/problem+json",
    ...(extra.headers && { headers: extra.headers }),
  };
}

/** What a proxy in front of the API answers when the API is down: an HTML page. */
export const HTML_ERROR: EmuReply = {
  status: 502,
  text: "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>",
  contentType: "text/html; charset=UTF-8",
};
