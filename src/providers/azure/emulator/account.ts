/**
 * The emulated subscription's state: resource groups, VMs (Microsoft.Compute, per the 2024-07-01 Swagger),
 * the few network resources Kiln makes (kept minimal: they are not in that Swagger), and the long-running
 * operations that ARM answers creates and deletes with. Each running VM is a real loopback sshd
 * (SshdMachines) and bills from allocation until it is deleted or evicted (BillingMeter).
 *
 * Timing: a VM's create operation settles on the first status poll after `allocateMs`; the VM is then
 * `ProvisioningState/succeeded` + `PowerState/starting` until its sshd listens and `bootDelayMs` passed,
 * then `PowerState/running`. A resource group delete removes everything in it after `deleteMs`.
 *
 * Spot eviction ({@link AzureAccount.preempt}): a `Preempt` Scheduled Event in the VM's metadata
 * (./scheduled-events.ts) with `NotBefore` `noticeMs` ahead, then at that time the VM is deleted
 * (evictionPolicy Delete) and its group stays.
 */
import { randomUUID } from "node:crypto";
import { BillingMeter } from "../../emulator-kit/billing.js";
import { ListingLag } from "../../emulator-kit/faults.js";
import type { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { type AzureSize, sizeOf } from "../catalog.js";
import { Identities } from "./identity.js";
import type { EmulatedPrice } from "./prices.js";
import { type ScheduledEventsDocument, type ScheduledEventsSource, preemptEvent } from "./scheduled-events.js";

export interface Group {
  name: string;
  location: string;
  tags: Record<string, string>;
  deleting: boolean;
  /** The delete operation, so a second delete answers the same one (ARM's delete is idempotent). */
  deleteOp?: string;
}

export interface Vm {
  name: string;
  group: string;
  location: string;
  vmId: string;
  size: AzureSize;
  tags: Record<string, string>;
  /** The request's `properties`, echoed back (less secrets) as ARM does. */
  properties: Record<string, unknown>;
  spot: boolean;
  provisioningState: "Creating" | "Succeeded" | "Failed" | "Deleting";
  power: "starting" | "running" | "deallocated" | "stopped" | undefined;
  bootedAtMs: number | undefined;
  createdAt: string;
  publicKeys: string[];
  pricePerHour: number;
  /** Its system-assigned managed identity's principal, when it was created with one (./identity.ts). */
  principalId?: string;
  /** The create operation: it settles when due whether or not anyone polls it (a client that lost the
   * PUT's answer reads the VM instead). */
  createOp?: string;
}

export interface Operation {
  id: string;
  status: "InProgress" | "Succeeded" | "Failed";
  startTime: string;
  endTime?: string;
  error?: { code: string; message: string };
  /** Settles the operation: called on a poll once `readyAtMs` has passed. */
  settle(): { code: string; message: string } | undefined;
  readyAtMs: number;
}

export interface AccountOptions {
  subscriptionId: string;
  machines: SshdMachines;
  prices: readonly EmulatedPrice[];
  allocateMs?: number;
  bootDelayMs?: number;
  deleteMs?: number;
  /** Between a Spot VM's `Preempt` event and its eviction when the caller names none; default 0. */
  preemptNoticeMs?: number;
  /** Environment a VM's sessions get (how the VM reaches its metadata service, ./scheduled-events.ts). */
  machineEnv?(vm: Vm): Record<string, string>;
  now?: () => number;
}

const key = (...parts: string[]) => parts.join("/").toLowerCase();
/** A resource group's key in the listing lag (VMs are keyed `group/vm`). */
export const groupLagKey = (group: string): string => `group:${group.toLowerCase()}`;

export class AzureAccount implements ScheduledEventsSource {
  /** Managed identities, roles and their assignments (./identity.ts). */
  readonly identities = new Identities();
  readonly groups = new Map<string, Group>();
  readonly vms = new Map<string, Vm>();
  /** Network resources by lower-cased ARM id; minimal bodies. */
  readonly network = new Map<string, { group: string; body: Record<string, unknown> }>();
  readonly operations = new Map<string, Operation>();
  readonly meter: BillingMeter;
  readonly lag: ListingLag;
  readonly #now: () => number;
  readonly #ssh = new Map<string, { host: string; port: number }>();
  /** Scheduled Events per VM (by lower-cased `group/vm`); a VM without any reads `{0, []}`. */
  readonly #events = new Map<string, ScheduledEventsDocument>();
  /** Every Scheduled Events read a VM made, with the incarnation it saw (what tests assert on). */
  readonly imdsReads: { vm: string; incarnation: number; types: string[] }[] = [];
  /** Evictions waiting for NotBefore, by VM: called when the VM goes first. */
  readonly #onGone = new Map<string, () => void>();

  constructor(readonly o: AccountOptions) {
    this.#now = o.now ?? Date.now;
    this.meter = new BillingMeter(this.#now);
    this.lag = new ListingLag(this.#now);
  }

  vmKey = (group: string, name: string) => key(group, name);
  group = (name: string) => this.groups.get(name.toLowerCase());
  vm = (group: string, name: string): Vm | undefined => {
    const vm = this.vms.get(key(group, name));
    if (vm?.createOp) this.poll(vm.createOp);
    return vm;
  };
  sshOf = (group: string, name: string) => this.#ssh.get(key(group, name));
  vmById = (vmId: string): Vm | undefined => [...this.vms.values()].find((v) => v.vmId === vmId);

  /** The VM's Scheduled Events document (ScheduledEventsSource), or undefined for no such VM. */
  documentOf(vmId: string): ScheduledEventsDocument | undefined {
    const vm = this.vmById(vmId);
    if (!vm) return undefined;
    return this.#events.get(key(vm.group, vm.name)) ?? { DocumentIncarnation: 0, Events: [] };
  }

  recordRead(vmId: string, doc: ScheduledEventsDocument): void {
    const vm = this.vmById(vmId);
    if (!vm) return;
    this.imdsReads.push({ vm: key(vm.group, vm.name), incarnation: doc.DocumentIncarnation, types: doc.Events.map((e) => e.EventType) });
    // A watcher polls every few seconds for as long as `kiln emulate azure` runs: keep the recent reads only.
    if (this.imdsReads.length > 2_000) this.imdsReads.splice(0, 1_000);
  }

  priceOf(size: AzureSize, region: string, spot: boolean): number | undefined {
    const p = this.o.prices.find((x) => x.size.armSku === size.armSku && x.region === region);
    return p && (spot ? p.spot : p.onDemand);
  }

  regions(): string[] {
    return [...new Set(this.o.prices.map((p) => p.region))];
  }

  newOperation(settle: () => { code: string; message: string } | undefined, delayMs = 0): Operation {
    const op: Operation = { id: randomUUID(), status: "InProgress", startTime: new Date(this.#now()).toISOString(), settle, readyAtMs: this.#now() + delayMs };
    this.operations.set(op.id, op);
    return op;
  }

  /** The operation as a poll sees it: settled once it is due. */
  poll(id: string): Operation | undefined {
    const op = this.operations.get(id);
    if (op && op.status === "InProgress" && this.#now() >= op.readyAtMs) {
      const error = op.settle();
      op.status = error ? "Failed" : "Succeeded";
      op.endTime = new Date(this.#now()).toISOString();
      if (error) op.error = error;
    }
    return op;
  }

  createVm(group: Group, name: string, body: { location: string; tags?: Record<string, string>; properties: Record<string, unknown> }, publicKeys: string[], failWith?: { code: string; message: string }): { vm: Vm; op: Operation } {
    const props = body.properties;
    const size = sizeOf(String((props["hardwareProfile"] as { vmSize?: string } | undefined)?.vmSize ?? ""))!;
    const spot = props["priority"] === "Spot";
    const vm: Vm = {
      name,
      group: group.name,
      location: body.location,
      vmId: randomUUID(),
      size,
      tags: body.tags ?? {},
      properties: props,
      spot,
      provisioningState: "Creating",
      power: undefined,
      bootedAtMs: undefined,
      createdAt: new Date(this.#now()).toISOString(),
      publicKeys,
      pricePerHour: this.priceOf(size, body.location, spot) ?? 0,
    };
    this.vms.set(key(group.name, name), vm);
    const op = this.newOperation(() => {
      if (failWith) {
        // A failed allocation leaves the VM resource behind, Failed, billing nothing (docs/lifecycle.md §12).
        vm.provisioningState = "Failed";
        return failWith;
      }
      vm.provisioningState = "Succeeded";
      vm.power = "starting";
      this.meter.start(key(vm.group, vm.name), vm.pricePerHour, () => this.statusOf(vm));
      void this.#boot(vm);
      return undefined;
    }, this.o.allocateMs ?? 0);
    vm.createOp = op.id;
    return { vm, op };
  }

  async #boot(vm: Vm): Promise<void> {
    const k = key(vm.group, vm.name);
    const ssh = await this.o.machines.start(k, vm.publicKeys, this.o.machineEnv?.(vm));
    if (this.vms.get(k) !== vm) return void (await this.o.machines.stop(k));
    this.#ssh.set(k, ssh);
    vm.bootedAtMs = this.#now() + (this.o.bootDelayMs ?? 0);
  }

  /** The VM's power state now (starting until its sshd listens and the boot delay passed). */
  powerOf(vm: Vm): Vm["power"] {
    if (vm.power === "starting" && vm.bootedAtMs !== undefined && this.#now() >= vm.bootedAtMs) vm.power = "running";
    return vm.power;
  }

  statusOf(vm: Vm): string {
    if (!this.vms.has(key(vm.group, vm.name))) return "terminated";
    return vm.provisioningState === "Succeeded" ? (this.powerOf(vm) ?? "unknown") : vm.provisioningState.toLowerCase();
  }

  async removeVm(vm: Vm): Promise<void> {
    const k = key(vm.group, vm.name);
    if (this.vms.get(k) !== vm) return;
    // Power off first (its processes die), then the VM is gone and its billing ends, together: a
    // client confirming the deletion sees it gone when the meter stops, not a second later.
    await this.o.machines.stop(k);
    if (this.vms.get(k) !== vm) return;
    this.vms.delete(k);
    this.#ssh.delete(k);
    this.#events.delete(k);
    this.meter.end(k);
    this.#onGone.get(k)?.();
  }

  /** A Spot eviction with evictionPolicy Delete: the VM (and its disk) go, its group stays. */
  async evict(vm: Vm): Promise<void> {
    await this.removeVm(vm);
  }

  /**
   * Azure's Spot eviction with its notice: a `Preempt` event in the VM's Scheduled Events now, `NotBefore`
   * `noticeMs` ahead (default the account's), then the eviction at that time. Resolves once the VM is gone,
   * by the eviction or earlier (a client that deleted its group during the notice).
   */
  async preempt(vm: Vm, noticeMs = this.o.preemptNoticeMs ?? 0): Promise<void> {
    const k = key(vm.group, vm.name);
    if (this.vms.get(k) !== vm) return;
    const doc = this.#events.get(k) ?? { DocumentIncarnation: 0, Events: [] };
    const event = preemptEvent(vm.name, this.#now() + noticeMs);
    this.#events.set(k, { DocumentIncarnation: doc.DocumentIncarnation + 1, Events: [...doc.Events, event] });
    if (noticeMs > 0) {
      // NotBefore, or earlier when the VM goes first (its group deleted during the notice).
      await new Promise<void>((r) => {
        const t = setTimeout(r, noticeMs);
        t.unref();
        this.#onGone.set(k, () => {
          clearTimeout(t);
          r();
        });
      });
      this.#onGone.delete(k);
    }
    if (this.vms.get(k) !== vm) return;
    // NotBefore passed: the event is carried out (Started) and the VM evicted.
    const now = this.#events.get(k);
    if (now) this.#events.set(k, { DocumentIncarnation: now.DocumentIncarnation + 1, Events: now.Events.map((e) => (e.EventId === event.EventId ? { ...e, EventStatus: "Started" } : e)) });
    await this.evict(vm);
  }

  /** Begin deleting a group and everything in it; the operation settles after `deleteMs`. */
  deleteGroup(group: Group): Operation {
    const running = group.deleteOp ? this.operations.get(group.deleteOp) : undefined;
    if (running) return running;
    group.deleting = true;
    for (const vm of this.vms.values()) if (vm.group.toLowerCase() === group.name.toLowerCase()) vm.provisioningState = "Deleting";
    // Settles only once everything in the group is gone (the VM's sshd stopped, its billing ended).
    const op = this.newOperation(() => undefined, Number.POSITIVE_INFINITY);
    group.deleteOp = op.id;
    const finish = async () => {
      for (const vm of [...this.vms.values()]) if (vm.group.toLowerCase() === group.name.toLowerCase()) await this.removeVm(vm);
      for (const [id, r] of this.network) if (r.group.toLowerCase() === group.name.toLowerCase()) this.network.delete(id);
      this.groups.delete(group.name.toLowerCase());
      op.readyAtMs = 0;
    };
    setTimeout(() => void finish(), this.o.deleteMs ?? 0).unref();
    return op;
  }

  billed() {
    const vmsByKey = new Map([...this.vms.entries()]);
    return this.meter.billed().map((b) => ({ ...b, vm: vmsByKey.get(b.id) }));
  }
}
