/**
 * Google Compute Engine behind Kiln's provider contract (../provider.ts).
 *
 * - **launch** inserts `kiln-<intentId>` with a `requestId` derived from the intent (a retried insert is the
 *   same request), then waits for the insert's *operation* to settle, because GCE reports capacity and
 *   quota there, after the insert answered 200. A failed operation that left an instance behind has it
 *   deleted and confirmed gone before the error is thrown; one that cannot be confirmed gone, or an
 *   operation that does not settle in time, is a LaunchOutcomeUnknownError (the lifecycle then finds the
 *   machine by name and tears it down).
 * - Spot VMs: `provisioningModel: SPOT`, `instanceTerminationAction: DELETE`. `scheduling.maxRunDuration`
 *   comes from the request's `maxRunSeconds`, so Google deletes the VM at the job's cap even with every Kiln
 *   process dead (the descriptor's `cloudSideStop: "deadline-at-launch"`).
 * - The SSH key goes in this instance's own metadata (`ssh-keys`), never the project's.
 * - listOffers prices each offer live from the Cloud Billing Catalog API's SKUs when they give a price
 *   (./prices.ts: a GPU machine's price is the sum of its vCPU, memory, GPU and bundled Local SSD SKUs),
 *   and from the dated catalog otherwise, marked so, with a warning that says why.
 * - describe maps GCE's status explicitly and sets `reclaimed` from the zone's `compute.instances.preempted`
 *   operation for the instance (a Spot VM with DELETE disappears, so a 404 is checked too).
 */
import { AbortedError } from "../../base/errors.js";
import { sleep } from "../../base/deadline.js";
import { CATALOG_DATE } from "../catalog-row.js";
import { diskForLaunch, type GpuRequest, intentIdFromName, type LaunchRequest, type MachineRecord, type MachineState, type Offer, type Provider, ProviderError, type SupportsSpot } from "../provider.js";
import { type GcpClient, NO_ANSWER } from "./client.js";
import { gcpLaunchUnknown, gcpOperationError } from "./errors.js";
import { BOOT_DISK_GB, BOOT_DISK_SIZING } from "./disk.js";
import { GCP_MACHINE_TYPES, type GcpMachineType, machineTypeNamed, regionOfZone } from "./machine-types.js";
import { gceNameFor, type GcpMachineRef, lastSegment, machineIdOf, parseMachineId, requestIdFor } from "./names.js";
import type { GcpLivePrices, PriceTable } from "./prices.js";
import type { Instance, Operation } from "./schema.js";

/**
 * The maxRunDuration Kiln passes on: GCE takes 30 s to 120 days [A: Google's "Limit the run time of a VM"
 * page; the discovery document gives no range]. Under 30 s is raised to 30 s (the VM may then outlive the
 * cap by those seconds); over 120 days is left unset, since no Kiln budget runs that long.
 */
const MIN_RUN_S = 30;
const MAX_RUN_S = 120 * 86_400;

/**
 * The boot image: a Deep Learning VM image with CUDA and the NVIDIA driver [A: the family name is from
 * Google's DLVM docs as remembered, not from a file here; override with `gcp.image`/KILN_GCP_IMAGE].
 */
export const DEFAULT_IMAGE = "projects/deeplearning-platform-release/global/images/family/pytorch-2-4-cu124-ubuntu-2204-py310";

export { BOOT_DISK_GB, BOOT_DISK_SIZING } from "./disk.js";

export interface GcpProviderOptions {
  client: GcpClient;
  /** Zones to offer (default: each machine type's zones in ./machine-types.ts). */
  zones?: readonly string[];
  /** The login the `ssh-keys` metadata creates on the VM. */
  sshUser?: string;
  /** Emulator only: the loopback sshd's port for a machine id (real VMs listen on 22). */
  sshPortOf?(id: string): number | undefined;
  image?: string;
  bootDiskGb?: number;
  /** How long launch waits for the insert's operation (real GCE: seconds to a minute). Default 180 s. */
  operationTimeoutMs?: number;
  /** How long a failed launch waits for a leftover instance to be gone. Default 120 s. */
  cleanupTimeoutMs?: number;
  pollMs?: number;
  /** The shortest maxRunDuration sent (GCE's floor, 30 s); tests lower it to see the deletion quickly. */
  minRunSeconds?: number;
  /** Live prices from the Cloud Billing Catalog API (./prices.ts); absent: the dated catalog only. */
  prices?: GcpLivePrices;
}

const STATE: Record<string, MachineState> = {
  PROVISIONING: "pending",
  STAGING: "pending",
  RUNNING: "running",
  PENDING_STOP: "stopping",
  STOPPING: "stopping",
  SUSPENDING: "stopping",
  // "halted … tear down tasks": on the way to TERMINATED or to being deleted.
  DEPROVISIONING: "stopping",
  SUSPENDED: "stopped",
  // GCE's TERMINATED means *stopped*, not deleted: its disks still bill and it is not usable.
  TERMINATED: "unhealthy",
  STOPPED: "unhealthy",
  REPAIRING: "unhealthy",
};

export class GcpProvider implements Provider, SupportsSpot {
  readonly name = "gcp";
  /** Spot VMs get 30 s between ACPI soft-off and hard-off (Scheduling.skipGuestOsShutdown in the discovery doc). */
  readonly spotNoticeSeconds = 30;
  readonly project: string;
  constructor(private readonly o: GcpProviderOptions) {
    this.project = o.client.project;
  }

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    if (signal.aborted) throw new AbortedError("GCE listOffers", { cause: signal.reason });
    const wanted: [GcpMachineType, string][] = [];
    for (const t of GCP_MACHINE_TYPES) {
      if (req.gpus !== "any" && !req.gpus.includes(t.gpu)) continue;
      if (t.gpuCount !== req.count || t.vramGb < req.minVramGb) continue;
      for (const zone of this.o.zones ? t.zones.filter((z) => this.o.zones!.includes(z)) : t.zones) {
        if (req.regions && !req.regions.some((r) => r === zone || r === regionOfZone(zone))) continue;
        wanted.push([t, zone]);
      }
    }
    // The Billing Catalog is read only when some offer needs a price (it warns and answers undefined on failure).
    const table = wanted.length > 0 ? await this.o.prices?.table(signal) : undefined;
    const offers: Offer[] = [];
    for (const [t, zone] of wanted) {
      for (const spot of this.#markets(t, req)) {
        const o = offerFor(t, zone, spot, table);
        if (req.maxPricePerHour === undefined || o.pricePerHour <= req.maxPricePerHour) offers.push(o);
      }
    }
    return offers.sort((a, b) => a.pricePerHour - b.pricePerHour);
  }

  #markets(t: GcpMachineType, req: GpuRequest): boolean[] {
    if (req.spot === "never") return t.spotOnly ? [] : [false];
    return t.spotOnly ? [true] : [false, true];
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    if (signal.aborted) throw new AbortedError("GCE launch", { cause: signal.reason });
    const type = machineTypeNamed(req.offer.instanceType);
    if (!type) throw new ProviderError("gcp", "invalid", `GCE: Kiln does not know machine type ${req.offer.instanceType}`);
    const ref: GcpMachineRef = { project: this.project, zone: req.offer.region, name: gceNameFor(req.intentId) };
    const requestId = requestIdFor("insert", machineIdOf(ref));
    let op: Operation;
    try {
      op = await this.o.client.insert(ref.zone, this.#instanceResource(req, ref, type), requestId, signal);
    } catch (e) {
      if (e instanceof ProviderError && e.status === 409) return this.describe(machineIdOf(ref), signal); // alreadyExists: this intent's machine
      if (e instanceof ProviderError && (e.code === NO_ANSWER || (e.kind === "transient" && e.status !== undefined && e.status >= 500))) throw gcpLaunchUnknown(ref.name, e.message, e);
      // A body unread (not JSON, or refused as too large) on an answer that may be a success: it may exist.
      if (e instanceof ProviderError && (e.code === "kiln/malformed-response" || (e.code === "kiln/response-too-large" && (e.status ?? 200) < 300))) throw gcpLaunchUnknown(ref.name, e.message, e);
      throw e;
    }
    const settled = await this.#settle(ref, op, signal);
    const failed = gcpOperationError(this.project, settled, "instances.insert");
    if (failed) {
      await this.#removeLeftover(ref, failed, signal);
      throw failed;
    }
    const inst = await this.o.client.get(ref.zone, ref.name, signal);
    // The operation is DONE, so the VM exists; a listing that lags behind may not show it yet.
    if (!inst) return { provider: "gcp", id: machineIdOf(ref), name: ref.name, intentId: req.intentId, state: "pending", providerState: "PROVISIONING", instanceType: type.name, region: ref.zone, pricePerHour: req.offer.pricePerHour, launchedAt: settled.insertTime ?? new Date().toISOString() };
    // The price this launch was offered at (live or catalog), not the catalog's.
    return { ...this.#record(inst, ref), pricePerHour: req.offer.pricePerHour };
  }

  #instanceResource(req: LaunchRequest, ref: GcpMachineRef, type: GcpMachineType): Record<string, unknown> {
    const spot = req.offer.spot;
    const maxRun = req.maxRunSeconds === undefined || req.maxRunSeconds > MAX_RUN_S ? undefined : Math.max(this.o.minRunSeconds ?? MIN_RUN_S, Math.ceil(req.maxRunSeconds));
    const items = [{ key: "ssh-keys", value: `${this.o.sshUser ?? "kiln"}:${(req.sshPublicKey ?? "").trim()}` }, { key: "install-nvidia-driver", value: "True" }].filter((i) => i.key !== "ssh-keys" || req.sshPublicKey);
    return {
      name: ref.name,
      machineType: `zones/${ref.zone}/machineTypes/${type.name}`,
      labels: { kiln: "1", "kiln-intent": req.intentId },
      disks: [{ boot: true, autoDelete: true, initializeParams: { sourceImage: this.o.image ?? DEFAULT_IMAGE, ...this.#bootDisk(req, ref.zone) } }],
      networkInterfaces: [{ network: "global/networks/default", accessConfigs: [{ type: "ONE_TO_ONE_NAT", name: "External NAT" }] }],
      metadata: { items },
      scheduling: {
        provisioningModel: spot ? "SPOT" : "STANDARD",
        // GPUs cannot live-migrate; a Spot VM must not restart on its own.
        onHostMaintenance: "TERMINATE",
        automaticRestart: false,
        ...((spot || maxRun !== undefined) && { instanceTerminationAction: "DELETE" }),
        ...(maxRun !== undefined && { maxRunDuration: { seconds: String(maxRun) } }),
      },
    };
  }

  /**
   * The boot disk's size, and its type when the planner sized it (pd-balanced, the type BOOT_DISK_SIZING prices);
   * unsized launches keep the image's default type as before.
   */
  #bootDisk(req: LaunchRequest, zone: string): { diskSizeGb: string; diskType?: string } {
    const gb = diskForLaunch("gcp", req, this.o.bootDiskGb ?? BOOT_DISK_GB);
    return { diskSizeGb: String(gb), ...(req.diskGb !== undefined && { diskType: `zones/${zone}/diskTypes/pd-balanced` }) };
  }

  /** Wait for the operation to be DONE (zoneOperations.wait, bounded); not settling in time: outcome unknown. */
  async #settle(ref: GcpMachineRef, op: Operation, signal: AbortSignal): Promise<Operation> {
    const deadline = Date.now() + (this.o.operationTimeoutMs ?? 180_000);
    let cur = op;
    while (cur.status !== "DONE") {
      const left = deadline - Date.now();
      if (left <= 0) throw gcpLaunchUnknown(ref.name, `its insert operation ${cur.name} was still ${cur.status} after ${Math.round((this.o.operationTimeoutMs ?? 180_000) / 1000)} s`);
      try {
        cur = await this.o.client.waitOperation(ref.zone, cur.name, AbortSignal.any([signal, AbortSignal.timeout(left)]));
      } catch (e) {
        if (signal.aborted) throw e;
        if (e instanceof ProviderError && (e.kind === "auth" || e.kind === "invalid" || e.kind === "fatal")) throw gcpLaunchUnknown(ref.name, `its insert operation could not be read (${e.message})`, e);
        if (Date.now() >= deadline) throw gcpLaunchUnknown(ref.name, `its insert operation ${cur.name} did not settle in time`, e);
      }
    }
    return cur;
  }

  /** A failed insert may leave the VM (or a stopped shell of it): delete it and confirm it is gone. */
  async #removeLeftover(ref: GcpMachineRef, failed: ProviderError, signal: AbortSignal): Promise<void> {
    const id = machineIdOf(ref);
    const deadline = Date.now() + (this.o.cleanupTimeoutMs ?? 120_000);
    let asked = false;
    for (;;) {
      const inst = await this.o.client.get(ref.zone, ref.name, signal);
      if (!inst) return;
      if (!asked) {
        await this.terminate(id, signal);
        asked = true;
      }
      if (Date.now() >= deadline) throw gcpLaunchUnknown(ref.name, `the insert failed (${failed.message}) but left ${id} (${inst.status}), which is not gone yet`, failed);
      await sleep(this.o.pollMs ?? 1_000, signal);
    }
  }

  async describe(id: string, signal: AbortSignal): Promise<MachineRecord> {
    const ref = parseMachineId(id);
    const inst = await this.o.client.get(ref.zone, ref.name, signal);
    if (!inst) {
      const reclaimed = await this.#preempted(ref, signal);
      return { provider: "gcp", id, name: ref.name, intentId: intentIdFromName(ref.name), state: "terminated", providerState: "NOT_FOUND", instanceType: "", region: ref.zone, pricePerHour: 0, notFound: true, ...(reclaimed && { reclaimed }) };
    }
    const m = this.#record(inst, ref);
    if (inst.scheduling?.provisioningModel === "SPOT" && m.state !== "running" && m.state !== "pending") {
      const reclaimed = await this.#preempted(ref, signal);
      if (reclaimed) return { ...m, reclaimed };
    }
    return m;
  }

  /** GCE's own record of a preemption: the zone operation `compute.instances.preempted` targeting the VM. */
  async #preempted(ref: GcpMachineRef, signal: AbortSignal): Promise<MachineRecord["reclaimed"]> {
    const ops = await this.o.client.listOperations(ref.zone, 'operationType = "compute.instances.preempted"', signal);
    const op = ops.find((o) => o.operationType === "compute.instances.preempted" && lastSegment(o.targetLink) === ref.name);
    if (!op) return undefined;
    const at = op.endTime ?? op.insertTime ?? undefined;
    return { reason: `GCE preempted the Spot VM (${op.operationType}${op.statusMessage ? `: ${op.statusMessage}` : ""})`, ...(at && { at }) };
  }

  async listMachines(signal: AbortSignal): Promise<MachineRecord[]> {
    // Server-side filter by name (RE2, whole-name match); checked again here: only Kiln's machines, ever.
    const all = await this.o.client.aggregatedList("name eq kiln-.*", signal);
    return all.filter((i) => i.name.startsWith("kiln-")).map((i) => this.#record(i, { project: this.project, zone: lastSegment(i.zone), name: i.name }));
  }

  async terminate(id: string, signal: AbortSignal): Promise<void> {
    const ref = parseMachineId(id);
    if (signal.aborted) throw new AbortedError("GCE terminate", { cause: signal.reason });
    // Only asks: the caller polls describe until terminated. A 404 (already gone) is fine.
    await this.o.client.delete(ref.zone, ref.name, requestIdFor("delete", id), signal);
  }

  #record(inst: Instance, ref: GcpMachineRef): MachineRecord {
    const id = machineIdOf(ref);
    const type = machineTypeNamed(lastSegment(inst.machineType));
    const spot = inst.scheduling?.provisioningModel === "SPOT";
    let state: MachineState = STATE[inst.status] ?? "unknown";
    const natIP = inst.networkInterfaces?.[0]?.accessConfigs?.find((a) => a.natIP)?.natIP ?? undefined;
    const port = this.o.sshPortOf ? this.o.sshPortOf(id) : 22;
    // Running means usable: with an address (and, on the emulator, its sshd's port).
    if (state === "running" && (!natIP || port === undefined)) state = "pending";
    return {
      provider: "gcp",
      id,
      name: inst.name,
      intentId: intentIdFromName(inst.name),
      state,
      providerState: inst.status,
      instanceType: type?.name ?? lastSegment(inst.machineType),
      region: ref.zone,
      pricePerHour: type ? (spot ? type.spotPerHour : type.onDemandPerHour) : 0,
      ...(state === "running" && natIP && port !== undefined && { ssh: { host: natIP, port, user: this.o.sshUser ?? "kiln" } }),
      ...(inst.creationTimestamp && { launchedAt: new Date(inst.creationTimestamp).toISOString() }),
    };
  }
}

/**
 * One offer, priced live from `table` where its SKUs give a price (priceSource "live", priceDate the time
 * they were read), else from the dated catalog (priceSource "catalog"). A Spot VM has no bid or maximum
 * price in GCE, so the worst case an hour can cost is bounded only by the on-demand price (live when known,
 * and never below the Spot price), which is the `capPricePerHour` the budget cap and the deadline use.
 */
export function offerFor(t: GcpMachineType, zone: string, spot: boolean, table?: PriceTable): Offer {
  const live = table?.price(t, zone, spot);
  if (table && typeof live === "number") {
    const onDemand = spot ? table.price(t, zone, false) : live;
    const onDemandPrice = typeof onDemand === "number" ? onDemand : t.onDemandPerHour;
    return { ...offerFor(t, zone, spot), pricePerHour: live, capPricePerHour: Math.max(live, onDemandPrice), priceSource: "live", priceDate: table.at };
  }
  return {
    provider: "gcp",
    instanceType: t.name,
    gpu: t.gpu,
    gpuCount: t.gpuCount,
    vramGb: t.vramGb,
    vcpus: t.vcpus,
    memoryGb: t.memoryGb,
    diskGb: BOOT_DISK_GB,
    diskSizing: BOOT_DISK_SIZING,
    region: zone,
    pricePerHour: spot ? t.spotPerHour : t.onDemandPerHour,
    capPricePerHour: t.onDemandPerHour,
    spot,
    available: undefined,
    priceSource: "catalog",
    priceDate: CATALOG_DATE,
  };
}
