/**
 * RunPod as a Kiln {@link Provider} (contract in ../provider.ts), over {@link RunpodClient}.
 *
 * RunPod quirks this mapping owns:
 * - Pods are containers: every create names an image ({@link RUNPOD_IMAGE}, one of RunPod's own, which starts
 *   sshd from the `PUBLIC_KEY` env var). Kiln's key goes in that env var of *this* pod; the account-wide key list
 *   (`PUT /v2/account/ssh-keys`) is never touched, because a PUT replaces every key the user has
 *   (docs/design/provider-review.md, requirement 20).
 * - SSH is `ssh.direct` (the public IP and the port mapped to 22/tcp), never `ssh.proxy`, which carries no SFTP.
 *   RunPod may say RUNNING before the 22/tcp mapping exists, so a pod is usable only when RUNNING *and*
 *   `ssh.direct` is there; until then it is pending.
 * - Kiln removes pods (DELETE), never stops them: a stopped (EXITED) pod releases its GPU but keeps, and bills,
 *   its disk. Hence no SupportsStop here.
 * - Spot ("interruptible") pods exist only through GraphQL `podRentInterruptable` with a bid per GPU; REST v2
 *   has no spot field and its `Pod` does not say whether a pod is interruptible. Kiln marks its spot pods with
 *   the env var `KILN_INTERRUPTIBLE=1` (env comes back on every GET), so any Kiln process — a restarted driver,
 *   a reconciliation — knows a pod is spot from the pod itself.
 * - RunPod gives no reclaim notice: a reclaim is seen by polling, as an interruptible pod gone EXITED (or
 *   TERMINATED) that Kiln did not ask to remove. Kiln never stops pods, so an EXITED spot pod was reclaimed (or
 *   stopped by hand in the console, which ends the attempt the same way).
 * - Prices are per GPU per hour; an offer for N GPUs costs N times that.
 */
import { MAX_PRICE_PER_GPU_HOUR } from "../price-check.js";
import {
  type GpuRequest,
  LaunchOutcomeUnknownError,
  type LaunchRequest,
  type MachineRecord,
  type MachineState,
  type Offer,
  type Provider,
  ProviderError,
  type SupportsSpot,
  diskForLaunch,
  intentIdFromName,
  machineNameFor,
} from "../provider.js";
import type { RunpodClient } from "./client.js";
import { CONTAINER_DISK_GB, CONTAINER_DISK_SIZING } from "./disk.js";
import { canonicalRunpodGpu } from "./gpu-names.js";
import type { RunpodGpuType, RunpodPod, RunpodSpotPrices } from "./schema.js";

/** RunPod's own PyTorch image (the spec's example): it starts sshd with the keys in `PUBLIC_KEY`. */
export const RUNPOD_IMAGE = "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404";
export { CONTAINER_DISK_GB, CONTAINER_DISK_SIZING } from "./disk.js";
/** The env var marking Kiln's spot pods (REST v2's Pod has no interruptible flag). */
export const SPOT_MARKER = "KILN_INTERRUPTIBLE";
/**
 * The bid Kiln places above the spot price, as a factor, never above the on-demand price: room for the
 * price to move before RunPod outbids the pod, at most what on-demand would cost.
 */
export const BID_FACTOR = 1.25;
/** The most a GPU-hour can believably cost; a higher price is an API error, not an offer. */

const COMMUNITY_SUFFIX = " (community)";

export interface RunpodProviderOptions {
  client: RunpodClient;
  image?: string;
  containerDiskGb?: number;
  now?: () => Date;
}

const STATE: Record<string, MachineState> = {
  PROVISIONING: "pending",
  STARTING: "pending",
  RUNNING: "running",
  // Stopped: the GPU is released, the disk is kept (and billed). Kiln deletes instead of stopping.
  EXITED: "stopped",
  ERROR: "unhealthy",
  TERMINATED: "terminated",
};

/** The instance type Kiln shows for a GPU on a cloud tier, and back. */
export const instanceTypeFor = (gpuId: string, cloud: "SECURE" | "COMMUNITY"): string => (cloud === "COMMUNITY" ? `${gpuId}${COMMUNITY_SUFFIX}` : gpuId);
export function parseInstanceType(t: string): { gpuId: string; cloud: "SECURE" | "COMMUNITY" } {
  return t.endsWith(COMMUNITY_SUFFIX) ? { gpuId: t.slice(0, -COMMUNITY_SUFFIX.length), cloud: "COMMUNITY" } : { gpuId: t, cloud: "SECURE" };
}

export class RunpodProvider implements Provider, SupportsSpot {
  readonly name = "runpod" as const;
  /** RunPod gives no warning before it takes an interruptible pod. */
  readonly spotNoticeSeconds = 0;
  readonly client: RunpodClient;
  readonly #o: RunpodProviderOptions;
  /** Pods this process asked to remove: their going away is Kiln's doing, not a reclaim. */
  readonly #removing = new Set<string>();

  constructor(o: RunpodProviderOptions) {
    this.client = o.client;
    this.#o = o;
  }

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    const secure = await this.client.listGpuTypes({ cloud: "SECURE", count: req.count }, signal);
    const community = await this.client.listGpuTypes({ cloud: "COMMUNITY", count: req.count }, signal);
    let spot: RunpodSpotPrices | undefined;
    if (req.spot !== "never") {
      try {
        spot = await this.client.spotPrices(signal);
      } catch (e) {
        if (signal.aborted || (e instanceof ProviderError && e.kind === "auth")) throw e;
        // Spot prices come from GraphQL alone; without them the on-demand offers still stand.
        this.client.log.warn(`RunPod spot prices are unavailable (${e instanceof Error ? e.message : String(e)}); offering on-demand pods only`);
      }
    }
    const priceDate = (this.#o.now?.() ?? new Date()).toISOString().slice(0, 10);
    const offers = [...offersFrom(secure, "SECURE", req.count, spot, priceDate, this.#warn), ...offersFrom(community, "COMMUNITY", req.count, spot, priceDate, this.#warn)];
    return offers.filter((o) => matches(o, req)).sort((a, b) => a.pricePerHour - b.pricePerHour || a.instanceType.localeCompare(b.instanceType) || a.region.localeCompare(b.region) || Number(a.spot) - Number(b.spot));
  }

  #warn = (msg: string) => this.client.log.warn(msg);

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    const name = machineNameFor(req.intentId);
    const { offer } = req;
    if (offer.region === "any" || offer.available === false) {
      throw new ProviderError("runpod", "capacity", `RunPod has no stock of ${offer.instanceType} in any data centre right now`, { scope: "instance-type" });
    }
    if (!req.sshPublicKey) throw new ProviderError("runpod", "invalid", "launching on RunPod needs Kiln's SSH public key (it goes in the pod's PUBLIC_KEY)");
    const { gpuId, cloud } = parseInstanceType(offer.instanceType);
    const env: Record<string, string> = { PUBLIC_KEY: req.sshPublicKey.trim(), ...(offer.spot && { [SPOT_MARKER]: "1" }) };
    const image = this.#o.image ?? RUNPOD_IMAGE;
    // The planner's size when it sized one (the activation cache on disk), never less than Kiln's default.
    const disk = diskForLaunch("runpod", req, this.#o.containerDiskGb ?? CONTAINER_DISK_GB);
    const launchedAt = (this.#o.now?.() ?? new Date()).toISOString();
    if (!offer.spot) {
      const pod = await this.client.createPod({ name, image, gpu: { id: gpuId, count: offer.gpuCount }, cloud, dataCenterIds: [offer.region], disk, ports: ["22/tcp"], env }, signal);
      return { ...this.#record(pod), launchedAt, pricePerHour: pod.cost > 0 ? pod.cost : offer.pricePerHour };
    }
    const bidPerGpu = (offer.capPricePerHour ?? offer.pricePerHour) / offer.gpuCount;
    const id = await this.client.rentInterruptable(
      {
        bidPerGpu: Math.round(bidPerGpu * 1000) / 1000,
        cloudType: cloud,
        gpuTypeId: gpuId,
        gpuCount: offer.gpuCount,
        name,
        imageName: image,
        containerDiskInGb: disk,
        volumeInGb: 0,
        ports: "22/tcp",
        env: Object.entries(env).map(([key, value]) => ({ key, value })),
        dataCenterId: offer.region,
        supportPublicIp: true,
      },
      signal,
    );
    if (id === "") throw new LaunchOutcomeUnknownError("runpod", name, "RunPod answered the rent with an empty pod id");
    return { provider: "runpod", id, name, intentId: req.intentId, state: "pending", providerState: "PROVISIONING", instanceType: offer.instanceType, region: offer.region, pricePerHour: offer.pricePerHour, launchedAt };
  }

  async describe(id: string, signal: AbortSignal): Promise<MachineRecord> {
    try {
      return this.#record(await this.client.getPod(id, signal));
    } catch (e) {
      if (isNotFound(e)) return gone(id);
      throw e;
    }
  }

  async listMachines(signal: AbortSignal): Promise<MachineRecord[]> {
    const pods = await this.client.listPods(signal);
    // Only Kiln's pods: anything without the kiln- name is the user's and must never be touched.
    return pods.filter((p) => intentIdFromName(p.name) !== undefined).map((p) => this.#record(p));
  }

  async terminate(id: string, signal: AbortSignal): Promise<void> {
    this.#removing.add(id);
    try {
      await this.client.deletePod(id, signal);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
  }

  #record(p: RunpodPod): MachineRecord {
    const mapped = STATE[p.status] ?? "unknown";
    const direct = p.ssh.direct;
    const rec: MachineRecord = {
      provider: "runpod",
      id: p.id,
      name: p.name,
      intentId: intentIdFromName(p.name),
      // RUNNING is seen before the 22/tcp mapping exists: without ssh.direct the pod is not usable yet.
      state: mapped === "running" && !direct ? "pending" : mapped,
      providerState: p.status,
      instanceType: p.gpu ? instanceTypeFor(p.gpu.id, p.cloud === "COMMUNITY" ? "COMMUNITY" : "SECURE") : "cpu",
      region: p.dataCenterId ?? "any",
      pricePerHour: p.cost,
      launchedAt: p.createdAt,
    };
    if (direct && (mapped === "running" || mapped === "unhealthy")) rec.ssh = { host: direct.host, port: direct.port, user: direct.username };
    if (p.env[SPOT_MARKER] === "1" && (p.status === "EXITED" || p.status === "TERMINATED") && !this.#removing.has(p.id)) {
      rec.reclaimed = { reason: `RunPod ${p.status === "EXITED" ? "stopped" : "terminated"} the interruptible pod without notice (status ${p.status})` };
    }
    return rec;
  }
}

/** The bid per GPU-hour for a spot price, never above on-demand (and never below the spot price). */
export function bidFor(spotPerGpu: number, onDemandPerGpu: number): number {
  const bid = Math.min(spotPerGpu * BID_FACTOR, onDemandPerGpu);
  return Math.ceil(Math.max(bid, spotPerGpu) * 1000) / 1000;
}

/**
 * Offers from the v2 catalog of one cloud tier: one per data centre with stock (`NONE` is listed as
 * unavailable), one unavailable "any" row when the type is out everywhere, plus a spot offer beside each
 * when the GraphQL spot price is known. Types with an unbelievable price are dropped and reported.
 */
export function offersFrom(types: readonly RunpodGpuType[], cloud: "SECURE" | "COMMUNITY", count: number, spot: RunpodSpotPrices | undefined, priceDate: string, warn: (msg: string) => void = () => {}): Offer[] {
  const offers: Offer[] = [];
  for (const t of types) {
    const onTier = cloud === "SECURE" ? t.secure : t.community;
    const maxCount = cloud === "SECURE" ? t.maxCount.secure : t.maxCount.community;
    const perGpu = cloud === "SECURE" ? t.price.secure : t.price.community;
    const gpu = canonicalRunpodGpu(t.id, t.memory);
    if (!onTier || maxCount < count || !gpu) continue;
    if (!(perGpu > 0 && perGpu <= MAX_PRICE_PER_GPU_HOUR)) {
      if (perGpu !== 0) warn(`RunPod lists ${t.id} (${cloud.toLowerCase()}) at $${perGpu} per GPU-hour; left out of the offers (RunPod's API may be wrong right now)`);
      continue;
    }
    const base = { provider: "runpod" as const, instanceType: instanceTypeFor(t.id, cloud), gpu, gpuCount: count, vramGb: t.memory, diskGb: CONTAINER_DISK_GB, diskSizing: CONTAINER_DISK_SIZING, priceSource: "live" as const, priceDate };
    const places = t.dataCenters && t.dataCenters.length > 0 ? t.dataCenters.map((d) => ({ region: d.id, available: d.availability !== "NONE" })) : [{ region: "any", available: false }];
    const s = spot?.find((x) => x.id === t.id);
    const spotPerGpu = cloud === "SECURE" ? s?.secureSpotPrice : s?.communitySpotPrice;
    for (const p of places) {
      offers.push({ ...base, ...p, pricePerHour: round(perGpu * count), spot: false });
      if (spotPerGpu != null && spotPerGpu > 0 && spotPerGpu <= MAX_PRICE_PER_GPU_HOUR) {
        offers.push({ ...base, ...p, pricePerHour: round(spotPerGpu * count), capPricePerHour: round(bidFor(spotPerGpu, perGpu) * count), spot: true });
      }
    }
  }
  return offers;
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

function matches(o: Offer, req: GpuRequest): boolean {
  if (req.spot === "never" && o.spot) return false;
  if (req.gpus !== "any" && !req.gpus.includes(o.gpu)) return false;
  if (o.gpuCount !== req.count || o.vramGb < req.minVramGb) return false;
  if (req.regions && o.region !== "any" && !req.regions.includes(o.region)) return false;
  return req.maxPricePerHour === undefined || o.pricePerHour <= req.maxPricePerHour;
}

const isNotFound = (e: unknown): boolean => e instanceof ProviderError && e.status === 404;

function gone(id: string): MachineRecord {
  return { provider: "runpod", id, name: "", intentId: undefined, state: "terminated", providerState: "not-found", instanceType: "", region: "", pricePerHour: 0, notFound: true };
}
