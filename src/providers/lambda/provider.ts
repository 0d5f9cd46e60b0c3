/**
 * Lambda Cloud as a Kiln {@link Provider} (contract in ../provider.ts), over {@link LambdaClient}.
 *
 * Lambda quirks this mapping owns:
 * - Capacity is only `regions_with_capacity_available`; a sold-out type gives one offer with region
 *   "any" and `available: false`, so `kiln offers` can show it but nothing launches it.
 * - There is no spot market and no stop: only terminate (no SupportsStop, no SupportsSpot).
 * - `ip` exists only after boot, and the API has no SSH port: login is `ubuntu@ip:22`. Tests against
 *   the emulator pass `sshPortOf` to learn the loopback sshd's port.
 * - A machine Lambda no longer knows (404) is "terminated"; terminate of such an id succeeds.
 */
import { MAX_PRICE_PER_GPU_HOUR, implausiblePrice } from "../price-check.js";
import {
  type GpuRequest,
  type LaunchRequest,
  type MachineRecord,
  type MachineState,
  type Offer,
  type Provider,
  LaunchOutcomeUnknownError,
  ProviderError,
  type SupportsVolumes,
  diskForLaunch,
  intentIdFromName,
  machineNameFor,
} from "../provider.js";
import type { LambdaClient } from "./client.js";
import { canonicalLambdaGpu } from "./gpu-names.js";
import type { LambdaInstance, LambdaInstanceTypes } from "./schema.js";

export interface LambdaProviderOptions {
  client: LambdaClient;
  /** Name of Kiln's SSH key at Lambda, used when a launch request names none. */
  sshKeyName?: string;
  /** Lambda's login user. */
  sshUser?: string;
  /** The SSH port of an instance; Lambda's is always 22, the emulator's loopback sshd's is not. */
  sshPortOf?: (instanceId: string) => number | undefined;
  now?: () => Date;
}

const STATE: Record<string, MachineState> = {
  booting: "pending",
  active: "running",
  unhealthy: "unhealthy",
  terminating: "terminating",
  terminated: "terminated",
  // A preempted instance is gone and no longer billed.
  preempted: "terminated",
};

export class LambdaProvider implements Provider, SupportsVolumes {
  readonly name = "lambda" as const;
  readonly client: LambdaClient;
  readonly #o: LambdaProviderOptions;
  /** Keys already registered by this provider: at 1 request/s, re-listing keys per launch costs seconds. */
  readonly #keysEnsured = new Set<string>();

  constructor(o: LambdaProviderOptions) {
    this.client = o.client;
    this.#o = o;
  }

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    const types = await this.client.listInstanceTypes(signal);
    const priceDate = (this.#o.now?.() ?? new Date()).toISOString().slice(0, 10);
    return offersFrom(types, priceDate, (msg) => this.client.log.warn(msg)).filter((o) => matches(o, req));
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    const name = machineNameFor(req.intentId);
    const { offer } = req;
    if (offer.region === "any" || offer.available === false) {
      throw new ProviderError("lambda", "capacity", `Lambda has no capacity for ${offer.instanceType} in any region right now`, { scope: "instance-type" });
    }
    const keyName = req.sshKeyName ?? this.#o.sshKeyName;
    if (keyName === undefined) throw new ProviderError("lambda", "invalid", "launching on Lambda needs the name of an SSH key (Lambda requires exactly one)");
    // Lambda's disk is fixed: a launch that needs a sized one is refused (diskForLaunch), never run on less.
    diskForLaunch("lambda", req, offer.diskGb ?? 0);
    if (req.sshPublicKey !== undefined && !this.#keysEnsured.has(`${keyName}\n${req.sshPublicKey}`)) {
      await this.client.ensureSshKey(keyName, req.sshPublicKey, signal);
      this.#keysEnsured.add(`${keyName}\n${req.sshPublicKey}`);
    }
    const ids = await this.client.launchInstance(
      {
        region_name: offer.region,
        instance_type_name: offer.instanceType,
        ssh_key_names: [keyName],
        name,
        // Lambda mounts each named file system at /lambda/nfs/<name>; it refuses a file system of another region.
        ...(req.persistentVolume && { file_system_names: [req.persistentVolume.name] }),
      },
      signal,
    );
    const id = ids[0];
    // A success without an id is not "nothing launched": the instance may exist and bill. Resolve it by name.
    if (id === undefined) throw new LaunchOutcomeUnknownError("lambda", name, "Lambda answered the launch with no instance id");
    return {
      provider: "lambda",
      id,
      name,
      intentId: req.intentId,
      state: "pending",
      providerState: "booting",
      instanceType: offer.instanceType,
      region: offer.region,
      pricePerHour: offer.pricePerHour,
      launchedAt: (this.#o.now?.() ?? new Date()).toISOString(),
    };
  }

  async describe(id: string, signal: AbortSignal): Promise<MachineRecord> {
    try {
      return this.#record(await this.client.getInstance(id, signal));
    } catch (e) {
      if (isNotFound(e)) return gone(id);
      throw e;
    }
  }

  async listMachines(signal: AbortSignal): Promise<MachineRecord[]> {
    const all = await this.client.listInstances(signal);
    // Only Kiln's machines: anything without the kiln- name is the user's and must never be touched.
    return all.filter((i) => intentIdFromName(i.name) !== undefined).map((i) => this.#record(i));
  }

  async terminate(id: string, signal: AbortSignal): Promise<void> {
    try {
      await this.client.terminateInstances([id], signal);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
  }

  async listVolumes(signal: AbortSignal) {
    return (await this.client.listFileSystems(signal)).map((f) => ({ id: f.id, name: f.name, region: f.region.name }));
  }

  /** Idempotent by name: a file system of that name in that region (e.g. from a retried create) is returned. */
  async createVolume(name: string, region: string, signal: AbortSignal) {
    try {
      const f = await this.client.createFileSystem(name, region, signal);
      return { id: f.id, name: f.name, region: f.region.name };
    } catch (e) {
      if (!(e instanceof ProviderError) || e.code !== "global/duplicate") throw e;
      const mine = (await this.listVolumes(signal)).find((v) => v.name === name && v.region === region);
      if (mine) return mine;
      throw e;
    }
  }

  #record(i: LambdaInstance): MachineRecord {
    const state = STATE[i.status] ?? "unknown";
    const rec: MachineRecord = {
      provider: "lambda",
      id: i.id,
      name: i.name ?? "",
      intentId: intentIdFromName(i.name),
      // Lambda may report active a moment before the IP is assigned; without an address it is not usable.
      state: state === "running" && !i.ip ? "pending" : state,
      providerState: i.status,
      instanceType: i.instance_type.name,
      region: i.region.name,
      pricePerHour: i.instance_type.price_cents_per_hour / 100,
    };
    if (i.ip && (state === "running" || state === "unhealthy")) rec.ssh = { host: i.ip, port: this.#o.sshPortOf?.(i.id) ?? 22, user: this.#o.sshUser ?? "ubuntu" };
    return rec;
  }
}


/**
 * Offers from `GET /instance-types`: one per region with capacity; one unavailable "any" row when sold out.
 * A type whose price is not believable (≤ $0, or above {@link MAX_PRICE_PER_GPU_HOUR} per GPU) is dropped
 * and reported through `warn`: planning at $0/h would run a job with no budget deadline at all.
 */
export function offersFrom(types: LambdaInstanceTypes, priceDate: string, warn: (msg: string) => void = () => {}, o: { maxPerGpuHour?: number } = {}): Offer[] {
  const offers: Offer[] = [];
  for (const { instance_type: t, regions_with_capacity_available: regions } of Object.values(types)) {
    const gpu = canonicalLambdaGpu(t.gpu_description);
    if (t.specs.gpus < 1 || !gpu) continue;
    const bad = implausiblePrice(t.price_cents_per_hour / 100, t.specs.gpus, o.maxPerGpuHour);
    if (bad !== undefined) {
      warn(`Lambda lists ${t.name} at ${bad}; left out of the offers (Lambda's API may be wrong right now)`);
      continue;
    }
    const base = {
      provider: "lambda" as const,
      instanceType: t.name,
      gpu: gpu.gpu,
      gpuCount: t.specs.gpus,
      vramGb: gpu.vramGb,
      vcpus: t.specs.vcpus,
      memoryGb: t.specs.memory_gib,
      // No diskSizing: Lambda's local NVMe comes with the instance type (`specs.storage_gib`), and launch
      // (`POST /instance-operations/launch`) has no disk size field; file systems are separate, persistent volumes.
      diskGb: t.specs.storage_gib,
      pricePerHour: t.price_cents_per_hour / 100,
      spot: false,
      priceSource: "live" as const,
      priceDate,
    };
    if (regions.length === 0) offers.push({ ...base, region: "any", available: false });
    for (const r of regions) offers.push({ ...base, region: r.name, available: true });
  }
  return offers.sort((a, b) => a.pricePerHour - b.pricePerHour || a.instanceType.localeCompare(b.instanceType) || a.region.localeCompare(b.region));
}

function matches(o: Offer, req: GpuRequest): boolean {
  if (req.gpus !== "any" && !req.gpus.includes(o.gpu)) return false;
  if (o.gpuCount !== req.count || o.vramGb < req.minVramGb) return false;
  if (req.regions && o.region !== "any" && !req.regions.includes(o.region)) return false;
  return req.maxPricePerHour === undefined || o.pricePerHour <= req.maxPricePerHour;
}

const isNotFound = (e: unknown): boolean => e instanceof ProviderError && e.status === 404;

function gone(id: string): MachineRecord {
  return { provider: "lambda", id, name: "", intentId: undefined, state: "terminated", providerState: "not-found", instanceType: "", region: "", pricePerHour: 0, notFound: true };
}
