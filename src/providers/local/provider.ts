/**
 * The local provider: "this machine". One offer, priced at 0 unless the user sets a price (their
 * electricity, or to rehearse a budget); launch only registers the machine (nothing boots and nothing
 * bills elsewhere), describe says running until terminate, and terminate is idempotent. The GPU fields
 * come from the caller (the GPU probe), so this file never shells out.
 */
import { hostname } from "node:os";
import type { GpuRequest, LaunchRequest, MachineRecord, Offer, Provider } from "../provider.js";
import { machineNameFor } from "../provider.js";

export type { LocalMachineInfo } from "../descriptor.js";
import type { LocalMachineInfo } from "../descriptor.js";

export interface LocalProviderOptions {
  machine: LocalMachineInfo;
  pricePerHour: number;
  /** ISO date for the offer's price (today by default). */
  today?: string;
  now?: () => Date;
}

export const LOCAL_INSTANCE_TYPE = "this-machine";

export class LocalProvider implements Provider {
  readonly name = "local" as const;
  private readonly machines = new Map<string, MachineRecord>();

  constructor(private readonly opts: LocalProviderOptions) {}

  offer(): Offer {
    const m = this.opts.machine;
    return {
      provider: "local",
      instanceType: LOCAL_INSTANCE_TYPE,
      gpu: m.gpu,
      gpuCount: m.gpuCount,
      vramGb: m.vramGb,
      ...(m.vcpus === undefined ? {} : { vcpus: m.vcpus }),
      ...(m.memoryGb === undefined ? {} : { memoryGb: m.memoryGb }),
      region: "local",
      pricePerHour: this.opts.pricePerHour,
      spot: false,
      available: true,
      priceSource: "live",
      priceDate: this.opts.today ?? (this.opts.now?.() ?? new Date()).toISOString().slice(0, 10),
    };
  }

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    signal.throwIfAborted();
    const o = this.offer();
    // "Nothing fits" is an empty list, never an error (the contract). A CPU-only computer has no GPU to
    // offer: a job that may run on the CPU is the planner's decision (offer()), not a GPU offer.
    if (req.count > o.gpuCount || o.vramGb < req.minVramGb) return [];
    if (req.gpus !== "any" && !req.gpus.includes(o.gpu)) return [];
    if (req.regions && !req.regions.includes(o.region)) return [];
    if (req.maxPricePerHour !== undefined && o.pricePerHour > req.maxPricePerHour) return [];
    return [o];
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    signal.throwIfAborted();
    const id = `local-${req.intentId}`;
    const existing = this.machines.get(id);
    if (existing) return existing;
    const rec: MachineRecord = {
      provider: "local",
      id,
      name: machineNameFor(req.intentId),
      intentId: req.intentId,
      state: "running",
      providerState: "registered",
      instanceType: LOCAL_INSTANCE_TYPE,
      region: hostname(),
      pricePerHour: req.offer.pricePerHour,
      launchedAt: (this.opts.now?.() ?? new Date()).toISOString(),
    };
    this.machines.set(id, rec);
    return rec;
  }

  async describe(id: string, signal: AbortSignal): Promise<MachineRecord> {
    signal.throwIfAborted();
    const rec = this.machines.get(id);
    // An id we do not know is "terminated" (the contract): another process may have launched it.
    if (!rec) return { provider: "local", id, name: "", intentId: undefined, state: "terminated", providerState: "unknown", instanceType: LOCAL_INSTANCE_TYPE, region: hostname(), pricePerHour: 0 };
    return rec;
  }

  async listMachines(signal: AbortSignal): Promise<MachineRecord[]> {
    signal.throwIfAborted();
    return [...this.machines.values()].filter((m) => m.state !== "terminated");
  }

  async terminate(id: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const rec = this.machines.get(id);
    if (rec) this.machines.set(id, { ...rec, state: "terminated", providerState: "released" });
  }
}
