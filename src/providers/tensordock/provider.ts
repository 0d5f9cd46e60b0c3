/**
 * TensorDock as a Kiln {@link Provider} (contract in ../provider.ts), over {@link TensordockClient}.
 *
 * TensorDock quirks this mapping owns:
 * - No instance types: an offer is a GPU model and count at a location, with the size Kiln rents (offers.ts).
 *   The offer's region is the location's id, which is what a create names (`location_id`).
 * - No spot in v2 and no tags: Kiln's machines are those named `kiln-<intentId>`.
 * - SSH: a VM either has a dedicated IP (SSH on 22) or shares its host's IP with ports forwarded
 *   (`portForwards: [{internal_port: 22, external_port: 20xxx}]`, instance-management page). The port is the
 *   external port forwarded to 22 when there is one, else 22. Kiln asks for a dedicated IP where the location
 *   offers one (the instance-creation page's location example does), and port forwarding elsewhere.
 *   GUESS(tensordock): a location-based create without a dedicated IP forwards 22 on its own (the docs show port
 *   forwards chosen by hand only for hostnode-based creates). Verify with one create with `useDedicatedIp: false`.
 * - The list answer has names and statuses only, so listMachines reads the details of Kiln's machines.
 * - An id TensorDock no longer knows (404) is "terminated"; terminating it succeeds.
 */
import { diskForLaunch, type GpuRequest, intentIdFromName, type LaunchRequest, type MachineRecord, machineNameFor, type Offer, type Provider, ProviderError } from "../provider.js";
import type { TensordockClient } from "./client.js";
import { locationLabel, offersFrom } from "./offers.js";
import type { TdInstance, TdLocationGpu } from "./schema.js";
import { tensordockState } from "./states.js";

export interface TensordockProviderOptions {
  client: TensordockClient;
  /** The login user. GUESS(tensordock): "user" on TensorDock's Ubuntu images (what third-party guides ssh in as); the emulator's is whoever runs its sshd's. */
  sshUser?: string;
  /** The OS image (instance-creation page: "ubuntu2404"). */
  image?: string;
  now?: () => Date;
}

/**
 * The docs' image name for Ubuntu 24.04. GUESS(tensordock): that it comes with NVIDIA's driver on GPU VMs (the
 * docs list no separate CUDA image for v2). Verify by running nvidia-smi on one.
 */
export const DEFAULT_IMAGE = "ubuntu2404";

export class TensordockProvider implements Provider {
  readonly name = "tensordock" as const;
  readonly client: TensordockClient;
  readonly #o: TensordockProviderOptions;
  /** Network features per `location/v0Name`, from the last listOffers (a launch needs them to choose SSH's route). */
  readonly #features = new Map<string, NonNullable<TdLocationGpu["network_features"]> | null>();

  constructor(o: TensordockProviderOptions) {
    this.client = o.client;
    this.#o = o;
  }

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    const locations = await this.client.listLocations(signal);
    this.#remember(locations);
    const priceDate = (this.#o.now?.() ?? new Date()).toISOString().slice(0, 10);
    return offersFrom(locations, req, priceDate, (msg) => this.client.log.warn(msg));
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    const name = machineNameFor(req.intentId);
    const { offer } = req;
    // "SSH key required" (instance-creation page): the key is injected at create, there is no key registry to use.
    if (req.sshPublicKey === undefined) throw new ProviderError("tensordock", "invalid", "launching on TensorDock needs the SSH public key (TensorDock injects it at create)");
    if (offer.vcpus === undefined || offer.memoryGb === undefined || offer.diskGb === undefined) {
      throw new ProviderError("tensordock", "invalid", `the TensorDock offer ${offer.instanceType} in ${offer.region} has no machine size; list offers again`);
    }
    // A launch of an intent that already has a machine (a driver that restarted after its create was answered)
    // is that machine: TensorDock has no idempotency token, so the name is the key. GUESS(tensordock): names need
    // not be unique, so this is Kiln's check, not TensorDock's; a listing that lags can still miss a new machine.
    const existing = (await this.client.listInstances(signal)).find((i) => i.name === name && !["terminated", "terminating"].includes(tensordockState(i.status)));
    if (existing) return this.describe(existing.id, signal);
    // The planner's size when it sized one, checked against the location's max_storage_gb (diskForLaunch);
    // priced per GB-hour, so a bigger disk is billed, not silently trimmed.
    const storageGb = diskForLaunch("tensordock", req, offer.diskGb);
    const features = await this.#networkFeatures(offer, signal);
    const id = await this.client.createInstance(
      {
        data: {
          type: "virtualmachine",
          attributes: {
            name,
            type: "virtualmachine",
            image: this.#o.image ?? DEFAULT_IMAGE,
            resources: { vcpu_count: offer.vcpus, ram_gb: offer.memoryGb, storage_gb: storageGb, gpus: { [offer.instanceType]: { count: offer.gpuCount } } },
            location_id: offer.region,
            useDedicatedIp: features?.dedicated_ip_available === true,
            ssh_key: req.sshPublicKey.trim(),
          },
        },
      },
      signal,
    );
    return {
      provider: "tensordock",
      id,
      name,
      intentId: req.intentId,
      state: "pending",
      providerState: "starting",
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
    // Only Kiln's machines: anything without the kiln- name is the user's and must never be touched.
    const mine = (await this.client.listInstances(signal)).filter((i) => intentIdFromName(i.name) !== undefined);
    const out: MachineRecord[] = [];
    for (const i of mine) {
      const d = await this.describe(i.id, signal);
      // Listed a moment ago, gone now (deleted in between): the list's own word is kept.
      out.push(d.notFound ? { ...d, name: i.name, intentId: intentIdFromName(i.name), providerState: i.status } : d);
    }
    return out;
  }

  /** GUESS(tensordock): DELETE of an id that is gone answers 404 (the third-party document lists only 200). */
  async terminate(id: string, signal: AbortSignal): Promise<void> {
    try {
      await this.client.deleteInstance(id, signal);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
  }

  #remember(locations: readonly { id: string; gpus: readonly TdLocationGpu[] }[]): void {
    for (const l of locations) for (const g of l.gpus) this.#features.set(`${l.id}/${g.v0Name}`, g.network_features ?? null);
  }

  async #networkFeatures(offer: Offer, signal: AbortSignal) {
    const key = `${offer.region}/${offer.instanceType}`;
    if (!this.#features.has(key)) {
      const locations = await this.client.listLocations(signal);
      this.#remember(locations);
      const loc = locations.find((l) => l.id === offer.region);
      if (!loc?.gpus.some((g) => g.v0Name === offer.instanceType)) {
        throw new ProviderError("tensordock", "capacity", `TensorDock no longer lists ${offer.instanceType} at ${loc ? locationLabel(loc) : `location ${offer.region}`}`, { scope: "region" });
      }
    }
    return this.#features.get(key) ?? undefined;
  }

  #record(i: TdInstance): MachineRecord {
    const state = tensordockState(i.status);
    const rec: MachineRecord = {
      provider: "tensordock",
      id: i.id,
      name: i.name,
      intentId: intentIdFromName(i.name),
      state,
      providerState: i.status,
      // GUESS(tensordock): the GPU model of a running instance is in `resources.gpus`, whose shape is unconfirmed; the ledger has it from the offer.
      instanceType: "",
      region: i.locationId ?? "",
      pricePerHour: i.rateHourly ?? 0,
    };
    const sshPort = sshPortOf(i);
    if (i.ipAddress && (state === "running" || state === "unhealthy")) rec.ssh = { host: i.ipAddress, port: sshPort, user: this.#o.sshUser ?? "user" };
    // Running without an address is not usable yet.
    if (state === "running" && !i.ipAddress) rec.state = "pending";
    return rec;
  }
}

/** The port SSH answers on: the external port forwarded to 22, else 22 (a dedicated IP). */
export function sshPortOf(i: Pick<TdInstance, "portForwards">): number {
  return i.portForwards.find((f) => f.internal === 22)?.external ?? 22;
}

const isNotFound = (e: unknown): boolean => e instanceof ProviderError && e.status === 404;

function gone(id: string): MachineRecord {
  return { provider: "tensordock", id, name: "", intentId: undefined, state: "terminated", providerState: "not-found", instanceType: "", region: "", pricePerHour: 0, notFound: true };
}
