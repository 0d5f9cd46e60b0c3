/**
 * A stateful RunPod emulator: a real HTTP server on loopback speaking REST v2 (`/v2/...`, RFC 9457 errors,
 * `RateLimit` headers) and the GraphQL subset Kiln uses (`/graphql`), over one account (emulator/account.ts).
 * Tests and `kiln run --sim` / `kiln emulate runpod` use it; tests check its traffic against RunPod's own
 * OpenAPI document (testing/specs.ts).
 *
 * Faults (the kit's FaultPlan, seeded): `error-5xx`, `rate-limit` (429 + Retry-After), `slow`, `hang`,
 * `lost-response` (the request is carried out, the answer lost), `html-error` (a proxy's 502 page),
 * `capacity` and `insufficient-balance` on creates, `listing-lag`, `no-id` (a rent answered without a pod),
 * and `reclaim`: on a matching request, one running interruptible pod (picked by the seeded PRNG) is taken
 * away — RunPod reclaims without notice, so random reclaims are tied to traffic, not wall time.
 *
 * @example
 *   const emu = await startRunpodEmulator({ bootDelayMs: 100 });
 *   const client = new RunpodClient({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0 });
 *   emu.inject({ kind: "reclaim", probability: 0.05 });
 */
import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import { FaultPlan, type FaultRule, ListingLag, seededRandom } from "../emulator-kit/faults.js";
import { bearerToken, type EmuReply, type EmuRequest, serveJson } from "../emulator-kit/http.js";
import type { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { type EmuPod, RunpodAccount } from "./emulator/account.js";
import { graphqlRoute } from "./emulator/graphql.js";
import { HTML_ERROR, problem } from "./emulator/render.js";
import { restRoute } from "./emulator/rest.js";

export interface RunpodEmulatorOptions {
  host?: string;
  port?: number;
  apiKey?: string;
  /** How long a pod takes from create to RUNNING (default 300 ms). */
  bootDelayMs?: number;
  /** Loopback sshd's behind the pods; absent: placeholder endpoints (no SSH). */
  machines?: SshdMachines;
  /** The SSH user `ssh.direct` names (RunPod: root; here: whoever runs the sshd's). */
  sshUser?: string;
  faults?: readonly FaultRule[];
  seed?: number;
  /** A per-minute quota, sent as RateLimit headers and enforced with 429s; absent: no limit and no headers. */
  rateLimit?: { perMinute: number };
  /** The clock of the rate-limit windows (tests pass the client's fake clock). */
  now?: () => number;
}

export interface InspectedPod {
  id: string;
  name: string;
  status: string;
  interruptible: boolean;
  /** The container disk the create asked for, GB (REST `disk` / GraphQL `containerDiskInGb`). */
  disk: number;
  ended: string | undefined;
  billedSeconds: number;
  costUsd: number;
}

export interface RunpodEmulator {
  url: string;
  apiKey: string;
  account: RunpodAccount;
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** Take an interruptible pod away now (a spot reclaim); false when it is not a live interruptible pod. */
  reclaim(id: string): Promise<boolean>;
  /** Every pod ever created, deleted ones included. */
  inspect(): InspectedPod[];
  /** Requests served, per `METHOD path-template`. */
  readonly requests: Map<string, number>;
  close(): Promise<void>;
}

const CREATE_FAULTS = new Set(["capacity", "listing-lag", "insufficient-balance", "no-id"]);
const SHAPE_FAULTS = new Set(["error-5xx", "rate-limit", "slow", "hang", "lost-response", "html-error"]);
const RECLAIM = new Set(["reclaim"]);

export async function startRunpodEmulator(o: RunpodEmulatorOptions = {}): Promise<RunpodEmulator> {
  const apiKey = o.apiKey ?? `rpa_${randomBytes(20).toString("hex").toUpperCase()}`;
  const random = seededRandom(o.seed ?? 1);
  const faults = new FaultPlan(o.faults ?? [], random);
  const lag = new ListingLag();
  const account = new RunpodAccount({ bootDelayMs: o.bootDelayMs ?? 300, machines: o.machines });
  const sshUser = o.sshUser ?? userInfo().username;
  const requests = new Map<string, number>();
  const now = o.now ?? Date.now;
  const window = { start: now(), used: 0 };

  const rateHeaders = (): Record<string, string> => {
    if (!o.rateLimit) return {};
    const left = Math.max(0, o.rateLimit.perMinute - window.used);
    const t = Math.max(0, Math.ceil((window.start + 60_000 - now()) / 1000));
    return { "RateLimit-Policy": `"minute";q=${o.rateLimit.perMinute};w=60`, RateLimit: `"minute";r=${left};t=${t}` };
  };

  const reclaimRandom = async (): Promise<void> => {
    const live = account.listed().filter((p: EmuPod) => p.interruptible && p.status !== "EXITED");
    const victim = live[Math.floor(random() * live.length)];
    if (victim) await account.reclaim(victim.id);
  };

  const handle = async (r: EmuRequest): Promise<EmuReply> => {
    const key = `${r.method} ${r.path.replace(/^\/v2\/pods\/[^/]+/, "/v2/pods/{id}")}`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
    if (faults.pick(r.method, r.path, RECLAIM)) await reclaimRandom();
    const f = faults.pick(r.method, r.path, SHAPE_FAULTS);
    if (f?.kind === "hang") return { hang: true };
    if (f?.kind === "html-error") return HTML_ERROR;
    if (f?.kind === "error-5xx") return problem(f.status ?? 503, "upstream temporarily unavailable");
    if (f?.kind === "rate-limit") return problem(429, "rate limit exceeded for the minute window", { headers: { "Retry-After": String(Math.ceil((f.delayMs ?? 1000) / 1000)), ...rateHeaders() } });
    const token = bearerToken(typeof r.headers.authorization === "string" ? r.headers.authorization : undefined);
    if (token !== apiKey) {
      if (r.path === "/graphql") return { status: 401, body: { errors: [{ message: "Unauthorized", extensions: { code: "UNAUTHENTICATED" } }] } };
      return problem(401, token === undefined ? "missing bearer token" : "invalid api key");
    }
    if (o.rateLimit) {
      if (now() - window.start >= 60_000) Object.assign(window, { start: now(), used: 0 });
      if (window.used >= o.rateLimit.perMinute) {
        const t = Math.max(1, Math.ceil((window.start + 60_000 - now()) / 1000));
        return problem(429, "rate limit exceeded for the minute window", { headers: { "Retry-After": String(t), ...rateHeaders() } });
      }
      window.used++;
    }
    const createFault = (method: string, path: string) => faults.pick(method, path, CREATE_FAULTS);
    const startLag = (id: string, rule: FaultRule) => lag.start(id, rule);
    const reply =
      r.path === "/graphql"
        ? await graphqlRoute({ account, createFault, startLag }, r)
        : r.path.startsWith("/v2/")
          ? await restRoute({ account, sshUser, now: Date.now, createFault, lagging: (id) => lag.hides(id), startLag }, r)
          : problem(404, "resource not found");
    if (f?.kind === "lost-response") return { lose: true };
    if (!("status" in reply)) return reply;
    const withHeaders = { ...reply, headers: { ...rateHeaders(), ...reply.headers } };
    return f?.kind === "slow" ? { ...withHeaders, delayMs: f.delayMs ?? 1000 } : withHeaders;
  };

  const http = await serveJson(handle, {
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 0,
    badRequest: (why) => problem(400, why),
    internalError: () => problem(500, "internal error"),
  });
  return {
    url: http.url,
    apiKey,
    account,
    requests,
    inject: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    reclaim: (id) => account.reclaim(id),
    inspect: () =>
      [...account.pods.values()].map((p) => ({ id: p.id, name: p.name, status: p.deleted ? "TERMINATED" : account.advance(p).status, interruptible: p.interruptible, disk: p.disk, ended: p.ended, ...account.meter.billed(p.id) })),
    close: async () => {
      await http.close();
      await account.close();
    },
  };
}
