/**
 * The Thunder Compute API client (server `https://api.thundercompute.com:8443/v1`): one method per endpoint
 * Kiln uses, every answer parsed with schema.ts, every error classified (errors.ts).
 *
 * Retry policy, by error class: 429 and transient failures (5xx, timeouts, resets) are retried with
 * exponential backoff and jitter, honouring Retry-After up to a cap; other 4xx never are; the caller's abort
 * is rethrown at once. **Create is never retried blindly**: once it may have reached Thunder (timeout, reset,
 * 5xx, a 2xx Kiln cannot read) it fails with {@link LaunchOutcomeUnknownError}; only a 429 or a refused
 * connection — both certain that nothing was created — retries it.
 *
 * `GET /pricing` and `GET /specs` carry no `security` in the spec and are called without the token. The
 * token is kept in a private field and never appears in a log line or message; create's `key` answer (maybe
 * a generated private key) is dropped unread.
 */
import { createHash } from "node:crypto";
import type { z } from "zod";
import { MAX_API_RESPONSE_BYTES, ResponseTooLarge, readBounded } from "../../base/bounded-body.js";
import { sleep } from "../../base/deadline.js";
import { LaunchOutcomeUnknownError, ProviderError } from "../provider.js";
import { parseRetryAfter, thunderApiError } from "./errors.js";
import { createResponseSchema, deleteResponseSchema, errorEnvelopeSchema, listItems, parseThunder, pricingResponseSchema, specsResponseSchema, type ThunderCreateBody } from "./schema.js";

export const THUNDER_API_URL = "https://api.thundercompute.com:8443/v1";
/** The largest answer Kiln reads; a listing of a few hundred instances is far below it. */
const MAX_RESPONSE_BYTES = MAX_API_RESPONSE_BYTES;

export interface ClientLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}
const silent: ClientLog = { debug() {}, warn() {} };

export interface ThunderClientOptions {
  token: string;
  baseUrl?: string;
  fetch?: typeof fetch;
  log?: ClientLog;
  random?: () => number;
  requestTimeoutMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A Retry-After longer than this is not waited out: the rate-limited error is thrown instead. */
  retryAfterCapMs?: number;
  /** Thunder publishes no rate limit; Kiln spaces its own calls by this much anyway. */
  minIntervalMs?: number;
}

interface Call<T extends z.ZodType> {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  schema: T;
  signal: AbortSignal;
  anonymous?: boolean;
  /** Set for create: the machine name to report an unknown outcome under. */
  launchName?: string;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; error: ProviderError; notSent?: boolean };

export class ThunderClient {
  readonly #token: string;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #log: ClientLog;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #retryAfterCapMs: number;
  readonly #minIntervalMs: number;
  #nextSlot = 0;

  constructor(o: ThunderClientOptions) {
    this.#token = o.token;
    this.#baseUrl = (o.baseUrl ?? THUNDER_API_URL).replace(/\/+$/, "");
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.#log = o.log ?? silent;
    this.#random = o.random ?? Math.random;
    this.#timeoutMs = o.requestTimeoutMs ?? 30_000;
    this.#maxAttempts = o.maxAttempts ?? 5;
    this.#backoffBaseMs = o.backoffBaseMs ?? 1_000;
    this.#backoffMaxMs = o.backoffMaxMs ?? 30_000;
    this.#retryAfterCapMs = o.retryAfterCapMs ?? 60_000;
    this.#minIntervalMs = o.minIntervalMs ?? 250;
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }
  get log(): ClientLog {
    return this.#log;
  }
  /** A non-secret id of the token (a hash prefix), to tell accounts apart. */
  get accountId(): string {
    return createHash("sha256").update(this.#token).digest("hex").slice(0, 16);
  }

  /** Every instance of the account (the map, with each key as `id`). */
  async listInstances(signal: AbortSignal) {
    const body = await this.#request({ method: "GET", path: "/instances/list", schema: anyJson, signal });
    return listItems(body);
  }

  /** Create; returns the new instance's uuid. Throws LaunchOutcomeUnknownError when it may or may not exist. */
  async createInstance(body: ThunderCreateBody, machineName: string, signal: AbortSignal): Promise<{ uuid: string; identifier: number }> {
    const r = await this.#request({ method: "POST", path: "/instances/create", body, schema: createResponseSchema, signal, launchName: machineName });
    return { uuid: r.uuid, identifier: r.identifier };
  }

  /** `POST /instances/{id}/delete` with the listing's map key (thunder-cli passes that key). 404 → ProviderError status 404. */
  async deleteInstance(id: string, signal: AbortSignal): Promise<void> {
    await this.#request({ method: "POST", path: `/instances/${encodeURIComponent(id)}/delete`, body: {}, schema: deleteResponseSchema, signal });
  }

  async pricing(signal: AbortSignal) {
    return (await this.#request({ method: "GET", path: "/pricing", schema: pricingResponseSchema, signal, anonymous: true })).pricing;
  }

  async specs(signal: AbortSignal) {
    return (await this.#request({ method: "GET", path: "/specs", schema: specsResponseSchema, signal, anonymous: true })).specs;
  }

  async #request<T extends z.ZodType>(call: Call<T>): Promise<z.infer<T>> {
    const what = `${call.method} ${call.path}`;
    for (let attempt = 1; ; attempt++) {
      await this.#pace(call.signal);
      const outcome = await this.#attempt(call, what);
      if (outcome.ok) return outcome.value;
      const err = outcome.error;
      const retryable = err.kind === "rate-limited" || err.kind === "transient";
      if (call.launchName !== undefined && err.kind !== "rate-limited" && !outcome.notSent && (retryable || err.code === "kiln/unexpected-response")) {
        throw new LaunchOutcomeUnknownError("thunder", call.launchName, err.message, { cause: err, ...(err.status !== undefined && { status: err.status }) });
      }
      if (!retryable || attempt >= this.#maxAttempts) throw err;
      if (err.retryAfterMs !== undefined && err.retryAfterMs > this.#retryAfterCapMs) throw err;
      const delay = err.retryAfterMs ?? this.#backoff(attempt);
      this.#log.debug(`thunder ${what}: ${err.message}; retry ${attempt + 1}/${this.#maxAttempts} in ${Math.round(delay)} ms`);
      await wait(delay, call.signal);
    }
  }

  /** Client-side spacing: callers reserve the next free slot before sleeping, so bursts queue instead of earning 429s. */
  async #pace(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#minIntervalMs <= 0) return;
    const now = Date.now();
    const at = Math.max(now, this.#nextSlot);
    this.#nextSlot = at + this.#minIntervalMs;
    if (at > now) await wait(at - now, signal);
  }

  /** Exponential backoff with equal jitter: half fixed, half random. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#backoffMaxMs, this.#backoffBaseMs * 2 ** (attempt - 1));
    return ceiling / 2 + (ceiling / 2) * this.#random();
  }

  async #attempt<T extends z.ZodType>(call: Call<T>, what: string): Promise<Attempt<z.infer<T>>> {
    call.signal.throwIfAborted();
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(`${this.#baseUrl}${call.path}`, {
        method: call.method,
        headers: {
          accept: "application/json",
          ...(!call.anonymous && { authorization: `Bearer ${this.#token}` }),
          ...(call.body !== undefined && { "content-type": "application/json" }),
        },
        ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
        signal: AbortSignal.any([call.signal, timeout]),
      });
      text = await readBounded(res, MAX_RESPONSE_BYTES);
    } catch (e) {
      if (call.signal.aborted) throw call.signal.reason;
      if (e instanceof ResponseTooLarge) {
        return { ok: false, error: new ProviderError("thunder", "fatal", `Thunder ${what} answered more than ${MAX_RESPONSE_BYTES} bytes; refused unread`, { cause: e, code: "kiln/unexpected-response" }) };
      }
      const timedOut = timeout.aborted;
      const why = timedOut ? `no answer within ${this.#timeoutMs} ms` : `network error: ${networkCause(e)}`;
      this.#log.debug(`thunder ${what}: ${why}`);
      return {
        ok: false,
        error: new ProviderError("thunder", "transient", `Thunder ${what} failed (${why})`, { cause: e, code: timedOut ? "kiln/timeout" : "kiln/network" }),
        notSent: !timedOut && networkCause(e) === "ECONNREFUSED",
      };
    }
    this.#log.debug(`thunder ${what} → ${res.status}`);
    const json = parseJson(text);
    if (res.ok) {
      if (json === undefined) {
        const html = /^\s*</.test(text);
        return { ok: false, error: new ProviderError("thunder", "fatal", `Thunder ${what} answered ${res.status} with ${html ? "an HTML page" : "a body that is not JSON"}, not Thunder's JSON`, { status: res.status, code: "kiln/unexpected-response" }) };
      }
      try {
        return { ok: true, value: parseThunder(call.schema, json, what) };
      } catch (e) {
        if (e instanceof ProviderError) return { ok: false, error: e };
        throw e;
      }
    }
    const envelope = errorEnvelopeSchema.safeParse(json);
    const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"), Date.now());
    return {
      ok: false,
      error: thunderApiError(res.status, envelope.success ? envelope.data : undefined, what, {
        ...(retryAfterMs !== undefined && { retryAfterMs }),
        onCreate: call.launchName !== undefined,
        html: json === undefined && /^\s*</.test(text),
      }),
    };
  }
}

/** The listing is parsed by listItems (map → items); the request layer only needs JSON. */
const anyJson = { safeParse: (v: unknown) => ({ success: true as const, data: v }) } as unknown as z.ZodType<unknown>;

function parseJson(text: string): unknown {
  try {
    return text.length === 0 ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/** undici says "fetch failed" and hides the reason in `cause.code` (ECONNREFUSED, ECONNRESET, …). */
function networkCause(e: unknown): string {
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") return cause.code;
  return e instanceof Error ? e.message : String(e);
}

/** A wait cut short by the caller's abort rethrows the caller's reason (as every other path here does). */
const wait = (ms: number, signal: AbortSignal) =>
  sleep(ms, signal).catch((e: unknown) => {
    throw signal.aborted ? signal.reason : e;
  });
