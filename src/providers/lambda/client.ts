/**
 * The Lambda Cloud API client: one method per endpoint Kiln uses (providers.md §1.2), every response
 * decoded with the schemas in schema.ts, every error classified (errors.ts).
 *
 * Retry policy, decided by error class: 429 and 5xx/`provider/*`/timeouts/resets are retried with
 * exponential backoff and jitter, honouring `Retry-After` up to a cap; other 4xx never are; an abort
 * through the caller's signal is rethrown at once. **Launch is never retried blindly**: once a launch
 * request may have reached Lambda (timeout, reset, 5xx), it fails with {@link LaunchOutcomeUnknownError}
 * and the lifecycle reconciles by the instance's name. Only a 429 or a refused connection — both
 * certain that nothing was created — retries a launch.
 *
 * The API key comes in through the constructor, is kept in a private field and never appears in a
 * log line or error message.
 *
 * @example
 *   const client = new LambdaClient({ apiKey: creds.apiKey.reveal() });
 *   const types = await client.listInstanceTypes(signal);
 */
import type { z } from "zod";
import { MAX_API_RESPONSE_BYTES, ResponseTooLarge, readBounded } from "../../base/bounded-body.js";
import { ProviderError } from "../provider.js";
import { lambdaApiError, lambdaLaunchUnknown } from "./errors.js";
import { type Clock, Pacer, parseRetryAfter, realClock } from "./pacing.js";
import {
  emptySchema,
  errorEnvelopeSchema,
  fileSystemDeleteSchema,
  fileSystemSchema,
  firewallRuleSchema,
  generatedSshKeySchema,
  imageSchema,
  instanceSchema,
  instanceTypesSchema,
  type LambdaFirewallRule,
  launchResponseSchema,
  parseLambdaData,
  restartResponseSchema,
  sshKeySchema,
  terminateResponseSchema,
} from "./schema.js";

export const LAMBDA_API_URL = "https://cloud.lambda.ai/api/v1";

/**
 * The largest response body Kiln reads from Lambda. The biggest real answer (GET /instances of a busy
 * account, a few hundred instances at ~2 KB each) is well under 1 MiB; a body past this is a broken proxy
 * or API, and buffering it whole once killed `status --refresh` and `gc` (a 24 MB answer, out of memory).
 * It is enforced while streaming, so at most this much (plus one chunk) is ever held.
 */
export const MAX_RESPONSE_BYTES = MAX_API_RESPONSE_BYTES;

/** The subset of Kiln's Logger the client uses (providers may not import core; core's Logger fits). */
export interface ClientLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}
const silent: ClientLog = { debug() {}, warn() {} };

export interface LambdaClientOptions {
  apiKey: string;
  baseUrl?: string;
  fetch?: typeof fetch;
  clock?: Clock;
  /** Source of jitter in [0, 1). */
  random?: () => number;
  log?: ClientLog;
  requestTimeoutMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A Retry-After longer than this is not waited out: the rate-limited error is thrown instead. */
  retryAfterCapMs?: number;
  /** Lambda: "generally one request per second". */
  minIntervalMs?: number;
  /** Lambda: launch "one request per 12 seconds, or five per minute". */
  launchIntervalMs?: number;
  /** Refuse response bodies larger than this (default {@link MAX_RESPONSE_BYTES}). */
  maxResponseBytes?: number;
}

/** Body of POST /instance-operations/launch (spec InstanceLaunchRequest; legacy `quantity` omitted). */
export interface LaunchBody {
  region_name: string;
  instance_type_name: string;
  /** Lambda: "exactly one SSH key must be specified". */
  ssh_key_names: [string];
  name?: string;
  file_system_names?: string[];
  hostname?: string;
  image?: { id: string } | { family: string };
  user_data?: string;
  tags?: { key: string; value: string }[];
}

interface RequestSpec<T extends z.ZodType> {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  schema: T;
  signal: AbortSignal;
  /** Set for launch: the machine name, used to report an unknown outcome. */
  launchName?: string;
}

export class LambdaClient {
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
  readonly #launchPace: Pacer;
  readonly #maxResponseBytes: number;

  constructor(o: LambdaClientOptions) {
    this.#apiKey = o.apiKey;
    this.#baseUrl = (o.baseUrl ?? LAMBDA_API_URL).replace(/\/+$/, "");
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.#clock = o.clock ?? realClock;
    this.#random = o.random ?? Math.random;
    this.#log = o.log ?? silent;
    this.#timeoutMs = o.requestTimeoutMs ?? 30_000;
    this.#maxAttempts = o.maxAttempts ?? 5;
    this.#backoffBaseMs = o.backoffBaseMs ?? 1_000;
    this.#backoffMaxMs = o.backoffMaxMs ?? 30_000;
    this.#retryAfterCapMs = o.retryAfterCapMs ?? 60_000;
    this.#pace = new Pacer(o.minIntervalMs ?? 1_000, this.#clock);
    this.#launchPace = new Pacer(o.launchIntervalMs ?? 12_000, this.#clock);
    this.#maxResponseBytes = o.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }

  /** The client's log, for the provider's own warnings about what the API answered. */
  get log(): ClientLog {
    return this.#log;
  }

  listInstanceTypes(signal: AbortSignal) {
    return this.#request({ method: "GET", path: "/instance-types", schema: instanceTypesSchema, signal });
  }
  listInstances(signal: AbortSignal) {
    return this.#request({ method: "GET", path: "/instances", schema: instanceSchema.array(), signal });
  }
  getInstance(id: string, signal: AbortSignal) {
    return this.#request({ method: "GET", path: `/instances/${encodeURIComponent(id)}`, schema: instanceSchema, signal });
  }
  renameInstance(id: string, name: string, signal: AbortSignal) {
    return this.#request({ method: "POST", path: `/instances/${encodeURIComponent(id)}`, body: { name }, schema: instanceSchema, signal });
  }
  async launchInstance(body: LaunchBody, signal: AbortSignal): Promise<string[]> {
    const name = body.name ?? `${body.instance_type_name}@${body.region_name}`;
    const data = await this.#request({ method: "POST", path: "/instance-operations/launch", body, schema: launchResponseSchema, signal, launchName: name });
    return data.instance_ids;
  }
  async terminateInstances(ids: string[], signal: AbortSignal) {
    const data = await this.#request({ method: "POST", path: "/instance-operations/terminate", body: { instance_ids: ids }, schema: terminateResponseSchema, signal });
    return data.terminated_instances;
  }
  async restartInstances(ids: string[], signal: AbortSignal) {
    const data = await this.#request({ method: "POST", path: "/instance-operations/restart", body: { instance_ids: ids }, schema: restartResponseSchema, signal });
    return data.restarted_instances;
  }

  listSshKeys(signal: AbortSignal) {
    return this.#request({ method: "GET", path: "/ssh-keys", schema: sshKeySchema.array(), signal });
  }
  /** Without `publicKey` Lambda generates a pair and returns `private_key` once. */
  addSshKey(name: string, publicKey: string | undefined, signal: AbortSignal) {
    const body = publicKey === undefined ? { name } : { name, public_key: publicKey };
    return this.#request({ method: "POST", path: "/ssh-keys", body, schema: generatedSshKeySchema, signal });
  }
  async deleteSshKey(id: string, signal: AbortSignal): Promise<void> {
    await this.#request({ method: "DELETE", path: `/ssh-keys/${encodeURIComponent(id)}`, schema: emptySchema, signal });
  }
  /**
   * Register Kiln's public key under `name` unless it is already there (dstack's habit: list first,
   * add only when missing). The same name with a different key is refused, never overwritten.
   */
  async ensureSshKey(name: string, publicKey: string, signal: AbortSignal) {
    const existing = (await this.listSshKeys(signal)).find((k) => k.name === name);
    if (!existing) {
      try {
        return await this.addSshKey(name, publicKey, signal);
      } catch (e) {
        // A retried add whose first answer was lost finds its own key already there: look again.
        const again = (await this.listSshKeys(signal)).find((k) => k.name === name);
        if (again && sameKey(again.public_key, publicKey)) return again;
        throw e;
      }
    }
    if (sameKey(existing.public_key, publicKey)) return existing;
    throw new ProviderError("lambda", "invalid", `an SSH key named "${name}" is already registered with Lambda with a different public key`, {
      suggestion: "delete it in the Lambda dashboard (SSH keys) or choose another key name",
    });
  }

  // Quirk: listing file systems is /file-systems, creating and deleting are /filesystems.
  listFileSystems(signal: AbortSignal) {
    return this.#request({ method: "GET", path: "/file-systems", schema: fileSystemSchema.array(), signal });
  }
  createFileSystem(name: string, region: string, signal: AbortSignal) {
    return this.#request({ method: "POST", path: "/filesystems", body: { name, region }, schema: fileSystemSchema, signal });
  }
  async deleteFileSystem(id: string, signal: AbortSignal): Promise<string[]> {
    const data = await this.#request({ method: "DELETE", path: `/filesystems/${encodeURIComponent(id)}`, schema: fileSystemDeleteSchema, signal });
    return data.deleted_ids;
  }

  listImages(signal: AbortSignal) {
    return this.#request({ method: "GET", path: "/images", schema: imageSchema.array(), signal });
  }
  listFirewallRules(signal: AbortSignal) {
    return this.#request({ method: "GET", path: "/firewall-rules", schema: firewallRuleSchema.array(), signal });
  }
  /** Replaces *all* inbound rules (PUT semantics), so callers pass the full list. */
  setFirewallRules(rules: LambdaFirewallRule[], signal: AbortSignal) {
    return this.#request({ method: "PUT", path: "/firewall-rules", body: { data: rules }, schema: firewallRuleSchema.array(), signal });
  }

  async #request<T extends z.ZodType>(req: RequestSpec<T>): Promise<z.infer<T>> {
    const what = `${req.method} ${req.path}`;
    for (let attempt = 1; ; attempt++) {
      if (req.launchName !== undefined) await this.#launchPace.wait(req.signal);
      await this.#pace.wait(req.signal);
      const outcome = await this.#attempt(req, what);
      if (outcome.ok) return outcome.value;
      const err = outcome.error;
      // A launch answered 2xx with a body too large to read may have launched: resolve it by name.
      if (req.launchName !== undefined && err.code === "kiln/response-too-large" && err.status !== undefined && err.status < 300) {
        throw lambdaLaunchUnknown(req.launchName, err, err.status);
      }
      const retryable = err.kind === "rate-limited" || err.kind === "transient";
      if (req.launchName !== undefined && retryable && !outcome.notSent && err.kind !== "rate-limited") {
        throw lambdaLaunchUnknown(req.launchName, err, err.status);
      }
      if (!retryable || attempt >= this.#maxAttempts) throw err;
      if (err.retryAfterMs !== undefined && err.retryAfterMs > this.#retryAfterCapMs) throw err;
      const delay = err.retryAfterMs ?? this.#backoff(attempt);
      this.#log.debug(`lambda ${what}: ${err.message}; retry ${attempt + 1}/${this.#maxAttempts} in ${Math.round(delay)} ms`);
      await this.#clock.sleep(delay, req.signal);
    }
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, so waits never collapse to 0. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#backoffMaxMs, this.#backoffBaseMs * 2 ** (attempt - 1));
    return ceiling / 2 + (ceiling / 2) * this.#random();
  }

  async #attempt<T extends z.ZodType>(
    req: RequestSpec<T>,
    what: string,
  ): Promise<{ ok: true; value: z.infer<T> } | { ok: false; error: ProviderError; notSent?: boolean }> {
    req.signal.throwIfAborted();
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const started = this.#clock.now();
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(`${this.#baseUrl}${req.path}`, {
        method: req.method,
        headers: {
          authorization: `Bearer ${this.#apiKey}`,
          accept: "application/json",
          ...(req.body !== undefined && { "content-type": "application/json" }),
        },
        ...(req.body !== undefined && { body: JSON.stringify(req.body) }),
        signal: AbortSignal.any([req.signal, timeout]),
      });
      text = await readBounded(res, this.#maxResponseBytes);
    } catch (e) {
      if (req.signal.aborted) throw req.signal.reason;
      if (e instanceof ResponseTooLarge) {
        this.#log.warn(`lambda ${what}: ${e.message}`);
        return {
          ok: false,
          error: new ProviderError("lambda", "fatal", `Lambda ${what} answered ${e.message}; refused without reading the rest`, {
            cause: e,
            status: e.status,
            code: "kiln/response-too-large",
            suggestion: "Lambda's API (or a proxy in between) is answering nonsense; try again later, and check https://status.lambda.ai",
          }),
        };
      }
      const timedOut = timeout.aborted;
      const message = timedOut ? `no answer within ${this.#timeoutMs} ms` : `network error: ${networkCause(e)}`;
      this.#log.debug(`lambda ${what}: ${message}`);
      return {
        ok: false,
        error: new ProviderError("lambda", "transient", `Lambda ${what} failed (${message})`, { cause: e, code: timedOut ? "kiln/timeout" : "kiln/network" }),
        notSent: !timedOut && isRefused(e),
      };
    }
    this.#log.debug(`lambda ${what} → ${res.status}`, { ms: this.#clock.now() - started });
    const body = parseJson(text);
    if (res.ok) {
      if (body === undefined) {
        return { ok: false, error: new ProviderError("lambda", "fatal", `Lambda ${what} answered ${res.status} with a body that is not JSON`, { status: res.status, code: "kiln/unexpected-response" }) };
      }
      return { ok: true, value: parseLambdaData(req.schema, body, what) };
    }
    const envelope = errorEnvelopeSchema.safeParse(body);
    const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"), this.#clock.now());
    return { ok: false, error: lambdaApiError(res.status, envelope.success ? envelope.data.error : undefined, what, retryAfterMs) };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** undici reports "fetch failed" and hides the reason in `cause.code` (ECONNREFUSED, ECONNRESET, …). */
function networkCause(e: unknown): string {
  const cause = e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") return cause.code;
  return e instanceof Error ? e.message : String(e);
}

/** A refused connection means the request was never sent: the one network error safe to retry a launch on. */
function isRefused(e: unknown): boolean {
  return networkCause(e) === "ECONNREFUSED";
}

/** Compare OpenSSH public keys by type and key material, ignoring the comment. */
function sameKey(a: string, b: string): boolean {
  const norm = (k: string) => k.trim().split(/\s+/).slice(0, 2).join(" ");
  return norm(a) === norm(b);
}
