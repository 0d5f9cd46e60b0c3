/**
 * Azure VMs as a Kiln provider. One resource group per job (`kiln-<intentId>`, tagged with the
 * installation and the intent) holds the VM and everything it needs (NIC, public IP, NSG, VNet, disk),
 * so terminate deletes that one group and nothing is left behind. Machine ids are `group/vm` (./ids.ts).
 *
 * - launch is idempotent by name (ARM PUTs address the resource by name) and returns once the VM's
 *   create operation settled: Azure's failed allocation leaves the VM resource behind
 *   (docs/lifecycle.md §12), so on any failure after the group exists the group is deleted and the
 *   deletion confirmed before the error is thrown.
 * - Spot: `priority: Spot`, `evictionPolicy: Delete`, `billingProfile.maxPrice` = the offer's
 *   capPricePerHour (the on-demand price when known: never evicted for price below it).
 * - Reclaim: an evicted Spot VM (policy Delete) is gone while its group remains, which Kiln never does
 *   itself (it deletes whole groups); describe reports it as `reclaimed`. On the machine, Scheduled
 *   Events' `Preempt` is the notice (descriptor reclaimNotice).
 */
import { implausiblePrice } from "../price-check.js";
import type { GpuRequest, LaunchRequest, MachineRecord, Offer, Provider, SupportsSpot } from "../provider.js";
import { ProviderError, installationOfIntent, intentIdFromName, machineNameFor } from "../provider.js";
import { AZURE_CATALOG, AZURE_SIZES, DEFAULT_REGIONS, sizeOf } from "./catalog.js";
import type { AzureClient } from "./client.js";
import { TAG_INSTALLATION, TAG_INTENT, TAG_PRIORITY, formatMachineId, parseMachineId, refForIntent } from "./ids.js";
import { ensureNetwork, publicAddress } from "./network.js";
import { type LivePrice, fetchRetailPrices, priceKey } from "./prices.js";
import { GroupOut, VmOut, parseAzure } from "./schema.js";
import { assertCanGrantSelfStop, grantSelfStop } from "./self-stop.js";
import { stateOf } from "./states.js";

const TAG_PRICE = "kiln-price-per-hour";
const TAG_LAUNCHED = "kiln-launched-at";

/** Canonical's Ubuntu 22.04 LTS Gen2 image [A: an NVIDIA-driver image (e.g. microsoft-dsvm ubuntu-hpc) may suit GPUs better]. */
export const DEFAULT_IMAGE = { publisher: "Canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts-gen2", version: "latest" } as const;

export interface AzureProviderOptions {
  client: AzureClient;
  regions?: readonly string[];
  /** The caller's address for the NSG's SSH rule, e.g. "203.0.113.7/32". */
  sshSourceCidr(signal: AbortSignal): Promise<string>;
  /** The VM's admin user (SSH user); default "kiln". */
  sshUser?: string;
  image?: { publisher: string; offer: string; sku: string; version: string };
  /** Emulators: the SSH port of a machine (a real VM listens on 22). */
  sshPortOf?(id: string): number | undefined;
  /** Live prices from the Retail Prices API at this URL; `false`: the dated catalog only. */
  pricesUrl?: string | false;
  /** How long a create operation may take before launch gives up (and cleans up); default 20 min. */
  launchTimeoutMs?: number;
  /** How long a group may miss its VM right after launch before that means the VM is gone; default 10 s. */
  vmLagMs?: number;
  /** How long launch waits for a failed launch's group to be deleted; default 10 min. */
  cleanupTimeoutMs?: number;
  cleanupPollMs?: number;
}

export class AzureProvider implements Provider, SupportsSpot {
  readonly name = "azure";
  readonly spotNoticeSeconds = 30;
  readonly #regions: readonly string[];
  readonly #user: string;

  constructor(private readonly o: AzureProviderOptions) {
    this.#regions = o.regions?.length ? o.regions : DEFAULT_REGIONS;
    this.#user = o.sshUser ?? "kiln";
  }

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    signal.throwIfAborted();
    // A launch usually follows: load the SDKs (a second or two) while the prices are fetched.
    void this.o.client.sdk().catch(() => undefined);
    const regions = this.#regions.filter((r) => !req.regions || req.regions.includes(r));
    const sizes = AZURE_SIZES.filter((s) => s.gpuCount === req.count && s.vramGb >= req.minVramGb && (req.gpus === "any" || req.gpus.includes(s.gpu)));
    if (regions.length === 0 || sizes.length === 0) return [];
    const live = await this.#livePrices(regions, sizes.map((s) => s.armSku), signal);
    const offers: Offer[] = [];
    for (const region of regions) {
      for (const s of sizes) {
        const row = AZURE_CATALOG.find((r) => r.instanceType === s.armSku);
        const lp = live?.get(priceKey(region, s.armSku));
        // A live price that is not believable (≤ $0, or over $100 per GPU-hour) is not planned on: that row
        // falls back to the dated catalog, which says so.
        const believable = (p: number | undefined) => (p !== undefined && implausiblePrice(p, s.gpuCount) === undefined ? p : undefined);
        const liveOnDemand = believable(lp?.onDemand);
        const liveSpot = believable(lp?.spot);
        const fromLive = lp !== undefined && liveOnDemand === lp.onDemand && liveSpot === lp.spot;
        const source = fromLive ? { priceSource: "live" as const, priceDate: lp.date } : { priceSource: "catalog" as const, priceDate: row?.date ?? "" };
        const onDemand = fromLive ? liveOnDemand : row?.pricePerHour;
        const spot = fromLive ? liveSpot : row?.spotPricePerHour;
        const base = { provider: this.name, instanceType: s.armSku, gpu: s.gpu, gpuCount: s.gpuCount, vramGb: s.vramGb, vcpus: s.vcpus, memoryGb: s.memoryGb, region, available: undefined, ...source };
        if (req.spot !== "never" && spot !== undefined) offers.push({ ...base, pricePerHour: spot, capPricePerHour: Math.max(spot, onDemand ?? spot), spot: true });
        if (onDemand !== undefined) offers.push({ ...base, pricePerHour: onDemand, spot: false });
      }
    }
    return offers.filter((o) => req.maxPricePerHour === undefined || o.pricePerHour <= req.maxPricePerHour);
  }

  async #livePrices(regions: readonly string[], skus: readonly string[], signal: AbortSignal): Promise<Map<string, LivePrice> | undefined> {
    if (this.o.pricesUrl === false) return undefined;
    try {
      return await fetchRetailPrices(regions, skus, signal, { ...(this.o.pricesUrl && { url: this.o.pricesUrl }) });
    } catch (e) {
      if (signal.aborted) throw e;
      return undefined; // unreachable or malformed: the dated catalog stands in
    }
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    signal.throwIfAborted();
    const name = machineNameFor(req.intentId);
    const ref = refForIntent(name);
    const size = sizeOf(req.offer.instanceType);
    if (!size) throw new ProviderError("azure", "invalid", `unknown Azure VM size ${req.offer.instanceType}`, { code: "kiln/unknown-size" });
    if (!req.sshPublicKey) throw new ProviderError("azure", "invalid", "an Azure launch needs the SSH public key (LaunchRequest.sshPublicKey)", { code: "kiln/no-ssh-key" });
    const region = req.offer.region;
    const tags: Record<string, string> = {
      [TAG_INTENT]: req.intentId,
      [TAG_INSTALLATION]: installationOfIntent(req.intentId) ?? "legacy",
      [TAG_PRIORITY]: req.offer.spot ? "Spot" : "Regular",
      [TAG_PRICE]: String(req.offer.pricePerHour),
      [TAG_LAUNCHED]: new Date().toISOString(),
    };
    const at = { machineName: name, region };
    // Before anything bills: can the VM be given the right to delete itself, when the job needs that?
    if (req.selfStop) await assertCanGrantSelfStop(this.o.client, signal);
    const existing = await this.#group(ref.resourceGroup, signal);
    // A relaunch of the same intent keeps its group's tags (launch time, price) and re-asserts the rest.
    if (existing) Object.assign(tags, existing.tags);
    await this.o.client.call("create the resource group", signal, (s, abortSignal) => s.resources.resourceGroups.createOrUpdate(ref.resourceGroup, { location: region, tags }, { abortSignal }), at);
    try {
      const cidr = await this.o.sshSourceCidr(signal);
      const nicId = await ensureNetwork(this.o.client, { group: ref.resourceGroup, location: region, tags, sshSourceCidr: cidr }, signal);
      const spot = req.offer.spot ? { priority: "Spot", evictionPolicy: "Delete", billingProfile: { maxPrice: req.offer.capPricePerHour ?? req.offer.pricePerHour } } : { priority: "Regular" };
      const created = await this.o.client.call(
        "create the VM",
        signal,
        (s, abortSignal) =>
          s.compute.virtualMachines.createOrUpdate(
            ref.resourceGroup,
            ref.vmName,
            {
              location: region,
              tags,
              hardwareProfile: { vmSize: size.armSku },
              storageProfile: { imageReference: this.o.image ?? DEFAULT_IMAGE, osDisk: { createOption: "FromImage", deleteOption: "Delete", diskSizeGB: 256, managedDisk: { storageAccountType: "Premium_LRS" } } },
              osProfile: {
                computerName: ref.vmName,
                adminUsername: this.#user,
                linuxConfiguration: { disablePasswordAuthentication: true, ssh: { publicKeys: [{ path: `/home/${this.#user}/.ssh/authorized_keys`, keyData: req.sshPublicKey! }] } },
              },
              networkProfile: { networkInterfaces: [{ id: nicId, primary: true, deleteOption: "Delete" }] },
              ...spot,
              ...(req.selfStop && { identity: { type: "SystemAssigned" } }),
            } as Parameters<typeof s.compute.virtualMachines.createOrUpdate>[2],
            { abortSignal, updateIntervalInMs: this.o.client.pollIntervalMs },
          ),
        { ...at, timeoutMs: this.o.launchTimeoutMs ?? 20 * 60_000 },
      );
      if (req.selfStop) await this.#grantSelfStop(parseAzure(VmOut, created, "create the VM"), signal);
    } catch (e) {
      // The group exists (and maybe a Failed VM in it): terminate and confirm before reporting. A launch
      // whose outcome is unknown is left to the lifecycle, which finds the group by name.
      if (e instanceof ProviderError && "maybeLaunched" in e) throw e;
      if (signal.aborted) throw e;
      await this.#deleteAndConfirm(formatMachineId(ref)).catch(() => undefined);
      throw e;
    }
    return this.describe(formatMachineId(ref), signal);
  }

  /** Give the new VM's identity its right to delete the VM (./self-stop.ts); a VM without one is a failed launch. */
  async #grantSelfStop(vm: VmOut, signal: AbortSignal): Promise<void> {
    const principalId = vm.identity?.principalId;
    if (!vm.id || !principalId) throw new ProviderError("azure", "fatal", `Azure: the VM ${vm.name} came back without its system-assigned identity`, { code: "kiln/no-identity" });
    await grantSelfStop(this.o.client, { vmResourceId: vm.id, principalId, ...(this.o.client.emulated && { retryEveryMs: 200 }) }, signal);
  }

  async #deleteAndConfirm(id: string): Promise<void> {
    const deadline = Date.now() + (this.o.cleanupTimeoutMs ?? 10 * 60_000);
    const signal = AbortSignal.timeout(this.o.cleanupTimeoutMs ?? 10 * 60_000);
    await this.terminate(id, signal);
    while (Date.now() < deadline) {
      if ((await this.describe(id, signal)).state === "terminated") return;
      await new Promise((r) => setTimeout(r, this.o.cleanupPollMs ?? 5_000));
    }
  }

  async #group(name: string, signal: AbortSignal): Promise<GroupOut | undefined> {
    try {
      const g = await this.o.client.call("read the resource group", signal, (s, abortSignal) => s.resources.resourceGroups.get(name, { abortSignal }));
      return parseAzure(GroupOut, g, "read the resource group");
    } catch (e) {
      if (e instanceof ProviderError && e.status === 404) return undefined;
      throw e;
    }
  }

  async #vm(group: string, name: string, signal: AbortSignal): Promise<VmOut | undefined> {
    try {
      const vm = await this.o.client.call("read the VM", signal, (s, abortSignal) => s.compute.virtualMachines.get(group, name, { abortSignal, expand: "instanceView" }));
      return parseAzure(VmOut, vm, "read the VM");
    } catch (e) {
      if (e instanceof ProviderError && e.status === 404) return undefined;
      throw e;
    }
  }

  async describe(id: string, signal: AbortSignal): Promise<MachineRecord> {
    const ref = parseMachineId(id);
    const group = await this.#group(ref.resourceGroup, signal);
    const base = { provider: this.name, id, name: ref.vmName, intentId: intentIdFromName(ref.vmName), instanceType: "", region: group?.location ?? "", pricePerHour: Number(group?.tags?.[TAG_PRICE] ?? 0) || 0 };
    if (!group) return { ...base, state: "terminated", providerState: "NotFound", notFound: true };
    const launchedAt = group.tags?.[TAG_LAUNCHED];
    const withLaunch = { ...base, ...(launchedAt && { launchedAt }) };
    if (group.properties?.provisioningState === "Deleting") return { ...withLaunch, state: "terminating", providerState: "Deleting" };
    const vm = await this.#vm(ref.resourceGroup, ref.vmName, signal);
    if (!vm) {
      const young = launchedAt !== undefined && Date.now() - Date.parse(launchedAt) < (this.o.vmLagMs ?? 10_000);
      if (young) return { ...withLaunch, state: "pending", providerState: "VMNotYetListed" };
      // The group is there without its VM (and its OS disk, deleteOption Delete): a Spot eviction
      // (evictionPolicy Delete), or the VM deleted itself at the cap (./self-stop.ts). Either way what is
      // left may bill (the public IP): terminate deletes it, and nothing on the VM can be saved any more.
      const spot = group.tags?.[TAG_PRIORITY] === "Spot";
      return { ...withLaunch, state: "unhealthy", providerState: "VMGone", outputsGone: true, ...(spot && { reclaimed: { reason: "Azure evicted the Spot VM (evictionPolicy Delete)" } }) };
    }
    const { state, providerState } = stateOf(vm);
    // Billing starts with the VM, not with its group (made seconds earlier, with the network).
    const created = vm.timeCreated === undefined ? undefined : new Date(vm.timeCreated);
    const vmLaunchedAt = created && !Number.isNaN(created.getTime()) ? created.toISOString() : launchedAt;
    const rec: MachineRecord = { ...withLaunch, ...(vmLaunchedAt && { launchedAt: vmLaunchedAt }), instanceType: vm.hardwareProfile?.vmSize ?? "", region: vm.location, state, providerState };
    if (vm.priority === "Spot" && providerState.endsWith("/deallocated")) rec.reclaimed = { reason: "Azure evicted the Spot VM (deallocated)" };
    if (state !== "running") return rec;
    const host = await publicAddress(this.o.client, ref.resourceGroup, signal);
    const port = this.o.sshPortOf ? this.o.sshPortOf(id) : 22;
    // Running without an address (or, emulated, a port) is not usable yet.
    if (!host || port === undefined) return { ...rec, state: "pending", providerState: `${providerState} (no address yet)` };
    return { ...rec, ssh: { host, port, user: this.#user } };
  }

  async listMachines(signal: AbortSignal): Promise<MachineRecord[]> {
    const groups = await this.o.client.call("list resource groups", signal, async (s, abortSignal) => {
      const out: unknown[] = [];
      for await (const g of s.resources.resourceGroups.list({ abortSignal })) out.push(g);
      return out;
    });
    // Only groups Kiln made (its name and tag); anything else is never returned, so never touched.
    const kiln = groups.map((g) => parseAzure(GroupOut, g, "list resource groups")).filter((g) => g.name.startsWith("kiln-") && g.tags?.[TAG_INTENT] !== undefined);
    const out: MachineRecord[] = [];
    for (const g of kiln) out.push(await this.describe(formatMachineId(refForIntent(g.name)), signal));
    return out;
  }

  async terminate(id: string, signal: AbortSignal): Promise<void> {
    const ref = parseMachineId(id);
    try {
      await this.o.client.call("delete the resource group", signal, (s, abortSignal) => s.resources.resourceGroups.beginDelete(ref.resourceGroup, { abortSignal, updateIntervalInMs: this.o.client.pollIntervalMs }));
    } catch (e) {
      if (e instanceof ProviderError && e.status === 404) return; // already gone
      throw e;
    }
  }
}
