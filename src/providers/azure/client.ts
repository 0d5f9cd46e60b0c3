/**
 * The Azure client: the official SDKs (@azure/arm-compute for VMs, @azure/arm-resources for resource
 * groups, @azure/arm-network for the job's network), loaded on first use, behind one `call` that gives
 * every request a deadline and the caller's AbortSignal, paces requests, and turns failures into
 * ProviderErrors (./errors.ts). Long-running operations are polled by the SDKs themselves
 * (Azure-AsyncOperation / Location headers, Retry-After between polls).
 *
 * Quirks recorded where they bite:
 * - @azure/arm-compute 24.x sends api-version 2026-03-01 on every virtualMachines call and has no option
 *   to change it. Kiln is built and tested against the 2024-07-01 Swagger, and uses no field added since,
 *   so a per-call policy pins Microsoft.Compute requests to 2024-07-01.
 * - @azure/core-rest-pipeline 1.24's bearer-token policy throws "Bearer token authentication is not
 *   permitted for non-TLS protected (non-https) URLs" for any http:// URL, whatever
 *   `allowInsecureConnection` says (that option only lifts the HTTP client's own check). For an emulator
 *   on loopback (and only there) the client swaps that policy for one that sets the same header from
 *   the same TokenCredential, and sets allowInsecureConnection; a real endpoint keeps the SDK's policy.
 */
import type { TokenCredential } from "@azure/core-auth";
import type { ComputeManagementClient } from "@azure/arm-compute";
import type { NetworkManagementClient } from "@azure/arm-network";
import type { ResourceManagementClient } from "@azure/arm-resources";
import type { HttpClient, PipelinePolicy } from "@azure/core-rest-pipeline";
import { MAX_API_RESPONSE_BYTES } from "../../base/bounded-body.js";
import { readStreamBounded } from "../../base/bounded-sdk.js";
import { ARM_SCOPE } from "./auth.js";
import { toProviderError } from "./errors.js";

export const COMPUTE_API_VERSION = "2024-07-01";

export interface AzureClientOptions {
  subscriptionId: string;
  credential: TokenCredential;
  /** ARM endpoint; default https://management.azure.com. A loopback URL is an emulator. */
  endpoint?: string;
  /** Per request (and per LRO poll). Default 60 s. */
  requestTimeoutMs?: number;
  /** The SDK's own retries (429 with Retry-After, 5xx, resets); default 3. */
  maxRetries?: number;
  /** Least time between two calls; default 0 (ARM allows ~12k reads and 1.2k writes an hour per principal). */
  minIntervalMs?: number;
  /** How often an LRO is polled when the answer gives no Retry-After; default 2 s (the SDKs' default). */
  pollIntervalMs?: number;
}

export interface AzureSdk {
  compute: ComputeManagementClient;
  resources: ResourceManagementClient;
  network: NetworkManagementClient;
}

export const isLoopbackUrl = (url: string | undefined): boolean => {
  if (!url) return false;
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

/** Emulators only: the bearer header from the credential, over http (see the module comment). */
const loopbackBearer = (credential: TokenCredential): PipelinePolicy => ({
  name: "kilnLoopbackBearer",
  async sendRequest(request, next) {
    const t = await credential.getToken(ARM_SCOPE, { abortSignal: request.abortSignal });
    if (t) request.headers.set("Authorization", `Bearer ${t.token}`);
    request.allowInsecureConnection = true;
    return next(request);
  },
});

const pinComputeApiVersion: PipelinePolicy = {
  name: "kilnPinComputeApiVersion",
  async sendRequest(request, next) {
    const u = new URL(request.url);
    if (/\/providers\/Microsoft\.Compute\//i.test(u.pathname) && u.searchParams.has("api-version")) {
      u.searchParams.set("api-version", COMPUTE_API_VERSION);
      request.url = u.toString();
    }
    return next(request);
  },
};

/** Every status: the SDK then hands each body over as a stream, which {@link boundedHttpClient} reads itself. */
const EVERY_STATUS = new Set(Array.from({ length: 500 }, (_, i) => i + 100));

/**
 * The SDK's own HTTP client, with every answer read bounded: bodies are asked for as streams and read here
 * up to the shared API ceiling (a bigger one fails the request with ResponseTooLarge instead of filling the
 * heap), then handed to the SDK as text, as it would have read them. A request that wanted a stream keeps it.
 */
function boundedHttpClient(inner: HttpClient, limit: number): HttpClient {
  return {
    async sendRequest(request) {
      const wanted = request.streamResponseStatusCodes;
      request.streamResponseStatusCodes = EVERY_STATUS;
      const res = await inner.sendRequest(request).finally(() => {
        request.streamResponseStatusCodes = wanted;
      });
      if (wanted?.has(res.status)) return res;
      const body = res.readableStreamBody;
      res.readableStreamBody = undefined;
      res.bodyAsText = body ? await readStreamBounded(body, res.status, limit, Number(res.headers.get("content-length") ?? "")) : null;
      return res;
    },
  };
}

export class AzureClient {
  readonly subscriptionId: string;
  readonly pollIntervalMs: number;
  readonly emulated: boolean;
  #sdk: Promise<AzureSdk> | undefined;
  #lastCallMs = 0;
  #queue: Promise<void> = Promise.resolve();

  constructor(private readonly o: AzureClientOptions) {
    this.subscriptionId = o.subscriptionId;
    this.pollIntervalMs = o.pollIntervalMs ?? 2_000;
    this.emulated = isLoopbackUrl(o.endpoint);
  }

  /** The ARM endpoint when not the public cloud's (emulators). */
  get endpoint(): string | undefined {
    return this.o.endpoint?.replace(/\/+$/, "");
  }

  get credential(): TokenCredential {
    return this.o.credential;
  }

  sdk(): Promise<AzureSdk> {
    this.#sdk ??= this.#load();
    return this.#sdk;
  }

  async #load(): Promise<AzureSdk> {
    const [{ ComputeManagementClient }, { ResourceManagementClient }, { NetworkManagementClient }, { bearerTokenAuthenticationPolicyName, createDefaultHttpClient }] = await Promise.all([
      import("@azure/arm-compute"),
      import("@azure/arm-resources"),
      import("@azure/arm-network"),
      import("@azure/core-rest-pipeline"),
    ]);
    const endpoint = this.o.endpoint?.replace(/\/+$/, "");
    const common = {
      retryOptions: { maxRetries: this.o.maxRetries ?? 3, ...(this.emulated && { retryDelayInMs: 50, maxRetryDelayInMs: 500 }) },
      ...(endpoint && { endpoint }),
      ...(this.emulated && { allowInsecureConnection: true }),
      userAgentOptions: { userAgentPrefix: "kiln" },
      httpClient: boundedHttpClient(createDefaultHttpClient(), MAX_API_RESPONSE_BYTES),
    };
    const compute = new ComputeManagementClient(this.o.credential, this.subscriptionId, common);
    // The older (AutoRest) clients build URLs from `$host` and use `endpoint` only for the token scope.
    const legacy = { ...common, ...(endpoint && { $host: endpoint, credentialScopes: ARM_SCOPE }) };
    const resources = new ResourceManagementClient(this.o.credential, this.subscriptionId, legacy);
    const network = new NetworkManagementClient(this.o.credential, this.subscriptionId, legacy);
    compute.pipeline.addPolicy(pinComputeApiVersion, { phase: "Serialize" });
    if (this.emulated) {
      for (const p of [compute.pipeline, resources.pipeline, network.pipeline]) {
        p.removePolicy({ name: bearerTokenAuthenticationPolicyName });
        p.addPolicy(loopbackBearer(this.o.credential), { phase: "Sign" });
      }
    }
    return { compute, resources, network };
  }

  async #pace(signal: AbortSignal): Promise<void> {
    const min = this.o.minIntervalMs ?? 0;
    if (min <= 0) return;
    const turn = this.#queue.then(async () => {
      const wait = this.#lastCallMs + min - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.#lastCallMs = Date.now();
    });
    this.#queue = turn.catch(() => undefined);
    await turn;
    signal.throwIfAborted();
  }

  /**
   * One SDK call under the caller's signal and a deadline (`timeoutMs`, default the request timeout; an
   * LRO gets its own). Errors come out as ProviderErrors; `machineName` makes a lost launch answer a
   * LaunchOutcomeUnknownError.
   */
  async call<T>(op: string, signal: AbortSignal, fn: (sdk: AzureSdk, abortSignal: AbortSignal) => Promise<T>, o: { timeoutMs?: number; machineName?: string; region?: string } = {}): Promise<T> {
    signal.throwIfAborted();
    const sdk = await this.sdk();
    await this.#pace(signal);
    const abortSignal = AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs ?? this.o.requestTimeoutMs ?? 60_000)]);
    try {
      return await fn(sdk, abortSignal);
    } catch (e) {
      if (signal.aborted) throw signal.reason ?? e;
      throw toProviderError(e, op, { ...(o.machineName && { machineName: o.machineName }), ...(o.region && { region: o.region }) });
    }
  }
}
