/**
 * A stateful TensorDock emulator: a real HTTP server on loopback speaking the v2 API under `/api/v2` (locations,
 * instances) over one organization (emulator/account.ts). Tests, `kiln run --sim --provider tensordock` and
 * `kiln emulate tensordock` use it; tests check its traffic against the third-party OpenAPI document, corrected
 * where TensorDock's docs pages contradict it, plus Kiln's own schema for `/locations` (testing/spec.ts).
 *
 * Faults (the kit's FaultPlan, seeded): `error-5xx`, `rate-limit` (429 + Retry-After), `slow`, `hang`,
 * `lost-response` (carried out, answer lost), `html-error` (a proxy's 502 page), and on creates `capacity`,
 * `insufficient-balance` (the "$1 minimum" refusal), `listing-lag` and `no-id` (a 201 without an id).
 * TensorDock's v2 API has no spot instances, so there is no reclaim.
 *
 * @example
 *   const emu = await startTensordockEmulator({ bootDelayMs: 100 });
 *   const client = new TensordockClient({ apiToken: emu.apiToken, baseUrl: emu.apiUrl, minIntervalMs: 0 });
 */
import { randomBytes } from "node:crypto";
import { FaultPlan, type FaultRule, ListingLag, seededRandom } from "../emulator-kit/faults.js";
import { bearerToken, type EmuReply, type EmuRequest, serveJson } from "../emulator-kit/http.js";
import type { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { TensordockAccount } from "./emulator/account.js";
import { apiError, HTML_ERROR } from "./emulator/render.js";
import { API_PREFIX, route } from "./emulator/routes.js";

export interface TensordockEmulatorOptions {
  host?: string;
  port?: number;
  apiToken?: string;
  /** From create to running (default 300 ms). */
  bootDelayMs?: number;
  /** How long a deleted instance shows "deleting" (default 100 ms). */
  deleteDelayMs?: number;
  /** Loopback sshd's behind the instances; absent: placeholder endpoints (no SSH). */
  machines?: SshdMachines;
  /** The organization's balance in USD (default 100). */
  balance?: number;
  faults?: readonly FaultRule[];
  seed?: number;
  /** TensorDock's limit, "100 requests per minute per organization", enforced with 429s; absent: no limit. */
  rateLimit?: { perMinute: number };
  now?: () => number;
}

export interface InspectedInstance {
  id: string;
  name: string;
  status: string;
  billedSeconds: number;
  costUsd: number;
}

export interface TensordockEmulator {
  /** The origin (`http://127.0.0.1:PORT`). */
  url: string;
  /** The API base Kiln is pointed at (`…/api/v2`). */
  apiUrl: string;
  apiToken: string;
  account: TensordockAccount;
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** Every instance ever created, deleted ones included. */
  inspect(): InspectedInstance[];
  /** Requests served, per `METHOD path-template`. */
  readonly requests: Map<string, number>;
  close(): Promise<void>;
}

/** TensorDock's documented limit. */
export const TENSORDOCK_RATE_LIMIT = { perMinute: 100 } as const;

const CREATE_FAULTS = new Set(["capacity", "listing-lag", "insufficient-balance", "no-id"]);
const SHAPE_FAULTS = new Set(["error-5xx", "rate-limit", "slow", "hang", "lost-response", "html-error"]);

export async function startTensordockEmulator(o: TensordockEmulatorOptions = {}): Promise<TensordockEmulator> {
  const apiToken = o.apiToken ?? `td_${randomBytes(24).toString("hex")}`;
  const faults = new FaultPlan(o.faults ?? [], seededRandom(o.seed ?? 1));
  const lag = new ListingLag();
  const account = new TensordockAccount({ bootDelayMs: o.bootDelayMs ?? 300, deleteDelayMs: o.deleteDelayMs ?? 100, machines: o.machines, ...(o.balance !== undefined && { balance: o.balance }), ...(o.now && { now: o.now }) });
  const requests = new Map<string, number>();
  const now = o.now ?? Date.now;
  const window = { start: now(), used: 0 };

  const handle = async (r: EmuRequest): Promise<EmuReply> => {
    const key = `${r.method} ${r.path.replace(/^(\/api\/v2\/instances\/)[^/]+/, "$1{id}")}`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
    const f = faults.pick(r.method, r.path, SHAPE_FAULTS);
    if (f?.kind === "hang") return { hang: true };
    if (f?.kind === "html-error") return HTML_ERROR;
    if (f?.kind === "error-5xx") return apiError(f.status ?? 503, "The service is temporarily unavailable");
    if (f?.kind === "rate-limit") return apiError(429, "Rate limit exceeded: 100 requests per minute", { "Retry-After": String(Math.ceil((f.delayMs ?? 1000) / 1000)) });
    // GUESS(tensordock): every route needs the token, /locations included (the docs say "All API requests require
    // authentication"). Verify with an unauthenticated GET /locations.
    const token = bearerToken(typeof r.headers.authorization === "string" ? r.headers.authorization : undefined);
    if (token !== apiToken) return apiError(401, token === undefined ? "Missing bearer token" : "Invalid API token");
    if (o.rateLimit) {
      if (now() - window.start >= 60_000) Object.assign(window, { start: now(), used: 0 });
      if (window.used >= o.rateLimit.perMinute) {
        const t = Math.max(1, Math.ceil((window.start + 60_000 - now()) / 1000));
        return apiError(429, "Rate limit exceeded: 100 requests per minute", { "Retry-After": String(t) });
      }
      window.used++;
    }
    const reply = await route(
      {
        account,
        createFault: () => faults.pick(r.method, r.path, CREATE_FAULTS),
        lagging: (id) => lag.hides(id),
        startLag: (id, rule) => lag.start(id, rule),
      },
      r,
    );
    if (f?.kind === "lost-response") return { lose: true };
    if (!("status" in reply)) return reply;
    return f?.kind === "slow" ? { ...reply, delayMs: f.delayMs ?? 1000 } : reply;
  };

  const http = await serveJson(handle, {
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 0,
    badRequest: (why) => apiError(400, why),
    internalError: () => apiError(500, "Internal server error"),
  });
  return {
    url: http.url,
    apiUrl: `${http.url}${API_PREFIX}`,
    apiToken,
    account,
    requests,
    inject: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    inspect: () => {
      const billed = new Map(account.meter.billed().map((b) => [b.id, b]));
      return [...account.instances.values()].map((i) => ({ id: i.id, name: i.name, status: account.advance(i).status, billedSeconds: billed.get(i.id)?.billedSeconds ?? 0, costUsd: billed.get(i.id)?.costUsd ?? 0 }));
    },
    close: async () => {
      await http.close();
      await account.close();
    },
  };
}
