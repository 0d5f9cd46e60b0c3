/**
 * The RunPod API client: REST v2 (`https://api.runpod.io/v2/...`) for pods and the GPU catalog, GraphQL
 * (`/graphql` on the same host) for spot pods and spot prices. Every answer is decoded with schema.ts, every
 * error classified by errors.ts.
 *
 * Retry policy, by error class: 429 (honouring `Retry-After`, capped) and 5xx/timeouts/resets are retried with
 * exponential backoff and jitter; other 4xx never are; the caller's abort is rethrown at once. **A create is
 * never retried blindly**: once it may have reached RunPod (a timeout, a reset, a 5xx, a 2xx without an id) it
 * fails with {@link LaunchOutcomeUnknownError} and the lifecycle finds the pod by its name. Only a 429 or a
 * refused connection — both certain that nothing was created — retry a create.
 *
 * The API key comes in through the constructor and never appears in a log line or an error message.
 *
 * @example
 *   const client = new RunpodClient({ apiKey: creds.apiKey.reveal() });
 *   const { gpus } = await client.listGpuTypes({ cloud: "SECURE", count: 1 }, signal);
 */
import type { z } from "zod";
import { MAX_API_RESPONSE_BYTES, ResponseTooLarge, readBounded } from "../../base/bounded-body.js";
import { ProviderError } from "../provider.js";
import { runpodApiError, runpodGraphqlError, runpodLaunchUnknown } from "./errors.js";
import { RENT_INTERRUPTIBLE_MUTATION, type RentInterruptableInput, SPOT_PRICES_QUERY } from "./graphql-ops.js";
import { type Clock, exhaustedForMs, Pacer, parseRetryAfter, realClock } from "./pacing.js";
import { graphqlEnvelopeSchema, listGpuTypesSchema, listPodsSchema, parseRunpod, podSchema, problemSchema, rentedPodSchema, spotPricesSchema } from "./schema.js";

export const RUNPOD_API_URL = "https://api.runpod.io";
/** The most of a body Kiln reads; a pod list of a busy account is far below this. */
export const MAX_RESPONSE_BYTES = MAX_API_RESPONSE_BYTES;

export interface ClientLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}
const silent: ClientLog = { debug() {}, warn() {} };

export interface RunpodClientOptions {
  apiKey: string;
  /** The API origin (`https://api.runpod.io`); REST paths are `/v2/...`, GraphQL is `/graphql`. */
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
  /**
   * Spacing between calls (default 1.2 s). RunPod's documented example policy is 60 a minute and 3,000 an hour
   * per user (api-reference-v2 `RateLimit-Policy`; the real quotas are not published): 1 s would meet the
   * minute window but, sustained, break the hour's, so 1.2 s keeps both.
   */
  minIntervalMs?: number;
}

/** Body of `POST /v2/pods` (CreatePodRequest), the fields Kiln sets. */
export interface CreatePodBody {
  name: string;
  image: string;
  gpu: { id: string; count: number };
  cloud: "SECURE" | "COMMUNITY";
  dataCenterIds?: string[];
  disk: number;
  ports: string[];
  env: Record<string, string>;
}

interface Call<T extends z.ZodType> {
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  schema: T;
  signal: AbortSignal;
  /** Set for creates: the pod's name, to report an unknown outcome. */
  launchName?: string;
  /** The answer has no body (204). */
  empty?: boolean;
}

type Outcome = { ok: true; status: number; body: unknown } | { ok: false; error: ProviderError; notSent?: boolean };

export class RunpodClient {
  readonly #apiKey: string;
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

  constructor(o: RunpodClientOptions) {
    this.#apiKey = o.apiKey;
    this.#baseUrl = (o.baseUrl ?? RUNPOD_API_URL).replace(/\/+$/, "");
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.#clock = o.clock ?? realClock;
    this.#random = o.random ?? Math.random;
    this.#log = o.log ?? silent;
    this.#timeoutMs = o.requestTimeoutMs ?? 30_000;
    this.#maxAttempts = o.maxAttempts ?? 5;
    this.#backoffBaseMs = o.backoffBaseMs ?? 1_000;
    this.#backoffMaxMs = o.backoffMaxMs ?? 30_000;
    this.#retryAfterCapMs = o.retryAfterCapMs ?? 60_000;
    this.#pace = new Pacer(o.minIntervalMs ?? 1_200, this.#clock);
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }
  get log(): ClientLog {
    return this.#log;
  }

  /** `GET /v2/catalog/gpus?include=AVAILABILITY&product=POD&count=N&cloud=C`: prices per GPU and stock per data centre. */
  async listGpuTypes(q: { cloud: "SECURE" | "COMMUNITY"; count: number }, signal: AbortSignal) {
    const query = new URLSearchParams({ include: "AVAILABILITY", product: "POD", count: String(q.count), cloud: q.cloud });
    return (await this.#rest({ method: "GET", path: `/v2/catalog/gpus?${query}`, schema: listGpuTypesSchema, signal })).gpus;
  }
  async listPods(signal: AbortSignal) {
    return (await this.#rest({ method: "GET", path: "/v2/pods", schema: listPodsSchema, signal })).pods;
  }
  getPod(id: string, signal: AbortSignal) {
    return this.#rest({ method: "GET", path: `/v2/pods/${encodeURIComponent(id)}`, schema: podSchema, signal });
  }
  createPod(body: CreatePodBody, signal: AbortSignal) {
    return this.#rest({ method: "POST", path: "/v2/pods", body, schema: podSchema, signal, launchName: body.name });
  }
  /** `DELETE /v2/pods/{id}`: removes the pod and its disk (204). A stop would keep billing the disk. */
  async deletePod(id: string, signal: AbortSignal): Promise<void> {
    await this.#rest({ method: "DELETE", path: `/v2/pods/${encodeURIComponent(id)}`, schema: podSchema, signal, empty: true });
  }
  /** `POST /v2/pods/{id}/action` with start/stop/restart (200 and the pod). Kiln itself never stops a pod. */
  podAction(id: string, action: "start" | "stop" | "restart", signal: AbortSignal) {
    return this.#rest({ method: "POST", path: `/v2/pods/${encodeURIComponent(id)}/action`, body: { action }, schema: podSchema, signal });
  }

  /** Spot prices per GPU per hour (GraphQL `gpuTypes`); REST v2's catalog has none. */
  async spotPrices(signal: AbortSignal) {
    const data = await this.#graphql(SPOT_PRICES_QUERY, undefined, "gpuTypes", signal);
    return parseRunpod(spotPricesSchema, data["gpuTypes"], "GraphQL gpuTypes");
  }

  /** Rent a spot pod (GraphQL `podRentInterruptable`); returns its id. */
  async rentInterruptable(input: RentInterruptableInput, signal: AbortSignal): Promise<string> {
    const data = await this.#graphql(RENT_INTERRUPTIBLE_MUTATION, { input }, "podRentInterruptable", signal, input.name);
    const pod = parseRunpod(rentedPodSchema, data["podRentInterruptable"], "GraphQL podRentInterruptable");
    // HTTP 200, no error, and no pod: the rent may still have happened. Resolve it by name.
    if (pod === null) throw runpodLaunchUnknown(input.name, new Error("RunPod answered podRentInterruptable with neither a pod nor an error"), 200);
    return pod.id;
  }

  async #rest<T extends z.ZodType>(call: Call<T>): Promise<z.infer<T>> {
    const { status, body } = await this.#send(call, `${call.method} ${call.path.split("?")[0]}`);
    if (call.empty) return undefined as z.infer<T>;
    return parseRunpod(call.schema, body, `${call.method} ${call.path.split("?")[0]}`, status);
  }

  async #graphql(query: string, variables: Record<string, unknown> | undefined, field: string, signal: AbortSignal, launchName?: string): Promise<Record<string, unknown>> {
    const what = `GraphQL ${field}`;
    const { body } = await this.#send({ method: "POST", path: "/graphql", body: { query, ...(variables && { variables }) }, schema: graphqlEnvelopeSchema, signal, ...(launchName !== undefined && { launchName }) }, what);
    const env = parseRunpod(graphqlEnvelopeSchema, body, what);
    if (env.errors && env.errors.length > 0) throw runpodGraphqlError(env.errors, what);
    if (!env.data) throw new ProviderError("runpod", "fatal", `RunPod ${what} answered neither data nor errors`, { status: 200, code: "kiln/unexpected-response" });
    return env.data;
  }

  async #send(call: Call<z.ZodType>, what: string): Promise<{ status: number; body: unknown }> {
    for (let attempt = 1; ; attempt++) {
      await this.#pace.wait(call.signal);
      const out = await this.#attempt(call, what);
      if (out.ok) return out;
      const err = out.error;
      const retryable = err.kind === "rate-limited" || err.kind === "transient";
      if (call.launchName !== undefined && err.code === "kiln/response-too-large" && err.status !== undefined && err.status < 300) throw runpodLaunchUnknown(call.launchName, err, err.status);
      if (call.launchName !== undefined && retryable && !out.notSent && err.kind !== "rate-limited") throw runpodLaunchUnknown(call.launchName, err, err.status);
      if (!retryable || attempt >= this.#maxAttempts) throw err;
      if (err.retryAfterMs !== undefined && err.retryAfterMs > this.#retryAfterCapMs) throw err;
      const delay = err.retryAfterMs ?? this.#backoff(attempt);
      this.#log.debug(`runpod ${what}: ${err.message}; retry ${attempt + 1}/${this.#maxAttempts} in ${Math.round(delay)} ms`);
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
        headers: { authorization: `Bearer ${this.#apiKey}`, accept: "application/json", ...(call.body !== undefined && { "content-type": "application/json" }) },
        ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
        signal: AbortSignal.any([call.signal, timeout]),
      });
      text = await readBounded(res, MAX_RESPONSE_BYTES);
    } catch (e) {
      if (call.signal.aborted) throw call.signal.reason;
      if (e instanceof ResponseTooLarge) {
        return { ok: false, error: new ProviderError("runpod", "fatal", `RunPod ${what} answered ${e.message}; refused without reading the rest`, { cause: e, status: e.status, code: "kiln/response-too-large" }) };
      }
      const timedOut = timeout.aborted;
      const message = timedOut ? `no answer within ${this.#timeoutMs} ms` : `network error: ${networkCause(e)}`;
      this.#log.debug(`runpod ${what}: ${message}`);
      return { ok: false, error: new ProviderError("runpod", "transient", `RunPod ${what} failed (${message})`, { cause: e, code: timedOut ? "kiln/timeout" : "kiln/network" }), notSent: !timedOut && networkCause(e) === "ECONNREFUSED" };
    }
    this.#log.debug(`runpod ${what} → ${res.status}`);
    const exhausted = exhaustedForMs(res.headers.get("ratelimit"));
    if (exhausted !== undefined) this.#pace.holdUntil(this.#clock.now() + Math.min(exhausted, this.#retryAfterCapMs));
    const body = parseJson(text);
    if (res.ok) {
      if (call.empty) return { ok: true, status: res.status, body: undefined };
      if (body === undefined) {
        return { ok: false, error: new ProviderError("runpod", "fatal", `RunPod ${what} answered ${res.status} with ${describeBody(text, res)} instead of JSON`, { status: res.status, code: "kiln/unexpected-response" }) };
      }
      return { ok: true, status: res.status, body };
    }
    const problem = problemSchema.safeParse(body);
    const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"), this.#clock.now());
    return { ok: false, error: runpodApiError(res.status, problem.success ? problem.data : undefined, what, retryAfterMs, problem.success ? undefined : describeBody(text, res)) };
  }
}

/** What a body that is not RunPod's JSON looks like, for the message (never the body itself: it may be huge). */
function describeBody(text: string, res: Response): string {
  const type = res.headers.get("content-type") ?? "";
  if (/html/i.test(type) || /^\s*<(!doctype|html)/i.test(text)) return "an HTML page (a proxy or an outage page, not RunPod's API)";
  if (text.trim() === "") return "an empty body";
  return `a body that is not RunPod's JSON (${type || "no content type"})`;
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
