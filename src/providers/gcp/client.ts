/**
 * The GCE client: @google-cloud/compute's InstancesClient and ZoneOperationsClient over their REST
 * transport (google-gax's fallback), imported on first use (the SDK takes ~1 s to load; `kiln` start-up
 * must not pay it). Every call has a per-request deadline and the caller's AbortSignal (see ./auth.ts),
 * is paced, and is retried by error class: 5xx, no answer and 429/rateLimitExceeded, with backoff, jitter and
 * Retry-After (capped). Retrying is safe for every call Kiln makes: reads are reads, and insert/delete carry
 * a `requestId`, which GCE uses to answer a repeat with the first request's operation.
 *
 * The SDK's own retries are off (`maxRetries: 0`): one policy, here, decided by error class.
 */
import { refusedBody, responseTooLargeIn } from "../../base/bounded-body.js";
import { AbortedError } from "../../base/errors.js";
import { sleep } from "../../base/deadline.js";
import { ProviderError } from "../provider.js";
import { type GcpAuth, withSignal } from "./auth.js";
import { gcpHttpError } from "./errors.js";
import { GoogleErrorBody, Instance, MalformedResponse, Operation, OperationList, parseGcp } from "./schema.js";

type Compute = typeof import("@google-cloud/compute");

export interface GcpClientOptions {
  project: string;
  auth: GcpAuth;
  /** An emulator: `http://127.0.0.1:PORT`. Absent: compute.googleapis.com over https. */
  endpoint?: string;
  requestTimeoutMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Least time between two requests' starts (GCE limits requests per minute per project). */
  minIntervalMs?: number;
}

/** A request that got no HTTP answer (timeout, reset): it may or may not have been carried out. */
export const NO_ANSWER = "kiln/no-answer";
const MAX_RETRY_AFTER_MS = 60_000;

interface Clients {
  instances: InstanceType<Compute["InstancesClient"]>;
  operations: InstanceType<Compute["ZoneOperationsClient"]>;
}

export class GcpClient {
  readonly project: string;
  #clients: Promise<Clients> | undefined;
  #nextStart = 0;
  constructor(private readonly o: GcpClientOptions) {
    this.project = o.project;
  }

  #open(): Promise<Clients> {
    this.#clients ??= (async () => {
      const { InstancesClient, ZoneOperationsClient } = await import("@google-cloud/compute");
      const at = this.o.endpoint ? new URL(this.o.endpoint) : undefined;
      // google-gax's REST fallback builds `${protocol}://${apiEndpoint}:${port}/compute/v1/…`: `protocol`
      // is how it allows a plain-http loopback emulator.
      const opts = { auth: this.o.auth, fallback: true, ...(at && { apiEndpoint: at.hostname, port: Number(at.port), protocol: at.protocol.replace(":", "") }) } as ConstructorParameters<Compute["InstancesClient"]>[0];
      return { instances: new InstancesClient(opts), operations: new ZoneOperationsClient(opts) };
    })();
    return this.#clients;
  }

  async insert(zone: string, instanceResource: Record<string, unknown>, requestId: string, signal: AbortSignal): Promise<Operation> {
    return this.#call("insert", signal, async (c) => {
      const [lro] = await c.instances.insert({ project: this.project, zone, requestId, instanceResource }, CALL);
      return parseGcp(Operation, (lro as unknown as { latestResponse?: unknown }).latestResponse, "instances.insert");
    });
  }

  /** The instance, or undefined when GCE does not know it (404). */
  async get(zone: string, name: string, signal: AbortSignal): Promise<Instance | undefined> {
    return this.#call<Instance | undefined>("instances.get", signal, async (c) => parseGcp(Instance, (await c.instances.get({ project: this.project, zone, instance: name }, CALL))[0], "instances.get"), { notFound: true });
  }

  /**
   * Every instance in the project matching `filter`, all zones, all pages. The SDK only offers this as an
   * async iterator over (zone, instances) entries; the whole listing is one call here (one deadline; a
   * retry starts it again). `autoPaginate: false` is what the async iterator does anyway; saying so keeps
   * google-gax from printing an AutopaginateTrueWarning on the user's terminal.
   */
  async aggregatedList(filter: string, signal: AbortSignal): Promise<Instance[]> {
    return this.#call("instances.aggregatedList", signal, async (c) => {
      const out: Instance[] = [];
      for await (const [, scoped] of c.instances.aggregatedListAsync({ project: this.project, filter, maxResults: 500 }, { ...CALL, autoPaginate: false })) {
        for (const i of (scoped as { instances?: unknown[] | null }).instances ?? []) out.push(parseGcp(Instance, i, "instances.aggregatedList"));
      }
      return out;
    });
  }

  /** The delete's operation, or undefined when the instance is already gone (404). */
  async delete(zone: string, name: string, requestId: string, signal: AbortSignal): Promise<Operation | undefined> {
    return this.#call<Operation | undefined>("instances.delete", signal, async (c) => {
      const [lro] = await c.instances.delete({ project: this.project, zone, instance: name, requestId }, CALL);
      return parseGcp(Operation, (lro as unknown as { latestResponse?: unknown }).latestResponse, "instances.delete");
    }, { notFound: true });
  }

  async getOperation(zone: string, operation: string, signal: AbortSignal): Promise<Operation> {
    return this.#call("zoneOperations.get", signal, async (c) => parseGcp(Operation, (await c.operations.get({ project: this.project, zone, operation }, CALL))[0], "zoneOperations.get"));
  }

  /** zoneOperations.wait: returns when the operation is DONE or after GCE's own wait (≤ 2 min; the emulator's is short). */
  async waitOperation(zone: string, operation: string, signal: AbortSignal): Promise<Operation> {
    return this.#call("zoneOperations.wait", signal, async (c) => parseGcp(Operation, (await c.operations.wait({ project: this.project, zone, operation }, CALL))[0], "zoneOperations.wait"), { timeoutMs: 150_000 });
  }

  async listOperations(zone: string, filter: string, signal: AbortSignal): Promise<Operation[]> {
    return this.#call("zoneOperations.list", signal, async (c) => {
      const [, , raw] = await c.operations.list({ project: this.project, zone, filter, maxResults: 500 }, { ...CALL, autoPaginate: false });
      return parseGcp(OperationList, raw, "zoneOperations.list").items ?? [];
    });
  }

  async #pace(signal: AbortSignal): Promise<void> {
    const gap = this.o.minIntervalMs ?? 0;
    if (gap <= 0) return;
    const now = Date.now();
    const start = Math.max(now, this.#nextStart);
    this.#nextStart = start + gap;
    if (start > now) await sleep(start - now, signal);
  }

  /** One call with deadline, pacing and retries; with `notFound`, a 404 is `undefined` (T must allow it). */
  async #call<T>(what: string, signal: AbortSignal, fn: (c: Clients) => Promise<T>, o: { notFound?: true; timeoutMs?: number } = {}): Promise<T> {
    const attempts = this.o.maxAttempts ?? 4;
    let last: ProviderError | undefined;
    for (let i = 1; i <= attempts; i++) {
      if (signal.aborted) throw new AbortedError(`GCE ${what}`, { cause: signal.reason });
      const clients = await this.#open();
      await this.#pace(signal);
      const timeout = AbortSignal.timeout(o.timeoutMs ?? this.o.requestTimeoutMs ?? 60_000);
      try {
        return await withSignal(AbortSignal.any([signal, timeout]), () => fn(clients));
      } catch (e) {
        if (signal.aborted) throw new AbortedError(`GCE ${what}`, { cause: e });
        const err = this.#translate(e, what, timeout.aborted);
        if (err === "not-found" && o.notFound) return undefined as T;
        last = err === "not-found" ? (this.#translate(e, what, false, true) as ProviderError) : err;
        if (last instanceof ProviderError && (last.kind === "transient" || last.kind === "rate-limited") && i < attempts) {
          const base = Math.min(this.o.backoffMaxMs ?? 8_000, (this.o.backoffBaseMs ?? 500) * 2 ** (i - 1));
          await sleep(Math.min(MAX_RETRY_AFTER_MS, last.retryAfterMs ?? base * (0.5 + Math.random() / 2)), signal);
          continue;
        }
        throw last;
      }
    }
    throw last ?? new ProviderError("gcp", "fatal", `GCE ${what}: no attempt was made`);
  }

  /** An SDK/transport failure as a ProviderError; "not-found" for a 404 the caller may want as undefined. */
  #translate(e: unknown, what: string, timedOut: boolean, forceNotFoundError = false): ProviderError | "not-found" {
    if (e instanceof ProviderError) return e;
    if (e instanceof MalformedResponse) return new ProviderError("gcp", "fatal", e.message, { code: "kiln/malformed-response", cause: e });
    // Refused by the auth's bounded fetch (./auth.ts): asking again would only fetch the same monster.
    const big = responseTooLargeIn(e);
    if (big) return new ProviderError("gcp", "fatal", refusedBody(`GCE ${what}`, big), { status: big.status, code: "kiln/response-too-large", cause: e });
    const g = e as { response?: { status?: number; headers?: { get?(n: string): string | null } }; status?: number; message?: string; code?: unknown };
    const status = g.response?.status ?? (typeof g.status === "number" ? g.status : undefined);
    if (status === undefined) {
      if (timedOut) return new ProviderError("gcp", "transient", `GCE ${what} got no answer in time`, { code: NO_ANSWER, cause: e });
      // A body the SDK could not decode (not JSON) on a 2xx, or a transport failure (reset, refused).
      const msg = e instanceof Error ? e.message : String(e);
      if (e instanceof SyntaxError || /JSON|Unexpected token/i.test(msg)) return new ProviderError("gcp", "fatal", `GCE answered ${what} with a body that is not JSON (${msg.slice(0, 120)})`, { code: "kiln/malformed-response", cause: e });
      return new ProviderError("gcp", "transient", `GCE ${what} got no answer (${msg.slice(0, 160)})`, { code: NO_ANSWER, cause: e });
    }
    if (status === 404 && !forceNotFoundError) return "not-found";
    const raw = typeof g.message === "string" ? g.message : "";
    let body: GoogleErrorBody | undefined;
    try {
      const parsed = GoogleErrorBody.safeParse(JSON.parse(raw));
      if (parsed.success) body = parsed.data;
    } catch {
      // Not JSON (an HTML page from a proxy): classified by status below, and the message says so.
    }
    const ra = Number(g.response?.headers?.get?.("retry-after") ?? "");
    return gcpHttpError(this.project, status, body, what, { raw, cause: e, ...(Number.isFinite(ra) && ra > 0 && { retryAfterMs: ra * 1000 }) });
  }
}

const CALL = { maxRetries: 0 } as const;
