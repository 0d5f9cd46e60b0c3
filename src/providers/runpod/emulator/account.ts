/**
 * The emulated RunPod account's state: pods and their lifecycle (PROVISIONING → STARTING → RUNNING, the
 * 22/tcp mapping appearing only once the pod's sshd listens, EXITED on stop or spot reclaim, gone after
 * DELETE), their billing, and the machine behind each (a loopback sshd authorizing the pod's `PUBLIC_KEY`
 * lines, when the emulator is given {@link SshdMachines}; otherwise a placeholder endpoint).
 */
import { randomBytes } from "node:crypto";
import type { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { type CloudTier, DATA_CENTERS, EMU_GPUS, type EmuGpuType, Stock } from "./catalog.js";
import { PodMeter } from "./meter.js";

export type EmuPodStatus = "PROVISIONING" | "STARTING" | "RUNNING" | "EXITED" | "ERROR" | "TERMINATED";

export interface EmuPod {
  id: string;
  name: string;
  image: string;
  gpu: EmuGpuType;
  gpuCount: number;
  cloud: CloudTier;
  dataCenterId: string;
  env: Record<string, string>;
  ports: string[];
  disk: number;
  interruptible: boolean;
  bidPerGpu: number | undefined;
  /** Billed USD per hour while running (on-demand price, or the spot price at rent time). */
  pricePerHour: number;
  createdAt: Date;
  /** When the current boot began (create or start). */
  bootAt: number;
  startedAt: Date | undefined;
  status: EmuPodStatus;
  /** The machine's sshd, once it listens. */
  endpoint: { host: string; port: number } | undefined;
  deleted: boolean;
  /** Why it ended, for inspection: "deleted", "stopped", "reclaimed". */
  ended: string | undefined;
  /** As created over REST v2 (GraphQL rents set none of these). */
  args?: string;
  registry?: string | null;
  persistentMount?: { size: number; path: string };
  globalNetworking?: boolean;
  /** Set by PATCH: a locked pod cannot be stopped or restarted. */
  locked?: boolean;
}

export interface AccountOptions {
  bootDelayMs: number;
  /** Real loopback sshd's behind the pods; absent: a placeholder endpoint (no SSH). */
  machines?: SshdMachines | undefined;
  now?: () => number;
}

/** A pod id as RunPod makes them: 14 lowercase alphanumerics. */
const podId = (): string => {
  const abc = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(14)].map((b) => abc[b % abc.length]).join("");
};

export class RunpodAccount {
  readonly pods = new Map<string, EmuPod>();
  readonly gpus: EmuGpuType[] = [...EMU_GPUS];
  readonly stock = new Stock();
  readonly meter: PodMeter;
  readonly #now: () => number;
  #placeholderPort = 40_000;

  constructor(private readonly o: AccountOptions) {
    this.#now = o.now ?? Date.now;
    this.meter = new PodMeter(this.#now);
  }

  gpu(id: string): EmuGpuType | undefined {
    return this.gpus.find((g) => g.id === id);
  }

  /** The first of `wanted` (or any data centre) with stock of the GPU on the tier; undefined when sold out. */
  placement(gpu: EmuGpuType, cloud: CloudTier, wanted: readonly string[] | undefined): string | undefined {
    const dcs = wanted && wanted.length > 0 ? wanted : Object.keys(DATA_CENTERS);
    return dcs.find((dc) => DATA_CENTERS[dc] !== undefined && this.stock.level(gpu, cloud, dc) !== "NONE");
  }

  create(p: { name: string; image: string; gpu: EmuGpuType; gpuCount: number; cloud: CloudTier; dataCenterId: string; env: Record<string, string>; ports: string[]; disk: number; interruptible: boolean; bidPerGpu?: number; pricePerHour: number } & Pick<EmuPod, "args" | "registry" | "persistentMount" | "globalNetworking">): EmuPod {
    const pod: EmuPod = { ...p, id: podId(), bidPerGpu: p.bidPerGpu, createdAt: new Date(this.#now()), bootAt: this.#now(), startedAt: undefined, status: "PROVISIONING", endpoint: undefined, deleted: false, ended: undefined };
    this.pods.set(pod.id, pod);
    this.meter.start(pod.id, pod.pricePerHour);
    this.#boot(pod);
    return pod;
  }

  /** Bring the pod's machine up: its sshd, authorizing the PUBLIC_KEY lines (RunPod images append them to authorized_keys). */
  #boot(pod: EmuPod): void {
    const keys = (pod.env["PUBLIC_KEY"] ?? "").split("\n").filter((k) => k.trim() !== "");
    const machines = this.o.machines;
    if (!machines) {
      pod.endpoint = { host: "127.0.0.1", port: this.#placeholderPort++ };
      return;
    }
    void machines.start(pod.id, keys).then(
      async (ep) => {
        // Removed or stopped while its sshd was starting: the machine goes with it.
        if (pod.deleted || pod.status === "EXITED") await machines.stop(pod.id);
        else pod.endpoint = ep;
      },
      () => {
        pod.status = "ERROR";
      },
    );
  }

  /** Move the pod along its boot by the clock: PROVISIONING for the first half of the boot, then STARTING, then RUNNING. */
  advance(pod: EmuPod): EmuPod {
    if (pod.status !== "PROVISIONING" && pod.status !== "STARTING") return pod;
    const t = this.#now() - pod.bootAt;
    if (t >= this.o.bootDelayMs) {
      pod.status = "RUNNING";
      pod.startedAt = new Date(this.#now());
    } else if (t >= this.o.bootDelayMs / 2) pod.status = "STARTING";
    return pod;
  }

  /** A pod the API still shows (not deleted), advanced to now. */
  get(id: string): EmuPod | undefined {
    const p = this.pods.get(id);
    return p && !p.deleted ? this.advance(p) : undefined;
  }

  listed(): EmuPod[] {
    return [...this.pods.values()].filter((p) => !p.deleted).map((p) => this.advance(p));
  }

  async stop(pod: EmuPod, why: "stopped" | "reclaimed"): Promise<void> {
    pod.status = "EXITED";
    pod.ended = why;
    pod.endpoint = undefined;
    pod.startedAt = undefined;
    this.meter.end(pod.id);
    await this.o.machines?.stop(pod.id);
  }

  start(pod: EmuPod): void {
    pod.status = "PROVISIONING";
    pod.ended = undefined;
    pod.bootAt = this.#now();
    this.meter.start(pod.id, pod.pricePerHour);
    this.#boot(pod);
  }

  async remove(pod: EmuPod): Promise<void> {
    pod.deleted = true;
    pod.status = "TERMINATED";
    pod.ended ??= "deleted";
    pod.endpoint = undefined;
    this.meter.end(pod.id);
    await this.o.machines?.stop(pod.id);
  }

  /** Take a running (or booting) interruptible pod away, as RunPod does when it is outbid: no notice, EXITED. */
  async reclaim(id: string): Promise<boolean> {
    const pod = this.get(id);
    if (!pod?.interruptible || pod.status === "EXITED") return false;
    await this.stop(pod, "reclaimed");
    return true;
  }

  homeOf(id: string): string | undefined {
    return this.o.machines?.homeOf(id);
  }

  async close(): Promise<void> {
    await this.o.machines?.closeAll();
  }
}
