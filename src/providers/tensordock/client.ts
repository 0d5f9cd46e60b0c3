/**
 * The TensorDock v2 API client (`https://dashboard.tensordock.com/api/v2`): locations (prices and stock),
 * instances (list, get, create, delete). Every answer is decoded with schema.ts, every error classified by
 * errors.ts.
 *
 * Retry policy, by error class: 429 (honouring `Retry-After`, capped) and 5xx/timeouts/resets are retried with
 * exponential backoff and jitter; other 4xx never are; the caller's abort is rethrown at once. **A create is
 * never retried blindly**: once it may have reached TensorDock (a timeout, a reset, a 5xx, a 2xx Kiln cannot
 * read or without an id) it fails with {@link LaunchOutcomeUnknownError} and the lifecycle finds the instance
 * by its name. Only a 429 or a refused connection, both certain that nothing was created, retry a create.
 *
 * The token comes in through the constructor and never appears in a log line or an error message.
 *
 * @example
 *   const client = new TensordockClient({ apiToken: creds.apiKey.reveal() });
 *   const locations = await client.listLocations(signal);
 */
import type { z } from "zod";
import { MAX_API_RESPONSE_BYTES, ResponseTooLarge, readBounded } from "../../base/bounded-body.js";
import { ProviderError } from "../provider.js";
import { tensordockApiError, tensordockLaunchUnknown } from "./errors.js";
import { type Clock, Pacer, parseRetryAfter, realClock, TENSORDOCK_MIN_INTERVAL_MS } from "./pacing.js";
import { createdSchema, errorText, instanceListSchema, locationsSchema, parseInstance, parseTensordock, type TdInstance } from "./schema.js";

export const TENSORDOCK_API_URL = "https://dashboard.tensordock.com/api/v2";
/** The most of a body Kiln reads; a busy organization's instance list is far below this. */
export const MAX_RESPONSE_BYTES = MAX_API_RESPONSE_BYTES;

export interface ClientLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}
const silent: ClientLog = { debug() {}, warn() {} };

export interface TensordockClientOptions {
  apiToken: string;
  /** The API base, `https://dashboard.tensordock.com/api/v2` (paths are appended: `/instances`, `/locations`). */
  baseUrl?: string;
  fetch?: typeof fetch;
  clock?: Clock;
  random?: () => number;
  log?: ClientLog;
  requestTimeoutMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A Retry-After longer than this is not waited out: the rate-limited error is thrown instead. */
  retryAfterCapMs?: number;
  /** Spacing between calls; TensorDock allows 100 a minute per organization. */
  minIntervalMs?: number;
}

/** Body of `POST /instances`, location-based deployment, as the instance-creation page shows it. */
export interface CreateInstanceBody {
  data: {
    type: "virtualmachine";
    attributes: {
      name: string;
      type: "virtualmachine";
      image: string;
      resources: {
        vcpu_count: number;
        ram_gb: number;
        storage_gb: number;
        /**
         * Keyed by the GPU's `v0Name`: `{"geforcertx4090-pcie-24gb": {"count": 1}}` (instance-creation page).
         * Quirk: the third-party document has an array of `{gpuV0Name, count}` instead; TensorDock's page wins.
         */
        gpus: Record<string, { count: number }>;
      };
      location_id: string;
      useDedicatedIp: boolean;
      /** The public key itself ("either an ssh_key_id … or the full public key content via ssh_key"). */
      ssh_key: string;
    };
  };
}

interface Call<T extends z.ZodType> {
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  schema?: T;
  signal: AbortSignal;
  /** Set for creates: the instance's name, to report an unknown outcome. */
  launchName?: string;
}

type Outcome = { ok: true; status: number; body: unknown } | { ok: false; error: ProviderError; notSent?: boolean };

export class TensordockClient {
  readonly #token: string;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #log: ClientLog;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #retryAfterCapMs: number;
  readonly #pace: Pacer;

  constructor(o: TensordockClientOptions) {
    this.#token = o.apiToken;
    this.#baseUrl = (o.baseUrl ?? TENSORDOCK_API_URL).replace(/\/+$/, "");
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.#clock = o.clock ?? realClock;
    this.#random = o.random ?? Math.random;
    this.#log = o.log ?? silent;
    this.#timeoutMs = o.requestTimeoutMs ?? 30_000;
    this.#maxAttempts = o.maxAttempts ?? 5;
    this.#backoffBaseMs = o.backoffBaseMs ?? 1_000;
    this.#backoffMaxMs = o.backoffMaxMs ?? 30_000;
    this.#retryAfterCapMs = o.retryAfterCapMs ?? 60_000;
    this.#pace = new Pacer(o.minIntervalMs ?? TENSORDOCK_MIN_INTERVAL_MS, this.#clock);
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }
  get log(): ClientLog {
    return this.#log;
  }

  /** `GET /locations`: every location with its GPU models, per-GPU prices and how many can be deployed now. */
  async listLocations(signal: AbortSignal) {
    const { status, body } = await this.#send({ method: "GET", path: "/locations", signal }, "GET /locations");
    return parseTensordock(locationsSchema, body, "GET /locations", status).data.locations;
  }

  /** `GET /instances`: names and statuses only (no address). */
  async listInstances(signal: AbortSignal) {
    const { status, body } = await this.#send({ method: "GET", path: "/instances", signal }, "GET /instances");
    return parseTensordock(instanceListSchema, body, "GET /instances", status).data.instances.map((i) => ({ id: i.id, name: i.attributes.name, status: i.attributes.status }));
  }

  async getInstance(id: string, signal: AbortSignal): Promise<TdInstance> {
    const { status, body } = await this.#send({ method: "GET", path: `/instances/${encodeURIComponent(id)}`, signal }, "GET /instances/{id}");
    return parseInstance(body, "GET /instances/{id}", status);
  }

  /** `POST /instances`; the new instance's id. Every way it can fail after reaching TensorDock is an unknown outcome. */
  async createInstance(body: CreateInstanceBody, signal: AbortSignal): Promise<string> {
    const name = body.data.attributes.name;
    const { status, body: answer } = await this.#send({ method: "POST", path: "/instances", body, signal, launchName: name }, "POST /instances");
    const parsed = createdSchema.safeParse(answer);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw tensordockLaunchUnknown(name, new Error(`TensorDock answered the create ${status} with a body Kiln cannot read: ${issue?.path.join(".") || "(the body)"}: ${issue?.message ?? "invalid"}`), status);
    }
    const id = parsed.data.data.id;
    // A success without an id is not "nothing launched": the instance may exist and bill. Resolve it by name.
    if (id === undefined) throw tensordockLaunchUnknown(name, new Error("TensorDock answered the create with no instance id"), status);
    return id;
  }

  /** `DELETE /instances/{id}`: the instance and its disk go (200). */
  async deleteInstance(id: string, signal: AbortSignal): Promise<void> {
    await this.#send({ method: "DELETE", path: `/instances/${encodeURIComponent(id)}`, signal }, "DELETE /instances/{id}");
  }

  async #send(call: Call<z.ZodType>, what: string): Promise<{ status: number; body: unknown }> {
    for (let attempt = 1; ; attempt++) {
      await this.#pace.wait(call.signal);
      const out = await this.#attempt(call, what);
      if (out.ok) {
        if (out.body === undefined && call.launchName !== undefined) throw tensordockLaunchUnknown(call.launchName, new Error("TensorDock answered the create without a body"), out.status);
        return out;
      }
      const err = out.error;
      const retryable = err.kind === "rate-limited" || err.kind === "transient";
      if (call.launchName !== undefined) {
        // A 2xx Kiln could not read (not JSON, too large) may well have created the instance.
        if (err.status !== undefined && err.status < 300) throw tensordockLaunchUnknown(call.launchName, err, err.status);
        if (retryable && !out.notSent && err.kind !== "rate-limited") throw tensordockLaunchUnknown(call.launchName, err, err.status);
      }
      if (!retryable || attempt >= this.#maxAttempts) throw err;
      if (err.retryAfterMs !== undefined && err.retryAfterMs > this.#retryAfterCapMs) throw err;
      const delay = err.retryAfterMs ?? this.#backoff(attempt);
      this.#log.debug(`tensordock ${what}: ${err.message}; retry ${attempt + 1}/${this.#maxAttempts} in ${Math.round(delay)} ms`);
      await this.#clock.sleep(delay, call.signal);
    }
  }

  /** Exponential backoff with "equal jitter": half fixed, half random. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#backoffMaxMs, this.#backoffBaseMs * 2 ** (attempt - 1));
    return ceiling / 2 + (ceiling / 2) * this.#random();
  }

  async #attempt(call: Call<z.ZodType>, what: string): Promise<Outcome> {
    call.signal.throwIfAborted();
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(`${this.#baseUrl}${call.path}`, {
        method: call.method,
        headers: { authorization: `Bearer ${this.#token}`, accept: "application/json", ...(call.body !== undefined && { "content-type": "application/json" }) },
        ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
        signal: AbortSignal.any([call.signal, timeout]),
      });
      text = await readBounded(res, MAX_RESPONSE_BYTES);
    } catch (e) {
      if (call.signal.aborted) throw call.signal.reason;
      if (e instanceof ResponseTooLarge) {
        return { ok: false, error: new ProviderError("tensordock", "fatal", `TensorDock ${what} answered ${e.message}; refused without reading the rest`, { cause: e, status: e.status, code: "kiln/response-too-large" }) };
      }
      const timedOut = timeout.aborted;
      const message = timedOut ? `no answer within ${this.#timeoutMs} ms` : `network error: ${networkCause(e)}`;
      this.#log.debug(`tensordock ${what}: ${message}`);
      return { ok: false, error: new ProviderError("tensordock", "transient", `TensorDock ${what} failed (${message})`, { cause: e, code: timedOut ? "kiln/timeout" : "kiln/network" }), notSent: !timedOut && networkCause(e) === "ECONNREFUSED" };
    }
    this.#log.debug(`tensordock ${what} → ${res.status}`);
    const body = parseJson(text);
    if (res.ok) {
      if (body === undefined && text.trim() !== "") {
        return { ok: false, error: new ProviderError("tensordock", "fatal", `TensorDock ${what} answered ${res.status} with ${describeBody(text, res)} instead of JSON`, { status: res.status, code: "kiln/unexpected-response", suggestion: "a proxy or an outage page may be in the way; try again later" }) };
      }
      return { ok: true, status: res.status, body };
    }
    const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"), this.#clock.now());
    const message = errorText(body);
    return { ok: false, error: tensordockApiError(res.status, message, what, retryAfterMs, message === undefined ? describeBody(text, res) : undefined) };
  }
}

/** What a body that is not TensorDock's JSON looks like, for the message (never the body itself: it may be huge). */
function describeBody(text: string, res: Response): string {
  const type = res.headers.get("content-type") ?? "";
  if (/html/i.test(type) || /^\s*<(!doctype|html)/i.test(text)) return "an HTML page (a proxy or an outage page, not TensorDock's API)";
  if (text.trim() === "") return "an empty body";
  return `a body that is not TensorDock's JSON (${type || "no content type"})`;
}

function parseJson(text: string): unknown {
  try {
    return text.length > 0 ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

function networkCause(e: unknown): string {
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") return cause.code;
  return e instanceof Error ? e.message : String(e);
}
