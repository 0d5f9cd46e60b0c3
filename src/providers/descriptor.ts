/**
 * A provider's descriptor: everything the core and the CLI need to know about a provider, in one value
 * exported by its folder (`src/providers/<name>/descriptor.ts`) and listed once in `./registry.ts`. The
 * core iterates over the registry and never names a provider (a test checks it), so adding a cloud is its
 * folder plus one registry line.
 *
 * Descriptors are cheap to import (the CLI imports the registry at start-up): clients, schemas and
 * emulators are loaded inside the functions, on use.
 */
import type { Logger } from "../base/logger.js";
import type { CatalogRow, ProviderTier } from "./catalog-row.js";
import type { Offer, Provider, ProviderName } from "./provider.js";

/** What the GPU probe found on this computer, for the local provider's one offer. */
export interface LocalMachineInfo {
  /** Canonical GPU name ("RTX-4090") or "cpu" when there is none. */
  gpu: string;
  gpuCount: number;
  vramGb: number;
  vcpus?: number;
  memoryGb?: number;
}

export interface ProviderContext {
  env: NodeJS.ProcessEnv;
  /** Kiln's 0600 credentials file (`$KILN_HOME/credentials.json`). */
  credentialsPath: string;
  logger: Logger;
}

/**
 * How the on-machine watchdog ends billing when the cap is reached with no client: a POSIX sh script run
 * as `sh end-billing.sh ARGS…` (values only ever as arguments, never pasted into the script), retried
 * until it exits 0, plus private files it reads (written 0600 beside it, e.g. an auth header).
 */
export interface EndBilling {
  script: string;
  args: string[];
  files: { name: string; content: string }[];
}

/**
 * What a provider offers for a budget cap that must hold with no client answering (docs/lifecycle.md §7;
 * `capGuarantee` in src/core/planner/cap-guarantee.ts turns it into the line `kiln plan` prints).
 */
export interface CapCapabilities {
  /**
   * The cloud's own way to end billing, which needs no credential on the machine:
   * `shutdown-terminates` — an OS shutdown terminates the machine (EC2 InstanceInitiatedShutdownBehavior=terminate);
   * `deadline-at-launch` — a deadline set at launch that holds even if the watchdog dies (GCE
   * scheduling.maxRunDuration + DELETE, Kubernetes activeDeadlineSeconds).
   */
  cloudSideStop?: "shutdown-terminates" | "deadline-at-launch";
  /**
   * The watchdog can end billing through the provider's API with a credential it holds on the machine
   * (`ConfiguredCloud.endBilling`). `full-account` when the cloud's keys cannot be limited to ending
   * billing (the key on the machine can also launch); `terminate-only` when they can; `machine-identity`
   * when no key is shipped at all: the machine's own cloud identity, granted at launch the right to delete
   * that machine and nothing else (Azure's managed identity), which needs the user's right to grant it
   * (asked for with LaunchRequest.selfStop).
   */
  apiTerminate?: "full-account" | "terminate-only" | "machine-identity";
  /** Storage that outlives the machine, by the provider's own name (e.g. its file systems). */
  persistentVolume?: string;
  /**
   * The `artifacts.store.url` scheme that names that storage when Kiln can attach it at launch and push to
   * it (Lambda: `lambda-fs`). Absent: Kiln does not attach the provider's volumes; only object stores hold.
   */
  volumeStore?: "lambda-fs";
}

/** A cloud account Kiln can use now: the user's configuration, or an emulator on loopback. */
export interface ConfiguredCloud {
  provider: Provider;
  /** Where the credentials came from, for messages ("LAMBDA_API_KEY", a file path). */
  source: string;
  /** An emulator on loopback (tests, `kiln emulate`) rather than the real API. */
  emulated: boolean;
  /** The watchdog's way to end billing for machine `id`, with the credential it needs (opt-in). */
  endBilling?(id: string): EndBilling;
}

/** A cloud simulated in this process for `kiln run --sim`: its emulator, machines backed by loopback sshd's. */
export interface SimulatedCloud extends ConfiguredCloud {
  /** The emulator's own view of billing, for the ledger check at the end (and the disk each machine got, where the emulator records it). */
  billed(): { id: string; status: string; billedSeconds: number; costUsd: number; diskGb?: number }[];
  close(): Promise<void>;
}

/** A foreground emulator for `kiln emulate NAME`. */
export interface RunningEmulator {
  url: string;
  /** The environment that points Kiln at it, e.g. `{ LAMBDA_API_KEY, KILN_LAMBDA_API_URL }`. */
  env: Record<string, string>;
  close(): Promise<{ launched: number; live: number }>;
}

export interface CredentialHelp {
  /** The cloud's own env vars, read first. */
  envVars: readonly string[];
  /** The section of Kiln's credentials file, and an example of it. */
  fileSection: string;
  fileExample: string;
  /** Where to create the credential. */
  createAt?: string;
}

/**
 * How a machine learns, from inside, that its cloud is about to reclaim it (spot/preemptible): a metadata
 * URL polled by the on-machine notice watcher (src/core/lifecycle/notice.ts). A notice is an HTTP 200
 * (`when: "ok"`), or a body matching `bodyMatches` (an extended regex).
 */
export interface ReclaimNotice {
  url: string;
  /** Request headers, each "Name: value" (GCP wants Metadata-Flavor: Google; Azure Metadata: true). */
  headers: readonly string[];
  when: "ok" | { bodyMatches: string };
  /** How long the cloud waits after the notice before it takes the machine. */
  seconds: number;
  /**
   * A session token fetched before each poll (EC2's IMDSv2): a PUT to `url` with `headers`, whose answer is
   * sent as the header named `header` on the notice GET.
   */
  token?: { url: string; headers: readonly string[]; header: string };
}

export interface ProviderDescriptor {
  readonly name: ProviderName;
  readonly title: string;
  /** local: this computer; host: a machine the user owns (never created or destroyed); cloud: rented by the hour. */
  readonly kind: "local" | "host" | "cloud";
  readonly tier: ProviderTier;
  /** The dated catalog rows Kiln plans with when there are no live prices. */
  readonly catalog: readonly CatalogRow[];
  /** Where the user sees their machines, for "may still be billing" messages. */
  readonly consoleUrl?: string;
  /** How long a launched machine may be missing from the provider's listing (see findByIntent). */
  readonly listingLagMs: number;
  /** Machine boot, launch → SSH answers, with its source; the planner adds Kiln's setup (src/core/planner/boot.ts). */
  readonly boot?: { minutes: number; source: string };
  readonly credentials?: CredentialHelp;
  /** Spot machines get a reclaim notice they can read from inside (GCP, Azure; AWS once IMDSv2's token is handled). */
  readonly reclaimNotice?: ReclaimNotice;
  /**
   * Set on a cloud that sells no spot/preemptible machines: one sentence the planner and `kiln offers --spot`
   * print when spot is asked for, so the absence of its spot rows is explained, not silent.
   */
  readonly noSpot?: string;
  /** How a budget cap holds with no client (clouds only); absent: the watchdog can stop the run but not billing. */
  readonly cap?: CapCapabilities;
  /** Whether credentials are configured at all, without loading the client (start-up time). */
  hasCredentials?(ctx: ProviderContext): boolean;
  /** The account from the user's configuration; undefined when not configured. Throws a ProviderError of kind auth for an unsafe credentials file. */
  configured?(ctx: ProviderContext): Promise<ConfiguredCloud | undefined>;
  /** One read-only call that proves the credentials work (`kiln check`): a line to print. */
  check?(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined>;
  /** A simulated account in this process (`kiln run --sim`). */
  simulate?(o: { bootDelayMs: number; logger: Logger }): Promise<SimulatedCloud>;
  /** The emulator in the foreground (`kiln emulate NAME`), configured from an optional file. */
  emulate?(o: { host: string; port: number; configPath?: string }): Promise<RunningEmulator>;
  /** Provider `host`: the user's machine reached over SSH, with Kiln's key and a pinned host key. */
  host?(target: { host: string; port: number; user: string }, o: HostOptions): Provider & { close(): Promise<void> };
  /** Provider `local`: this computer, as probed. */
  local?(machine: LocalMachineInfo, pricePerHour: number): Provider & { offer(): Offer };
}

/** How a host provider reaches the user's machine. */
export interface HostOptions {
  privateKey: Buffer;
  knownHostsFile: string;
  logger: Logger;
  /** How long a connection is retried (a host that refuses may be rebooting); default 60 s. `kiln down` takes it from KILN_HOST_CONNECT_TIMEOUT_MS. */
  connectTimeoutMs?: number;
}

/**
 * A cloud Kiln prices from its dated catalog (the planner and `kiln offers` show it) but cannot rent yet:
 * it has no `configured`, so `kiln run --provider NAME` refuses it and lists the rentable ones.
 */
export function catalogOnlyCloud(d: Pick<ProviderDescriptor, "name" | "title" | "tier" | "catalog"> & { consoleUrl?: string; reclaimNotice?: ReclaimNotice }): ProviderDescriptor {
  return { kind: "cloud", listingLagMs: 60_000, ...d };
}
