/**
 * The provider contract. Every place Kiln can run a job — this computer (`local`), a machine the user
 * owns (`ssh`), a cloud (`lambda`, later runpod, tensordock, …) — implements {@link Provider}, in its own
 * folder with the same file set: `providers/<name>/{client,provider,schema,index}.ts` (+ `emulator.ts`
 * for clouds). One contract test suite (`providers/contract.ts`) runs against each of them.
 *
 * The contract (after dstack's Compute and pulumi's ResourceProvider):
 *
 * - **listOffers(req)** returns what can be rented now that satisfies `req`, with the billed price and
 *   where capacity exists. Prices are live when the API gives them (`priceSource: "live"`), otherwise
 *   from the dated catalog. It never launches anything and never throws for "nothing fits" (empty list).
 * - **launch(req)** is *transactional* and *returns fast*: if it throws, nothing billable exists that
 *   Kiln does not know about, with one exception the caller must handle — a lost response. For that,
 *   the caller commits an intent row with `req.intentId` to the ledger *before* calling, and the machine
 *   carries that id in its name/tag (`kiln-<intentId>`, the intent id starting with the installation's
 *   id), so {@link Provider.listMachines} finds it later and other installations leave it alone.
 *   launch does not wait for boot: the machine is usually `pending`; poll {@link Provider.describe}.
 * - **describe(id)** maps the provider's state onto {@link MachineState} explicitly; a state the mapping
 *   does not know is `"unknown"`, never guessed. An id the provider no longer knows is `"terminated"`.
 * - **listMachines()** lists the machines *Kiln* launched (those tagged `kiln-…`). Machines without
 *   Kiln's tag are never returned, so they can never be touched.
 * - **terminate(id)** is *idempotent* and *returns fast*: an unknown or already-terminated id returns
 *   normally. It only asks; the caller polls `describe` until `"terminated"` (the "not yet terminated,
 *   call me again" signal is simply a state other than terminated).
 * - Errors are {@link ProviderError}s classified by {@link ProviderErrorKind}, with the scope to block
 *   when failing over. Credentials come in through the constructor, never from ambient globals.
 * - Every call takes an AbortSignal and honours it.
 *
 * Optional abilities are separate interfaces with type guards ({@link SupportsStop},
 * {@link SupportsVolumes}, {@link SupportsSpot}), never boolean flags or "not implemented" stubs.
 */

/** A registered provider's name (src/providers/registry.ts lists them; the spec and CLI flags are checked against it). */
export type ProviderName = string;

/** Kiln's own machine states. */
export type MachineState =
  | "pending" // requested, booting; not yet usable
  | "running" // usable (has an address when it is remote)
  | "stopping"
  | "stopped" // not billed for compute (only with SupportsStop)
  | "terminating"
  | "terminated" // gone; billing has ended
  | "unhealthy" // exists and may bill, but is not usable
  | "unknown";

export interface GpuRequest {
  /** GPU model names in Kiln's canonical form ("A100-40GB", "H100-80GB", …) or "any". */
  gpus: readonly string[] | "any";
  count: number;
  minVramGb: number;
  spot: "never" | "allowed" | "prefer";
  regions?: readonly string[];
  maxPricePerHour?: number;
}

export interface Offer {
  provider: ProviderName;
  /** The provider's own instance type name, e.g. "gpu_1x_a100_sxm4". */
  instanceType: string;
  gpu: string;
  gpuCount: number;
  vramGb: number;
  vcpus?: number;
  /** Host RAM as the provider lists it (Lambda: GiB). */
  memoryGb?: number;
  /** Local disk as the provider lists it (Lambda: GiB); the planner sizes the activation cache against it. */
  diskGb?: number;
  /**
   * How this offer's disk can be sized at launch ({@link LaunchRequest.diskGb}); absent: the disk is fixed
   * (Lambda's local NVMe comes with the instance type) or Kiln does not size it on this provider.
   */
  diskSizing?: DiskSizing;
  region: string;
  /** Billed USD per hour (on-demand, or the spot price when spot is true): what Kiln expects to pay. */
  pricePerHour: number;
  /**
   * The most an hour can cost (a spot offer's bid or MaxPrice; absent: `pricePerHour`). The budget cap
   * and the watchdog's deadline use it, so a spot price that rises can never push spend past the cap.
   */
  capPricePerHour?: number;
  spot: boolean;
  /** Whether the provider says there is capacity now; `undefined` when it does not say. */
  available: boolean | undefined;
  priceSource: "live" | "catalog";
  /** ISO date the price was observed (catalog rows carry their catalog date). */
  priceDate: string;
}

/**
 * How an offer's disk can be sized at launch, from the provider's own API fields. The planner uses it when a
 * job's activation cache fits neither the offer's RAM nor its stated disk: a disk big enough for the cache,
 * priced in, can beat streaming (the LM forward every epoch).
 *
 * @example
 *   // RunPod's container disk (REST v2 `disk`): $0.10/GB-month while the pod exists, none of it in the GPU price.
 *   const sizing: DiskSizing = { maxGb: 2000, usdPerGbMonth: 0.1, includedGb: 0, priceSource: "docs.runpod.io/pods/storage", billedAfterTermination: false };
 */
export interface DiskSizing {
  /** The largest disk a launch may ask for, in the API's unit (the same unit as {@link Offer.diskGb}). */
  maxGb: number;
  /** The smallest a launch may ask for (TensorDock: 100); absent: no floor that matters to Kiln. */
  minGb?: number;
  /** USD per GB-month of disk (730 h), billed while the machine exists. */
  usdPerGbMonth: number;
  /** GB the offer's `pricePerHour` already pays for (TensorDock prices its disk into the offer); only GB beyond it add cost. */
  includedGb: number;
  /** Where the price comes from: the API field (live) or the page and date it was read from; guesses say "GUESS". */
  priceSource: string;
  /**
   * Whether the disk keeps billing after the machine is terminated. Always false: Kiln only sizes disks that
   * are deleted with the machine (RunPod's container disk, a GCE boot disk with autoDelete, …), never volumes
   * that outlive it, because Kiln deletes everything it made.
   */
  billedAfterTermination: false;
}

/** Hours in a billing month, as the clouds count it for per-GB-month prices. */
export const HOURS_PER_MONTH = 730;

export interface LaunchRequest {
  /** Kiln's intent id, committed to the ledger before launch; the machine's name carries it. */
  intentId: string;
  offer: Offer;
  /** Name of the SSH key registered with the provider (clouds) or the key path (ssh). */
  sshKeyName?: string;
  sshPublicKey?: string;
  /**
   * A persistent volume of the provider's (one the user named in the spec, e.g. a Lambda file system) to
   * attach at launch, so that what the machine writes there outlives it: the durable store of
   * `artifacts.store.url: lambda-fs://NAME/PREFIX`. It must already exist in the offer's region; a provider
   * that cannot attach it must refuse the launch with a ProviderError "invalid", never launch without it
   * (the watchdog would then push to the machine's own disk and lose the outputs at termination). Only
   * providers whose descriptor names a `cap.volumeStore` are ever asked. Where it is mounted is the
   * provider's fixed rule (Lambda: `/lambda/nfs/NAME`), not chosen here.
   */
  persistentVolume?: { name: string };
  /**
   * How long the machine may live, in seconds from now, when the job's budget cap must hold even with
   * every Kiln process gone (`budget.on_cap_offline: stop-billing`). Clouds with a deadline at launch
   * (descriptor `cap.cloudSideStop: "deadline-at-launch"`: GCE `scheduling.maxRunDuration` with DELETE)
   * set it on the machine; others ignore it (their watchdog holds the cap). Absent: no deadline.
   */
  maxRunSeconds?: number;
  /**
   * The watchdog must be able to end this machine's billing with no client (the job has a durable store to
   * push to first, or chose `on_cap_offline: stop-billing`). A provider whose machine ends its own billing
   * through an identity it grants at launch (Azure: ./azure/self-stop.ts) grants it, or refuses the launch
   * with a ProviderError "auth" naming the missing right, before anything bills; others ignore it.
   */
  selfStop?: boolean;
  /**
   * The disk the job needs, in the offer's disk unit (see {@link DiskSizing}): the planner sized it so the
   * activation cache fits. Only asked of offers with `diskSizing`, never above its `maxGb`. A provider must
   * launch with at least this much disk or refuse the launch with a ProviderError "invalid" — never launch
   * a smaller disk silently (the job would run out of space hours in, after paying for the extraction).
   * Absent: the provider's own default disk (the offer's `diskGb`).
   */
  diskGb?: number;
}

export interface MachineRecord {
  provider: ProviderName;
  /**
   * The provider's id for the machine, opaque to the core. Clouds whose API needs a location to find a
   * machine put it in the id (EC2 `us-east-1/i-0abc`, GCE `project/zone/name`, Azure
   * `resourceGroup/vmName`), so describe/terminate work from the ledger alone (docs/lifecycle.md §12).
   */
  id: string;
  /** The name/tag the provider stores, `kiln-<intentId>` for Kiln's machines. */
  name: string;
  intentId: string | undefined;
  state: MachineState;
  /** The provider's own state word, kept for the ledger and error messages. */
  providerState: string;
  instanceType: string;
  region: string;
  pricePerHour: number;
  ssh?: { host: string; port: number; user: string };
  launchedAt?: string;
  /**
   * The provider does not know this id (mapped to `terminated`). Right after a launch that can still be a
   * listing that lags behind (EC2 is eventually consistent), so waiters give it the provider's listing lag.
   */
  notFound?: true;
  /**
   * The provider reclaimed the machine (spot/interruptible). A cause, not a billing state: the machine may
   * be terminated, stopped with its disk billed, or still running its last seconds (see `state`); the
   * attempt ends as preempted either way, and teardown still terminates and confirms.
   */
  reclaimed?: { reason: string; at?: string };
  /**
   * The machine itself is gone with its disks, and only leftovers that terminate removes remain (Azure: the
   * job's resource group with its public IP after the VM was deleted, by its own watchdog at the cap or by a
   * Spot eviction). Nothing on it can be saved any more, so recovery terminates it without waiting for its
   * outputs (they are in the durable store, or were lost with it).
   */
  outputsGone?: true;
}

/** Classes of provider failure; the lifecycle decides retry vs failover vs stop by class. */
export type ProviderErrorKind =
  | "capacity" // sold out here: fail over to the next offer
  | "quota" // account limit: fail over to another provider, tell the user how to raise it
  | "billing" // the account can't pay (RunPod 402, a TensorDock balance under $1): like quota
  | "auth" // bad or missing credentials: this provider is out for the job; fail over to another, say how to fix
  | "rate-limited" // slow down and retry (honour Retry-After)
  | "transient" // 5xx, timeouts, resets: retry with backoff
  | "invalid" // the request was wrong (a Kiln bug or a bad spec value): stop
  | "fatal"; // anything else: stop

/**
 * Errors that waiting cannot fix: bad credentials, a refused request, an account limit. Polls stop on
 * them at once instead of retrying for their whole deadline.
 */
export const isPermanentProviderError = (e: unknown): boolean => e instanceof ProviderError && (e.kind === "auth" || e.kind === "invalid" || e.kind === "quota" || e.kind === "billing" || e.kind === "fatal");

/** Errors that rule a whole provider out for this job (the next provider's offers are tried): quota, billing, auth. */
export const blocksProvider = (e: ProviderError): boolean => e.kind === "quota" || e.kind === "billing" || e.kind === "auth" || e.scope === "provider";

/** What to stop trying after this error when failing over. */
export type BlockScope = "none" | "region" | "instance-type" | "provider";

export class ProviderError extends Error {
  override readonly name = "ProviderError";
  readonly provider: ProviderName;
  readonly kind: ProviderErrorKind;
  readonly scope: BlockScope;
  /** HTTP status and the provider's own error code, when there was a response. */
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;
  /** The provider's own advice (Lambda's `suggestion`), shown to the user. */
  readonly suggestion: string | undefined;
  constructor(
    provider: ProviderName,
    kind: ProviderErrorKind,
    message: string,
    opts: { scope?: BlockScope; status?: number; code?: string; retryAfterMs?: number; suggestion?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.provider = provider;
    this.kind = kind;
    this.scope = opts.scope ?? "none";
    this.status = opts.status;
    this.code = opts.code;
    this.retryAfterMs = opts.retryAfterMs;
    this.suggestion = opts.suggestion;
  }
}

/**
 * A launch whose outcome is unknown: the request may have reached the provider (timeout, reset, 5xx after
 * sending, or a success reply without an id), so a machine named `kiln-<intentId>` may exist and bill.
 * Kiln never retries such a launch blindly; the lifecycle resolves it by listing machines by that name,
 * waiting out the provider's listing lag.
 */
export class LaunchOutcomeUnknownError extends ProviderError {
  readonly maybeLaunched = true as const;
  readonly machineName: string;
  constructor(provider: ProviderName, machineName: string, why: string, opts: { cause?: unknown; status?: number } = {}) {
    super(provider, "transient", `the launch of ${machineName} may or may not have happened (${why}); reconcile by name before retrying`, {
      ...opts,
      code: "kiln/launch-outcome-unknown",
    });
    this.machineName = machineName;
  }
}

export const isMaybeLaunched = (e: unknown): e is LaunchOutcomeUnknownError => e instanceof LaunchOutcomeUnknownError;

export interface Provider {
  readonly name: ProviderName;
  listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]>;
  launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord>;
  describe(id: string, signal: AbortSignal): Promise<MachineRecord>;
  listMachines(signal: AbortSignal): Promise<MachineRecord[]>;
  terminate(id: string, signal: AbortSignal): Promise<void>;
}

export interface SupportsStop {
  stop(id: string, signal: AbortSignal): Promise<void>;
  start(id: string, signal: AbortSignal): Promise<void>;
}
/**
 * Persistent volumes that outlive machines (Lambda file systems), which a launch can attach
 * (`LaunchRequest.persistentVolume`). A volume attaches only to machines in its own region.
 * - listVolumes(): every volume of the account, with its region; read-only.
 * - createVolume(): idempotent by name: a volume of that name in that region (a retried create) is returned.
 *   A volume bills for its storage until deleted, so the core calls it only when the spec asks (`create: true`).
 */
export interface SupportsVolumes {
  listVolumes(signal: AbortSignal): Promise<{ id: string; name: string; region: string }[]>;
  createVolume(name: string, region: string, signal: AbortSignal): Promise<{ id: string; name: string; region: string }>;
}
export interface SupportsSpot {
  /** Seconds of warning the provider gives before reclaiming a spot machine. */
  readonly spotNoticeSeconds: number;
}

export const supportsStop = (p: Provider): p is Provider & SupportsStop => "stop" in p && "start" in p;
export const supportsVolumes = (p: Provider): p is Provider & SupportsVolumes => "listVolumes" in p && "createVolume" in p;
export const supportsSpot = (p: Provider): p is Provider & SupportsSpot => "spotNoticeSeconds" in p;

/** The name every Kiln machine carries, so reconciliation can find it and never touch anything else. */
export const machineNameFor = (intentId: string): string => `kiln-${intentId}`;
export const intentIdFromName = (name: string | null | undefined): string | undefined =>
  name?.startsWith("kiln-") ? name.slice("kiln-".length) : undefined;
/**
 * The installation that made an intent id (`<8 hex>-<hex>`), or undefined for ids of the old form
 * (`<12 hex>`, before installation ids), which only a ledger that holds them can claim.
 */
export const installationOfIntent = (intentId: string | undefined): string | undefined => /^([0-9a-f]{8})-[0-9a-f]+$/.exec(intentId ?? "")?.[1];

/**
 * The disk a launch asks for: `req.diskGb` when the planner sized one (at least the provider's default), else
 * the default. Throws ProviderError "invalid" when the offer cannot be sized or the size is over its maximum,
 * so a launch never goes ahead with less disk than the job needs.
 *
 * @example
 *   const disk = diskForLaunch("runpod", req, CONTAINER_DISK_GB); // 470 when the planner sized 470 GB
 */
export function diskForLaunch(provider: ProviderName, req: Pick<LaunchRequest, "offer" | "diskGb">, defaultGb: number): number {
  if (req.diskGb === undefined) return defaultGb;
  const sizing = req.offer.diskSizing;
  if (!sizing) throw new ProviderError(provider, "invalid", `${provider} ${req.offer.instanceType} cannot size its disk at launch, and the job needs ${req.diskGb} GB`);
  if (req.diskGb > sizing.maxGb) {
    throw new ProviderError(provider, "invalid", `${provider} ${req.offer.instanceType}: a ${req.diskGb} GB disk is over the most it can be sized to (${sizing.maxGb} GB)`);
  }
  return Math.max(req.diskGb, defaultGb, sizing.minGb ?? 0);
}
