/**
 * The emulated GCE project: instances and zone operations with GCE's life cycle, on timers.
 *
 * - insert → an operation RUNNING, then DONE (with an error for a capacity or quota fault, which is how GCE
 *   reports them: after the insert answered 200); the VM goes PROVISIONING → STAGING → RUNNING, its
 *   machine (a loopback sshd, when the emulator has one) authorizing the keys in its `ssh-keys` metadata.
 * - A repeated `requestId` answers the first request's operation and creates nothing.
 * - `scheduling.maxRunDuration` (+ instanceTerminationAction DELETE) deletes the VM that long after it
 *   started RUNNING, whatever Kiln does: the cloud-side cap.
 * - {@link GcpAccount.preempt} takes a Spot VM away as GCE does: a `compute.instances.preempted` operation,
 *   STOPPING, the machine's `instance/preempted` metadata key TRUE (./metadata.ts), and `noticeMs` later
 *   (GCE: 30 s of ACPI soft-off before the hard off) gone (DELETE) or TERMINATED (STOP).
 * - Billing runs from creation to deletion, per second. Real GCE bills from RUNNING with a one-minute
 *   minimum; from creation is what Kiln's ledger counts (launchedAt = creationTimestamp), so the two can be
 *   compared exactly, and Kiln's count errs high, on the safe side.
 */
import { randomBytes } from "node:crypto";
import { BillingMeter } from "../../emulator-kit/billing.js";
import { ListingLag } from "../../emulator-kit/faults.js";
import type { FaultRule } from "../../emulator-kit/faults.js";
import { machineTypeNamed } from "../machine-types.js";
import type { EmuInstance, EmuOperation } from "./render.js";

export interface Machines {
  /** Start the machine for `id`, authorizing `publicKeys`, its sessions' environment plus `env`; returns its SSH port. */
  start(id: string, publicKeys: readonly string[], env?: Record<string, string>): Promise<{ port: number }>;
  stop(id: string): Promise<void>;
}

export interface AccountOptions {
  project: string;
  zones: readonly string[];
  bootDelayMs: number;
  opDelayMs: number;
  deleteDelayMs: number;
  /** Between a preemption's notice (metadata `preempted` TRUE) and the VM's termination. Default 0. */
  preemptNoticeMs?: number;
  /** Environment a machine's sessions get (how the VM reaches its metadata server, ./metadata.ts). */
  machineEnv?(inst: EmuInstance): Record<string, string>;
  /** What an hour of a machine bills (default: the catalog's price). */
  priceOf?(type: string, zone: string, spot: boolean): number | undefined;
  machines?: Machines;
}

export interface AuditEvent {
  at: string;
  kind: "inserted" | "running" | "deleted" | "max-run-duration" | "preempted" | "insert-failed";
  id: string;
  detail?: string;
}

const now = () => new Date().toISOString();
const numericId = () => BigInt(`0x${randomBytes(7).toString("hex")}`).toString();

export class GcpAccount {
  readonly instances = new Map<string, EmuInstance>();
  readonly operations = new Map<string, EmuOperation>();
  readonly byRequestId = new Map<string, string>();
  readonly billing = new BillingMeter();
  readonly lag = new ListingLag();
  readonly audit: AuditEvent[] = [];
  readonly sshPorts = new Map<string, number>();
  /** Machines whose preemption has begun: their metadata server answers `preempted` TRUE. */
  readonly preempted = new Set<string>();
  /** Every machine ever created, by id, with its last status (for billed()). */
  readonly history = new Map<string, { status: string }>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #ip = 2;
  constructor(readonly o: AccountOptions) {}

  static idOf(project: string, zone: string, name: string): string {
    return `${project}/${zone}/${name}`;
  }

  #later(ms: number, fn: () => void | Promise<void>): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      void Promise.resolve()
        .then(fn)
        .catch(() => undefined);
    }, ms);
    this.#timers.add(t);
  }

  #op(zone: string, operationType: string, inst: { name: string; id: string }, status: EmuOperation["status"] = "RUNNING"): EmuOperation {
    const op: EmuOperation = {
      id: numericId(),
      name: `operation-${Date.now()}-${randomBytes(6).toString("hex")}`,
      project: this.o.project,
      zone,
      operationType,
      targetName: inst.name,
      targetId: inst.id,
      status,
      insertTime: now(),
      startTime: now(),
      ...(status === "DONE" && { endTime: now() }),
    };
    this.operations.set(op.name, op);
    return op;
  }

  #finish(op: EmuOperation, error?: EmuOperation["error"], http?: { status: number; message: string }): void {
    op.status = "DONE";
    op.endTime = now();
    if (error) op.error = error;
    if (http) {
      op.httpErrorStatusCode = http.status;
      op.httpErrorMessage = http.message;
    }
  }

  /**
   * Insert `body` (an Instance) in `zone`. The caller has validated the request; `fault` shapes the outcome
   * (capacity, capacity-leftover, quota, listing-lag).
   */
  insert(zone: string, body: Record<string, unknown>, requestId: string | undefined, fault: FaultRule | undefined): EmuOperation {
    const prior = requestId === undefined ? undefined : this.byRequestId.get(requestId);
    if (prior) return this.operations.get(prior)!;
    const name = String(body["name"]);
    const type = String(body["machineType"] ?? "").split("/").pop()!;
    const scheduling = (body["scheduling"] ?? {}) as Record<string, unknown>;
    const meta = ((body["metadata"] as { items?: { key: string; value: string }[] } | undefined)?.items ?? []).map((x) => ({ key: x.key, value: x.value }));
    const initParams = ((body["disks"] as { initializeParams?: { diskSizeGb?: string | number } }[] | undefined)?.[0]?.initializeParams ?? {}) as { diskSizeGb?: string | number; diskType?: string };
    const inst: EmuInstance = {
      project: this.o.project,
      zone,
      name,
      id: numericId(),
      machineType: type,
      status: "PROVISIONING",
      creationTimestamp: now(),
      labels: (body["labels"] ?? {}) as Record<string, string>,
      metadataItems: meta,
      metadataFingerprint: randomBytes(8).toString("base64"),
      scheduling,
      spot: scheduling["provisioningModel"] === "SPOT",
      natIP: "127.0.0.1",
      networkIP: `10.128.0.${this.#ip++ % 250}`,
      diskSizeGb: String(initParams.diskSizeGb ?? "10"),
      ...(typeof initParams.diskType === "string" && { diskType: initParams.diskType }),
    };
    const op = this.#op(zone, "insert", inst);
    if (requestId !== undefined) this.byRequestId.set(requestId, op.name);
    const id = GcpAccount.idOf(this.o.project, zone, name);
    if (fault?.kind === "capacity" || fault?.kind === "quota" || fault?.kind === "capacity-leftover") {
      const error =
        fault.kind === "quota"
          ? { code: "QUOTA_EXCEEDED", message: `Quota 'NVIDIA_A100_GPUS' exceeded.  Limit: 0.0 in region ${zone.replace(/-[a-z]$/, "")}.`, quotaInfo: { metricName: "compute.googleapis.com/nvidia_a100_gpus", limitName: "NVIDIA-A100-GPUS-per-project-region", limit: 0, dimensions: { region: zone.replace(/-[a-z]$/, "") } } }
          : { code: "ZONE_RESOURCE_POOL_EXHAUSTED", message: `The zone 'projects/${this.o.project}/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.` };
      // GCE has been seen to leave a stopped shell of the VM behind a failed allocation [A]: capacity-leftover.
      if (fault.kind === "capacity-leftover") {
        inst.status = "TERMINATED";
        this.#create(id, inst, false);
      }
      this.#later(this.o.opDelayMs, () => this.#finish(op, error, { status: fault.kind === "quota" ? 403 : 503, message: fault.kind === "quota" ? "FORBIDDEN" : "SERVICE UNAVAILABLE" }));
      this.audit.push({ at: now(), kind: "insert-failed", id, detail: error.code });
      return op;
    }
    this.#create(id, inst, true);
    if (fault?.kind === "listing-lag") this.lag.start(id, fault);
    this.#later(this.o.opDelayMs, () => this.#finish(op));
    this.#later(Math.max(0, this.o.bootDelayMs / 2), () => {
      if (inst.status === "PROVISIONING") inst.status = "STAGING";
    });
    this.#later(this.o.bootDelayMs, () => this.#boot(id, inst));
    return op;
  }

  #create(id: string, inst: EmuInstance, bill: boolean): void {
    this.instances.set(id, inst);
    this.history.set(id, { status: inst.status });
    const type = machineTypeNamed(inst.machineType);
    const price = this.o.priceOf?.(inst.machineType, inst.zone, inst.spot) ?? (type ? (inst.spot ? type.spotPerHour : type.onDemandPerHour) : 0);
    if (bill) this.billing.start(id, price, () => this.history.get(id)?.status ?? "unknown");
    this.audit.push({ at: now(), kind: "inserted", id });
  }

  async #boot(id: string, inst: EmuInstance): Promise<void> {
    if (this.instances.get(id) !== inst || inst.status !== "STAGING") return;
    if (this.o.machines) {
      const keys = inst.metadataItems
        .filter((m) => m.key === "ssh-keys")
        .flatMap((m) => m.value.split("\n"))
        .map((l) => l.slice(l.indexOf(":") + 1).trim())
        .filter(Boolean);
      try {
        const { port } = await this.o.machines.start(id, keys, this.o.machineEnv?.(inst));
        this.sshPorts.set(id, port);
      } catch (e) {
        inst.status = "REPAIRING";
        inst.statusMessage = `the emulated machine did not start: ${e instanceof Error ? e.message : String(e)}`;
        return;
      }
      // Deleted while its machine was starting.
      if (this.instances.get(id) !== inst || inst.status !== "STAGING") return void (await this.o.machines.stop(id));
    }
    inst.status = "RUNNING";
    inst.lastStartTimestamp = now();
    this.history.set(id, { status: "RUNNING" });
    this.audit.push({ at: now(), kind: "running", id });
    const seconds = Number((inst.scheduling["maxRunDuration"] as { seconds?: string | number } | undefined)?.seconds ?? NaN);
    if (Number.isFinite(seconds) && seconds > 0) {
      this.#later(seconds * 1000, () => {
        if (this.instances.get(id) !== inst) return;
        this.audit.push({ at: now(), kind: "max-run-duration", id, detail: `${seconds} s` });
        this.#terminationAction(id, inst);
      });
    }
  }

  /**
   * What GCE does at the end of maxRunDuration or on preemption: instanceTerminationAction, after `graceMs`
   * (the ACPI soft-off window) or as soon as `shutDown` resolves (a guest that powered off by itself).
   */
  #terminationAction(id: string, inst: EmuInstance, graceMs = 0, shutDown?: Promise<unknown>): void {
    const action = inst.scheduling["instanceTerminationAction"] === "STOP" ? "STOP" : "DELETE";
    inst.status = "STOPPING";
    this.history.set(id, { status: "STOPPING" });
    let done = false;
    const end = async () => {
      if (done || this.instances.get(id) !== inst) return;
      done = true;
      if (action === "DELETE") await this.#remove(id);
      else {
        inst.status = "TERMINATED";
        this.history.set(id, { status: "TERMINATED" });
        this.billing.end(id);
        this.sshPorts.delete(id);
        this.preempted.delete(id);
        await this.o.machines?.stop(id);
      }
    };
    this.#later(graceMs + this.o.deleteDelayMs, end);
    void shutDown?.then(() => this.#later(this.o.deleteDelayMs, end)).catch(() => undefined);
  }

  async #remove(id: string): Promise<void> {
    this.instances.delete(id);
    this.history.set(id, { status: "terminated" });
    this.billing.end(id);
    this.sshPorts.delete(id);
    this.preempted.delete(id);
    this.audit.push({ at: now(), kind: "deleted", id });
    await this.o.machines?.stop(id);
  }

  /** DELETE: STOPPING, then gone; the operation is DONE when it is gone. */
  delete(zone: string, name: string, requestId: string | undefined): EmuOperation | undefined {
    const prior = requestId === undefined ? undefined : this.byRequestId.get(requestId);
    if (prior) return this.operations.get(prior)!;
    const id = GcpAccount.idOf(this.o.project, zone, name);
    const inst = this.instances.get(id);
    if (!inst) return undefined;
    const op = this.#op(zone, "delete", inst);
    if (requestId !== undefined) this.byRequestId.set(requestId, op.name);
    inst.status = "STOPPING";
    if (this.history.has(id)) this.history.set(id, { status: "STOPPING" });
    this.#later(this.o.deleteDelayMs, async () => {
      if (this.instances.get(id) === inst) await this.#remove(id);
      this.#finish(op);
    });
    return op;
  }

  /**
   * Take a Spot VM away as GCE does (a preemption): the notice now, the VM gone `noticeMs` later, or once
   * `shutDown` resolves (the guest powered off within its window: GCE does not wait out the rest).
   */
  preempt(id: string, o: { force?: boolean; noticeMs?: number; shutDown?: Promise<unknown> } = {}): void {
    const inst = this.instances.get(id);
    if (!inst) throw new Error(`no instance ${id}`);
    if (!inst.spot && !o.force) throw new Error(`${id} is not a Spot VM: GCE only preempts Spot (and preemptible) VMs`);
    const op = this.#op(inst.zone, "compute.instances.preempted", inst, "DONE");
    op.statusMessage = "Instance was preempted.";
    this.audit.push({ at: now(), kind: "preempted", id });
    this.preempted.add(id);
    this.#terminationAction(id, inst, o.noticeMs ?? this.o.preemptNoticeMs ?? 0, o.shutDown);
  }

  /** Instances a read sees now (a lagging listing hides new ones). */
  visible(id: string): EmuInstance | undefined {
    const inst = this.instances.get(id);
    if (!inst || this.lag.hides(id)) return undefined;
    return inst;
  }

  close(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
