/**
 * A stateful Thunder Compute API emulator on loopback (tests, `kiln run --sim`, `kiln emulate thunder`), on
 * the shared emulator kit. It speaks the spec's dialect: `/v1` paths, Bearer auth (except `/pricing` and
 * `/specs`), the listing as a map keyed by id with string counts, errors as `{code, error, message}`. Faults
 * (kit FaultPlan): `error-5xx`, `rate-limit` (429 + Retry-After), `slow`, `hang`, `lost-response` (create
 * really creates), `capacity` (400 with a capacity message — Thunder documents no capacity code),
 * `listing-lag`, `html-error` (a 502 HTML page), and its own `lost-lagging` (a create whose answer is lost *and*
 * whose instance the listing misses for a while: the kit picks one rule per request). `echoKeyComments: false` strips key comments from the
 * listing, to exercise Kiln's fallback when the marker does not come back.
 *
 * @example
 *   const emu = await startThunderEmulator({ bootDelayMs: 50 });
 *   // emu.url === "http://127.0.0.1:PORT/v1"; emu.token; emu.inject({ kind: "capacity", times: 1 })
 */
import { randomBytes } from "node:crypto";
import { FaultPlan, type FaultRule, ListingLag, seededRandom } from "../emulator-kit/faults.js";
import { bearerToken, type EmuReply, type EmuRequest, serveJson } from "../emulator-kit/http.js";
import type { SshEndpoint } from "../emulator-kit/sshd-machines.js";
import { EmuAccount, type EmuInstance } from "./emulator/account.js";
import { EMULATOR_PRICING, EMULATOR_SPECS, emulatorPrice } from "./emulator/catalog.js";

export interface ThunderEmulatorOptions {
  host?: string;
  port?: number;
  token?: string;
  bootDelayMs?: number;
  /** How long a deleted instance stays DELETING before it leaves the listing. */
  terminateDelayMs?: number;
  faults?: readonly FaultRule[];
  seed?: number;
  /** Whether the listing echoes public keys with their comments (default true; GUESS about the live API). */
  echoKeyComments?: boolean;
  /** Back the instance with a machine (a loopback sshd authorizing `publicKeys`); default: none (no ip). */
  onLaunch?(i: { uuid: string; publicKeys: string[] }): Promise<SshEndpoint>;
  onTerminate?(i: { uuid: string }): Promise<void>;
}

export interface ThunderEmulator {
  /** Base URL including `/v1`, as the real server's. */
  url: string;
  token: string;
  account: EmuAccount;
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** Every instance ever created, with what it billed (status "terminated" once deleted). */
  inspect(): { id: string; key: string; status: string; publicKeys: string[]; billedSeconds: number; costUsd: number }[];
  close(): Promise<void>;
}

const err = (status: number, error: string, message: string, headers?: Record<string, string>): EmuReply => ({ status, body: { code: status, error, message }, ...(headers && { headers }) });
/** The emulated paths and the one method each serves (swagger.json). */
const ALLOW: readonly (readonly [RegExp, string])[] = [
  [/^\/pricing$/, "GET"],
  [/^\/specs$/, "GET"],
  [/^\/instances\/list$/, "GET"],
  [/^\/instances\/create$/, "POST"],
  [/^\/instances\/[^/]+\/delete$/, "POST"],
];
const HTML_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>";

export async function startThunderEmulator(o: ThunderEmulatorOptions = {}): Promise<ThunderEmulator> {
  const token = o.token ?? `tnr-emu-${randomBytes(12).toString("hex")}`;
  const account = new EmuAccount();
  const faults = new FaultPlan(o.faults ?? [], seededRandom(o.seed ?? 1));
  const lag = new ListingLag();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, f: () => Promise<void> | void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      void Promise.resolve(f()).catch(() => undefined);
    }, ms);
    timers.add(t);
  };

  const boot = (i: EmuInstance) =>
    later(o.bootDelayMs ?? 200, async () => {
      if (i.status !== "PROVISIONING") return;
      i.status = "STARTING";
      const endpoint = o.onLaunch ? await o.onLaunch({ uuid: i.uuid, publicKeys: i.publicKeys }) : { host: "127.0.0.1", port: 22 };
      if (i.status !== "STARTING") {
        await o.onTerminate?.({ uuid: i.uuid });
        return;
      }
      i.endpoint = endpoint;
      i.status = "RUNNING";
    });

  const listItem = (i: EmuInstance) => ({
    uuid: i.uuid,
    name: i.name,
    status: i.status,
    ip: i.endpoint?.host ?? "",
    port: i.endpoint?.port ?? 0,
    createdAt: i.createdAt,
    gpuType: i.gpuType,
    numGpus: String(i.numGpus),
    cpuCores: String(i.cpuCores),
    memory: String(i.cpuCores * 8),
    mode: i.mode,
    template: i.template,
    storage: i.diskGb,
    sshPublicKeys: o.echoKeyComments === false ? i.publicKeys.map((k) => k.trim().split(/\s+/).slice(0, 2).join(" ")) : i.publicKeys,
    httpPorts: [],
    k8s: false,
    promoted: false,
  });

  const create = (body: unknown, rule: FaultRule | undefined): EmuReply => {
    const b = (body ?? {}) as Record<string, unknown>;
    const int = (k: string) => (typeof b[k] === "number" && Number.isInteger(b[k]) ? (b[k] as number) : undefined);
    const str = (k: string) => (typeof b[k] === "string" ? (b[k] as string) : undefined);
    const [cpu, disk, gpus, gpuType, mode, template] = [int("cpu_cores"), int("disk_size_gb"), int("num_gpus"), str("gpu_type"), str("mode"), str("template")];
    if (cpu === undefined || disk === undefined || gpus === undefined || !gpuType || !template || (mode !== "prototyping" && mode !== "production")) {
      return err(400, "invalid_request", "cpu_cores, disk_size_gb, num_gpus (integers), gpu_type, template and mode (prototyping|production) are required");
    }
    if (b["public_key"] !== undefined && (typeof b["public_key"] !== "string" || !/^ssh-\S+ \S+/.test(b["public_key"]))) return err(400, "invalid_request", "public_key is not an OpenSSH public key");
    const spec = EMULATOR_SPECS[`${gpuType}_x${gpus}_${mode}`];
    if (!spec) return err(400, "invalid_request", `no ${gpuType} x${gpus} configuration in ${mode} mode`);
    if (spec.vcpuOptions && !spec.vcpuOptions.includes(cpu)) return err(400, "invalid_request", `cpu_cores must be one of ${spec.vcpuOptions.join(", ")} for ${gpuType} in ${mode} mode`);
    if (disk < (spec.storageGB?.min ?? 0) || disk > (spec.storageGB?.max ?? Number.MAX_SAFE_INTEGER)) return err(400, "invalid_request", "disk_size_gb out of range");
    if (rule?.kind === "capacity") return err(400, "invalid_request", `No ${gpuType} GPUs are available in ${mode} mode right now; please try again later`);
    const price = emulatorPrice(EMULATOR_PRICING, gpuType, mode, gpus, cpu);
    if (price === undefined) return err(500, "internal_error", "no price");
    const i = account.add({ gpuType, numGpus: gpus, cpuCores: cpu, mode, template, diskGb: disk, publicKeys: typeof b["public_key"] === "string" ? [b["public_key"]] : [], pricePerHour: price });
    if (rule?.kind === "listing-lag" || rule?.kind === "lost-lagging") lag.start(i.uuid, rule);
    boot(i);
    return { status: 201, body: { uuid: i.uuid, key: "", identifier: Number(i.key) } };
  };

  const remove = (i: EmuInstance): EmuReply => {
    if (i.status !== "DELETING") {
      i.status = "DELETING";
      account.meter.end(i.uuid);
      later(o.terminateDelayMs ?? 100, async () => {
        account.remove(i);
        await o.onTerminate?.({ uuid: i.uuid });
      });
    }
    return { status: 200, body: { message: "Success" } };
  };

  const handle = async (r: EmuRequest): Promise<EmuReply> => {
    const path = r.path.replace(/^\/v1/, "");
    const rule = faults.pick(r.method, path);
    if (rule?.kind === "hang") return { hang: true };
    if (rule?.kind === "error-5xx") return err(rule.status ?? 500, "internal_error", "Internal Server Error");
    if (rule?.kind === "rate-limit") return err(429, "rate_limited", "Too many requests", { "retry-after": String(Math.ceil((rule.delayMs ?? 1000) / 1000)) });
    if (rule?.kind === "html-error") return { status: 502, text: HTML_PAGE, contentType: "text/html" };
    const reply = await route(r.method, path, r);
    if (rule?.kind === "lost-response" || rule?.kind === "lost-lagging") return { lose: true };
    return rule?.kind === "slow" && "status" in reply ? { ...reply, delayMs: rule.delayMs ?? 1000 } : reply;

    async function route(method: string, p: string, req: EmuRequest): Promise<EmuReply> {
      // RFC 9110: a method the path does not serve is a 405 naming the ones it does (before auth, as routing is).
      const allow = ALLOW.find(([re]) => re.test(p))?.[1];
      if (allow && method !== allow) return err(405, "method_not_allowed", `${method} is not allowed on ${p}`, { Allow: allow });
      // Every body the spec declares is an object (`{"type": "object"}`, or create's oneOf of objects).
      if (req.body !== undefined && (typeof req.body !== "object" || req.body === null || Array.isArray(req.body))) return err(400, "invalid_request", "the request body must be a JSON object");
      if (method === "GET" && p === "/pricing") return { status: 200, body: { pricing: EMULATOR_PRICING } };
      if (method === "GET" && p === "/specs") return { status: 200, body: { specs: EMULATOR_SPECS } };
      if (bearerToken(req.headers.authorization) !== token) return err(401, "unauthorized", "Invalid or missing API token");
      if (method === "GET" && p === "/instances/list") {
        return { status: 200, body: Object.fromEntries([...account.instances.values()].filter((i) => !lag.hides(i.uuid)).map((i) => [i.key, listItem(i)])) };
      }
      if (method === "POST" && p === "/instances/create") return create(req.body, rule);
      const del = /^\/instances\/([^/]+)\/delete$/.exec(p);
      if (method === "POST" && del) {
        const i = account.find(decodeURIComponent(del[1]!));
        return i ? remove(i) : err(404, "not_found", "Instance not found");
      }
      return err(404, "not_found", `no route ${method} ${p}`);
    }
  };

  const server = await serveJson(handle, {
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 0,
    badRequest: (why) => err(400, "invalid_request", why),
    internalError: () => err(500, "internal_error", "Internal Server Error"),
  });
  return {
    url: `${server.url}/v1`,
    token,
    account,
    inject: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    inspect: () => {
      const bills = new Map(account.meter.billed().map((b) => [b.id, b]));
      return [...account.history.values()].map((i) => ({ id: i.uuid, key: i.key, status: bills.get(i.uuid)?.status ?? i.status, publicKeys: i.publicKeys, billedSeconds: bills.get(i.uuid)?.billedSeconds ?? 0, costUsd: bills.get(i.uuid)?.costUsd ?? 0 }));
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await server.close();
      for (const i of account.instances.values()) await o.onTerminate?.({ uuid: i.uuid });
    },
  };
}
