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
  /** The emulator's own view of billing, for the ledger check at the end. */
  billed(): { id: string; status: string; billedSeconds: number; costUsd: number }[];
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
  readonly credentials?: CredentialHelp;
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
  host?(target: { host: string; port: number; user: string }, o: { privateKey: Buffer; knownHostsFile: string; logger: Logger }): Provider & { close(): Promise<void> };
  /** Provider `local`: this computer, as probed. */
  local?(machine: LocalMachineInfo, pricePerHour: number): Provider & { offer(): Offer };
}

/**
 * A cloud Kiln prices from its dated catalog (the planner and `kiln offers` show it) but cannot rent yet:
 * it has no `configured`, so `kiln run --provider NAME` refuses it and lists the rentable ones.
 */
export function catalogOnlyCloud(d: Pick<ProviderDescriptor, "name" | "title" | "tier" | "catalog"> & { consoleUrl?: string }): ProviderDescriptor {
  return { kind: "cloud", listingLagMs: 60_000, ...d };
}
