/**
 * The emulated Thunder account's state: instances in a map keyed like the real listing (small integers as
 * strings, the lowest free one reused — which is why Kiln's machine id is the uuid, not the key), each moving
 * PROVISIONING → RUNNING (once its machine is up) → DELETING → gone, billed from create to delete.
 */
import { randomUUID } from "node:crypto";
import { BillingMeter } from "../../emulator-kit/billing.js";
import type { SshEndpoint } from "../../emulator-kit/sshd-machines.js";

export interface EmuInstance {
  key: string;
  uuid: string;
  /** Thunder's generated word; create takes no name. */
  name: string;
  status: string;
  gpuType: string;
  numGpus: number;
  cpuCores: number;
  mode: string;
  template: string;
  diskGb: number;
  publicKeys: string[];
  createdAt: string;
  endpoint?: SshEndpoint;
  pricePerHour: number;
}

export class EmuAccount {
  readonly instances = new Map<string, EmuInstance>();
  /** Every instance ever created (by uuid), including deleted ones, for inspection. */
  readonly history = new Map<string, EmuInstance>();
  readonly meter = new BillingMeter();
  creates = 0;

  add(i: Omit<EmuInstance, "key" | "uuid" | "name" | "status" | "createdAt">): EmuInstance {
    let n = 0;
    while (this.instances.has(String(n))) n++;
    const inst: EmuInstance = { ...i, key: String(n), uuid: randomUUID(), name: wordName(), status: "PROVISIONING", createdAt: new Date().toISOString() };
    this.instances.set(inst.key, inst);
    this.history.set(inst.uuid, inst);
    this.creates++;
    this.meter.start(inst.uuid, inst.pricePerHour, () => (this.instances.get(inst.key)?.uuid === inst.uuid ? inst.status : "terminated"));
    return inst;
  }

  /** By map key (what thunder-cli sends) or uuid (the spec's example). */
  find(id: string): EmuInstance | undefined {
    return this.instances.get(id) ?? [...this.instances.values()].find((i) => i.uuid === id);
  }

  remove(i: EmuInstance): void {
    if (this.instances.get(i.key)?.uuid === i.uuid) this.instances.delete(i.key);
    this.meter.end(i.uuid);
  }
}

function wordName(): string {
  const a = "abcdefghijklmnopqrstuvwxyz";
  return Array.from({ length: 8 }, () => a[Math.floor(Math.random() * a.length)]).join("");
}
