/**
 * A stateful Lambda Cloud API emulator: a real HTTP server on loopback speaking the same paths,
 * envelopes, error codes and statuses as spec 1.8.3 (tests validate every answer against the spec).
 * Used by tests, by `kiln emulate lambda`, and by `--sim` runs.
 *
 * Each launched instance gets an SSH endpoint from the `onLaunch` hook — lifecycle tests back it with
 * a real loopback sshd; the default is 127.0.0.1:22. Lambda's API has no port field, so a non-22 port
 * is only known through {@link LambdaEmulator.sshEndpoint} (or `GET /__emulator/instances`).
 * `onTerminate` is told once when an instance is asked to terminate, to stop what backs it.
 *
 * @example
 *   const emu = await startLambdaEmulator({ bootDelayMs: 0, onLaunch: async (i) => ({ ip: "127.0.0.1", port: await sshdFor(i.id) }) });
 *   const client = new LambdaClient({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, launchIntervalMs: 0 });
 *   …
 *   expect(emu.inspect().filter((i) => i.status !== "terminated")).toEqual([]);
 *   await emu.close();
 */
import { type EmulatedInstance, LambdaAccount, type SshEndpoint } from "./emulator/account.js";
import { DEFAULT_INSTANCE_TYPES, EMULATOR_DEFAULTS, type EmulatorConfig, type EmulatorInstanceType } from "./emulator/config.js";
import { FaultPlan, type FaultRule, seededRandom } from "./emulator/faults.js";
import { FileSystemContents } from "./emulator/fs-contents.js";
import { errors } from "./emulator/render.js";
import { type LaunchOutcome, LambdaRoutes, type OnLaunch, type OnTerminate } from "./emulator/routes.js";
import { type HandlerAnswer, type RateLimit, TokenBucket, apiKeyFrom, listen } from "./emulator/server.js";

export type { EmulatorConfig, EmulatorInstanceType, FaultRule, OnLaunch, OnTerminate, RateLimit, SshEndpoint };
export { DEFAULT_INSTANCE_TYPES, emulatorConfigSchema, LAMBDA_RATE_LIMIT } from "./emulator/config.js";

export interface LambdaEmulatorOptions extends Omit<EmulatorConfig, "rateLimit" | "faults"> {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  rateLimit?: RateLimit | false;
  faults?: FaultRule[];
  onLaunch?: OnLaunch;
  onTerminate?: OnTerminate;
  now?: () => number;
  /** Where the file systems' contents live (one directory each); default: a temp dir removed on close. */
  fileSystemsDir?: string;
}

/** What tests inspect: every instance ever launched, including terminated ones, with billing. */
export interface InstanceReport {
  id: string;
  name: string | undefined;
  status: string;
  instanceType: string;
  region: string;
  launchedAt: number;
  terminatedAt: number | undefined;
  billedSeconds: number;
  costUsd: number;
  endpoint: SshEndpoint | undefined;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number | "hang" | "lost";
}

export class LambdaEmulator {
  readonly account: LambdaAccount;
  readonly faults: FaultPlan;
  readonly requests: RequestLogEntry[] = [];
  /** The file systems' contents on this computer, and how an instance sees them (./emulator/fs-contents.ts). */
  readonly fileSystemContents: FileSystemContents;
  readonly #routes: LambdaRoutes;
  readonly #keys: Set<string>;
  readonly #rate: RateLimit | false;
  readonly #buckets = new Map<string, { general: TokenBucket; launch: TokenBucket }>();
  readonly #now: () => number;
  #close: (() => Promise<void>) | undefined;
  url = "";
  port = 0;
  /** When set, every authenticated call answers 403 global/account-inactive (unpaid bill, unverified email). */
  accountInactive = false;
  /** Bytes the last `huge-body` fault managed to send before the client stopped reading (or all of it). */
  streamedBytes = 0;

  constructor(o: LambdaEmulatorOptions = {}) {
    this.#now = o.now ?? Date.now;
    const types = structuredClone(o.instanceTypes ?? DEFAULT_INSTANCE_TYPES);
    this.account = new LambdaAccount(
      types,
      {
        bootDelayMs: o.bootDelayMs ?? EMULATOR_DEFAULTS.bootDelayMs,
        terminateDelayMs: o.terminateDelayMs ?? EMULATOR_DEFAULTS.terminateDelayMs,
        terminatedVisibleMs: o.terminatedVisibleMs ?? EMULATOR_DEFAULTS.terminatedVisibleMs,
      },
      o.quota?.maxInstances ?? EMULATOR_DEFAULTS.quota.maxInstances,
      this.#now,
    );
    this.faults = new FaultPlan(o.faults ?? [], o.seed === undefined ? Math.random : seededRandom(o.seed));
    this.#routes = new LambdaRoutes(this.account, o.onLaunch ?? (() => ({ ip: "127.0.0.1", port: 22 })), o.onTerminate);
    this.#keys = new Set(o.apiKeys ?? EMULATOR_DEFAULTS.apiKeys);
    this.#rate = o.rateLimit ?? false;
    this.fileSystemContents = new FileSystemContents(o.fileSystemsDir);
  }

  /** The directory holding file system `name`'s contents, or undefined when no such file system exists. */
  fileSystemDir(name: string): string | undefined {
    const fs = this.account.fileSystems.find((f) => f.name === name);
    return fs && this.fileSystemContents.dirOf(fs);
  }

  /** For the machine backing instance `id`: `KILN_SIM_MOUNTS`, mount point → directory, of the file systems it was launched with. */
  mountsOf(id: string): Record<string, string> {
    return this.fileSystemContents.mountsOf(this.account, id);
  }

  /** The first configured API key. */
  get apiKey(): string {
    return [...this.#keys][0] ?? "";
  }

  async start(host = "127.0.0.1", port = 0): Promise<this> {
    const l = await listen((m, p, b, auth, q) => this.#handle(m, p, b, auth, q), host, port);
    this.port = l.port;
    this.url = `http://${host}:${l.port}/api/v1`;
    this.#close = l.close;
    return this;
  }

  async close(): Promise<void> {
    await this.#close?.();
    this.#close = undefined;
    this.fileSystemContents.close();
  }

  /** Add a fault at runtime, e.g. `{kind: "lost-response", match: {path: "/instance-operations/launch"}, times: 1}`. */
  inject(rule: FaultRule): void {
    this.faults.add(rule);
  }

  setCapacity(instanceType: string, region: string, count: number): void {
    const t = this.account.types.find((x) => x.name === instanceType);
    if (!t) throw new Error(`emulator has no instance type ${instanceType}`);
    t.capacity[region] = count;
  }

  /** Make an instance report `unhealthy` until restarted. */
  setUnhealthy(id: string, reason = "forced by test"): void {
    const i = this.account.instances.get(id);
    if (i) i.unhealthyReason = reason;
  }

  sshEndpoint(id: string): SshEndpoint | undefined {
    return this.account.instances.get(id)?.endpoint;
  }

  inspect(): InstanceReport[] {
    return [...this.account.instances.values()].map((i) => this.#report(i));
  }

  #report(i: EmulatedInstance): InstanceReport {
    const billedSeconds = this.account.billedSeconds(i);
    return {
      id: i.id,
      name: i.name,
      status: this.account.statusOf(i),
      instanceType: i.type.name,
      region: i.region,
      launchedAt: i.launchedAt,
      terminatedAt: i.terminateRequestedAt === undefined ? undefined : i.terminateRequestedAt + this.account.timings.terminateDelayMs,
      billedSeconds,
      costUsd: (billedSeconds / 3600) * (i.type.price_cents_per_hour / 100),
      endpoint: i.endpoint,
    };
  }

  async #handle(method: string, path: string, body: unknown, authorization: string | undefined, query: URLSearchParams): Promise<HandlerAnswer> {
    if (path.startsWith("!")) {
      if (method === "GET" && path === "!/__emulator/instances") return { kind: "json", status: 200, body: this.inspect() };
      return { kind: "json", status: 404, body: { error: { code: "global/object-does-not-exist", message: "Not found." } } };
    }
    const answer = this.#decide(method, path, body, authorization, query);
    // A long `kiln emulate` session must not grow without bound; tests read far fewer than this.
    if (this.requests.length >= 10_000) this.requests.splice(0, 1_000);
    this.requests.push({ method, path, status: answer.kind === "hang" ? "hang" : answer.kind === "answer" ? (answer.lose ? "lost" : answer.result.status) : answer.kind === "stream" ? 200 : answer.status });
    return answer;
  }

  #decide(method: string, path: string, body: unknown, authorization: string | undefined, query: URLSearchParams): HandlerAnswer {
    const key = apiKeyFrom(authorization);
    if (key === undefined || !this.#keys.has(key)) return { kind: "answer", result: errors.invalidKey() };
    if (this.accountInactive) return { kind: "answer", result: errors.accountInactive() };
    const limited = this.#rateLimited(key, method === "POST" && path === "/instance-operations/launch");
    if (limited !== undefined) return { kind: "answer", result: errors.rateLimited(), retryAfterS: limited };
    const fault = this.faults.pick(method, path);
    const handle = (outcome: LaunchOutcome = {}) => this.#routes.handle(method, path, body, query, outcome);
    switch (fault?.kind) {
      case "hang":
        return { kind: "hang" };
      case "error-5xx":
        return { kind: "answer", result: errors.unavailable(fault.status ?? 503) };
      case "rate-limit":
        return { kind: "answer", result: errors.rateLimited(), retryAfterS: Math.ceil((fault.delayMs ?? 1000) / 1000) };
      case "lost-response":
        return { kind: "answer", result: handle(), lose: true };
      case "huge-body":
        return { kind: "stream", bytes: fault.bytes ?? 24 * 1024 * 1024, onSent: (n) => (this.streamedBytes = n) };
      case "slow":
        return { kind: "answer", result: handle(), delayMs: fault.delayMs ?? 1000 };
      case "listing-lag": {
        const reads = fault.requests ?? 0;
        const ms = fault.delayMs ?? (fault.requests === undefined ? 1000 : undefined);
        return { kind: "answer", result: handle({ lag: { ms, reads } }) };
      }
      case "no-id":
        return { kind: "answer", result: handle({ withoutIds: true }) };
      default:
        return { kind: "answer", result: handle() };
    }
  }

  /** Seconds to wait (for Retry-After) when this key is over its limit, else undefined. */
  #rateLimited(key: string, isLaunch: boolean): number | undefined {
    if (this.#rate === false) return undefined;
    const r = this.#rate;
    let b = this.#buckets.get(key);
    if (!b) {
      b = { general: new TokenBucket(r.burst, r.perSecond / 1000, this.#now), launch: new TokenBucket(r.launchBurst, r.launchIntervalMs > 0 ? 1 / r.launchIntervalMs : Number.POSITIVE_INFINITY, this.#now) };
      this.#buckets.set(key, b);
    }
    const g = b.general.take();
    if (!g.ok) return Math.max(1, Math.ceil(g.waitMs / 1000));
    if (isLaunch) {
      const l = b.launch.take();
      if (!l.ok) return Math.max(1, Math.ceil(l.waitMs / 1000));
    }
    return undefined;
  }
}

export async function startLambdaEmulator(o: LambdaEmulatorOptions = {}): Promise<LambdaEmulator> {
  return new LambdaEmulator(o).start(o.host, o.port);
}
