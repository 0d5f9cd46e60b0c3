/**
 * A toy cloud for tests: an in-memory provider that follows the contract (intent-named machines,
 * idempotent terminate, unknown ids terminated, capacity errors), with the faults a lifecycle must
 * survive: a listing that lags behind launches, and spot machines the cloud reclaims. Its descriptor is
 * what a new provider's folder exports; tests add it to the registry with one `registerProvider` call,
 * which is how the registry's "one folder plus one line" claim is checked.
 */
import { type CatalogRow, catalogRow } from "../catalog-row.js";
import type { ProviderDescriptor } from "../descriptor.js";
import { type GpuRequest, type LaunchRequest, type MachineRecord, type Offer, type Provider, ProviderError, intentIdFromName, machineNameFor } from "../provider.js";

export interface ToyMachine extends MachineRecord {
  /** Listed from this time on (ms since epoch): a lagging listing. */
  listedFrom: number;
}

export class ToyCloud implements Provider {
  readonly machines = new Map<string, ToyMachine>();
  /** Instance types sold out. */
  readonly soldOut = new Set<string>();
  /** How long a launched machine stays out of the listing. */
  listingLagMs = 0;
  #n = 0;

  constructor(
    readonly name: string,
    readonly rows: readonly CatalogRow[],
  ) {}

  async listOffers(req: GpuRequest): Promise<Offer[]> {
    return this.rows
      .filter((r) => (req.gpus === "any" || req.gpus.includes(r.gpu)) && r.vramGb >= req.minVramGb)
      .map((r) => ({ provider: this.name, instanceType: r.instanceType, gpu: r.gpu, gpuCount: r.gpuCount, vramGb: r.vramGb, region: "toy-1", pricePerHour: r.pricePerHour, spot: false, available: !this.soldOut.has(r.instanceType), priceSource: "live", priceDate: new Date().toISOString().slice(0, 10) }));
  }

  async launch(req: LaunchRequest): Promise<MachineRecord> {
    if (this.soldOut.has(req.offer.instanceType)) throw new ProviderError(this.name, "capacity", `${req.offer.instanceType} is sold out`, { scope: "instance-type" });
    const id = `toy-${++this.#n}`;
    const m: ToyMachine = { provider: this.name, id, name: machineNameFor(req.intentId), intentId: req.intentId, state: "running", providerState: "up", instanceType: req.offer.instanceType, region: req.offer.region, pricePerHour: req.offer.pricePerHour, launchedAt: new Date().toISOString(), listedFrom: Date.now() + this.listingLagMs };
    this.machines.set(id, m);
    return m;
  }

  async describe(id: string): Promise<MachineRecord> {
    return this.machines.get(id) ?? { provider: this.name, id, name: "", intentId: undefined, state: "terminated", providerState: "gone", instanceType: "", region: "", pricePerHour: 0 };
  }

  async listMachines(): Promise<MachineRecord[]> {
    return [...this.machines.values()].filter((m) => m.listedFrom <= Date.now() && intentIdFromName(m.name) !== undefined);
  }

  async terminate(id: string): Promise<void> {
    this.machines.delete(id);
  }

  /** A machine the user launched by hand, named as they like (never Kiln's to touch). */
  foreign(name: string): string {
    const id = `toy-${++this.#n}`;
    this.machines.set(id, { provider: this.name, id, name, intentId: intentIdFromName(name), state: "running", providerState: "up", instanceType: "toy.small", region: "toy-1", pricePerHour: 0.1, listedFrom: 0 });
    return id;
  }
}

/** The descriptor a new provider's folder would export, for a toy cloud with one account. */
export function toyDescriptor(name = "toy"): ProviderDescriptor & { cloud: ToyCloud } {
  const catalog = [catalogRow(name, "toy.a100", "A100-40GB", 40, 0.42, "toy price list"), catalogRow(name, "toy.small", "A10-24GB", 24, 0.1, "toy price list")];
  const cloud = new ToyCloud(name, catalog);
  return {
    name,
    title: "Toy Cloud",
    kind: "cloud",
    tier: "reliable",
    catalog,
    consoleUrl: "https://toy.example/console",
    listingLagMs: 1_000,
    credentials: { envVars: ["TOY_TOKEN"], fileSection: name, fileExample: `{"${name}": {"token": "…"}}` },
    hasCredentials: (ctx) => Boolean(ctx.env["TOY_TOKEN"]),
    configured: async (ctx) => (ctx.env["TOY_TOKEN"] ? { provider: cloud, source: "TOY_TOKEN", emulated: true } : undefined),
    check: async (ctx) => (ctx.env["TOY_TOKEN"] ? `token from TOY_TOKEN works (${cloud.machines.size} machines)` : undefined),
    cloud,
  };
}
