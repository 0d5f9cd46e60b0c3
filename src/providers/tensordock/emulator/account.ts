/**
 * The emulated TensorDock organization: its locations and stock, its balance, and its instances with their
 * lifecycle (starting → running once the machine's sshd listens and the boot time has passed; deleting after
 * DELETE, then gone: 404), their billing (from create to DELETE), and the machine behind each (a loopback sshd authorizing the create's
 * `ssh_key`, when the emulator is given {@link SshdMachines}; otherwise a placeholder endpoint).
 */
import { randomUUID } from "node:crypto";
import { BillingMeter } from "../../emulator-kit/billing.js";
import type { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { type EmuLocation, type EmuLocationGpu, emuLocations, RESOURCE_PRICES } from "./catalog.js";

export type EmuStatus = "starting" | "running" | "deleting" | "deleted";

export interface EmuInstance {
  id: string;
  name: string;
  location: EmuLocation;
  gpu: EmuLocationGpu;
  gpuCount: number;
  vcpus: number;
  ramGb: number;
  storageGb: number;
  image: string;
  sshKey: string;
  useDedicatedIp: boolean;
  rateHourly: number;
  createdAt: number;
  status: EmuStatus;
  /** The machine's sshd, once it listens. */
  endpoint: { host: string; port: number } | undefined;
  deletedAt: number | undefined;
}

export interface AccountOptions {
  bootDelayMs: number;
  /** How long an instance shows "deleting" after DELETE before it is gone (404). */
  deleteDelayMs: number;
  machines?: SshdMachines | undefined;
  /** The organization's balance in USD (TensorDock refuses creates under $1). */
  balance?: number;
  now?: () => number;
}

export class TensordockAccount {
  readonly locations: EmuLocation[] = emuLocations();
  readonly instances = new Map<string, EmuInstance>();
  readonly meter: BillingMeter;
  balance: number;
  readonly #now: () => number;
  #placeholderPort = 20_000;

  constructor(private readonly o: AccountOptions) {
    this.#now = o.now ?? Date.now;
    this.meter = new BillingMeter(this.#now);
    this.balance = o.balance ?? 100;
  }

  location(id: string): EmuLocation | undefined {
    return this.locations.find((l) => l.id === id);
  }

  /** The hourly rate of a size: GPUs at their price plus each resource at its own (what offers.ts assumes). */
  static rate(gpu: EmuLocationGpu, count: number, vcpus: number, ramGb: number, storageGb: number): number {
    const total = count * gpu.pricePerGpuHr + vcpus * RESOURCE_PRICES.per_vcpu_hr + ramGb * RESOURCE_PRICES.per_gb_ram_hr + storageGb * RESOURCE_PRICES.per_gb_storage_hr;
    return Math.round(total * 1e6) / 1e6;
  }

  create(p: { name: string; location: EmuLocation; gpu: EmuLocationGpu; gpuCount: number; vcpus: number; ramGb: number; storageGb: number; image: string; sshKey: string; useDedicatedIp: boolean }): EmuInstance {
    const i: EmuInstance = { ...p, id: randomUUID(), rateHourly: TensordockAccount.rate(p.gpu, p.gpuCount, p.vcpus, p.ramGb, p.storageGb), createdAt: this.#now(), status: "starting", endpoint: undefined, deletedAt: undefined };
    p.gpu.free -= p.gpuCount;
    this.instances.set(i.id, i);
    this.meter.start(i.id, i.rateHourly, () => this.advance(i).status);
    this.#boot(i);
    return i;
  }

  #boot(i: EmuInstance): void {
    const machines = this.o.machines;
    if (!machines) {
      i.endpoint = { host: "127.0.0.1", port: this.#placeholderPort++ };
      return;
    }
    void machines.start(i.id, [i.sshKey]).then(
      async (ep) => {
        // Deleted while its sshd was starting: the machine goes with it.
        if (i.status === "deleting" || i.status === "deleted") await machines.stop(i.id);
        else i.endpoint = ep;
      },
      () => undefined,
    );
  }

  /** Move the instance along by the clock: running once booted and reachable; gone once deleting has run its time. */
  advance(i: EmuInstance): EmuInstance {
    const now = this.#now();
    if (i.status === "starting" && i.endpoint && now - i.createdAt >= this.o.bootDelayMs) i.status = "running";
    if (i.status === "deleting" && i.deletedAt !== undefined && now - i.deletedAt >= this.o.deleteDelayMs) {
      i.status = "deleted";
    }
    return i;
  }

  /** An instance the API still shows (not yet gone), advanced to now. */
  get(id: string): EmuInstance | undefined {
    const i = this.instances.get(id);
    return i && this.advance(i).status !== "deleted" ? i : undefined;
  }

  listed(): EmuInstance[] {
    return [...this.instances.values()].filter((i) => this.advance(i).status !== "deleted");
  }

  /** DELETE: the VM powers off at once (its sshd and processes die), shows "deleting" a while, then is gone. */
  async remove(i: EmuInstance): Promise<void> {
    if (i.status === "deleting" || i.status === "deleted") return;
    i.status = "deleting";
    i.deletedAt = this.#now();
    i.endpoint = undefined;
    i.gpu.free += i.gpuCount;
    // Billing ends when the VM is deleted (powered off and released), not when the listing catches up.
    this.meter.end(i.id);
    if (this.o.deleteDelayMs <= 0) this.advance(i);
    await this.o.machines?.stop(i.id);
  }

  homeOf(id: string): string | undefined {
    return this.o.machines?.homeOf(id);
  }

  async close(): Promise<void> {
    await this.o.machines?.closeAll();
  }
}
