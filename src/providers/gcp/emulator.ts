/**
 * A stateful GCE emulator on loopback: the Compute v1 REST API's instances and zoneOperations (the subset in
 * ./discovery/compute.v1.instances-subset.json, copied from ../shared/reference/specs/gce), one project, with GCE's life cycle
 * (./emulator/account.ts), Google's error envelope, fault injection (the kit's kinds plus `capacity`,
 * `capacity-leftover`, `quota` as failed insert operations, and `malformed`), spot preemption and the
 * cloud-side `maxRunDuration` deletion. Tests, `kiln run --sim` and `kiln emulate gcp` use it.
 *
 * @example
 *   const emu = await startGcpEmulator({ bootDelayMs: 50 });
 *   // point the SDK at emu.url with a static token: emu.token; project emu.project
 *   emu.inject({ kind: "capacity", match: { method: "POST" }, times: 1 });
 *   await emu.close();
 */
import { randomBytes } from "node:crypto";
import { FaultPlan, type FaultRule, seededRandom } from "../emulator-kit/faults.js";
import { type EmuReply, type EmuRequest, serveJson } from "../emulator-kit/http.js";
import type { MeteredMachine } from "../emulator-kit/billing.js";
import { GCP_MACHINE_TYPES } from "./machine-types.js";
import { type AuditEvent, GcpAccount, type Machines } from "./emulator/account.js";
import { googleError } from "./emulator/render.js";
import { route } from "./emulator/routes.js";

export interface GcpEmulatorOptions {
  host?: string;
  port?: number;
  project?: string;
  token?: string;
  bootDelayMs?: number;
  opDelayMs?: number;
  deleteDelayMs?: number;
  waitMaxMs?: number;
  faults?: readonly FaultRule[];
  seed?: number;
  machines?: Machines;
  /** Every request and the reply sent, for the discovery-document check in tests. */
  onExchange?(req: EmuRequest, reply: EmuReply): void;
}

export interface GcpEmulator {
  url: string;
  project: string;
  token: string;
  account: GcpAccount;
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** The SSH port of a machine's loopback sshd (machines only). */
  sshPort(id: string): number | undefined;
  /** Preempt a Spot VM now. */
  preempt(id: string): void;
  live(): { id: string; name: string; status: string }[];
  billed(): MeteredMachine[];
  audit(): readonly AuditEvent[];
  close(): Promise<void>;
}

export { EMULATOR_PROJECT } from "./emulator-project.js";
import { EMULATOR_PROJECT } from "./emulator-project.js";

export async function startGcpEmulator(o: GcpEmulatorOptions = {}): Promise<GcpEmulator> {
  const project = o.project ?? EMULATOR_PROJECT;
  const token = o.token ?? `ya29.emulator-${randomBytes(12).toString("hex")}`;
  const zones = [...new Set(GCP_MACHINE_TYPES.flatMap((t) => t.zones))];
  const account = new GcpAccount({ project, zones, bootDelayMs: o.bootDelayMs ?? 200, opDelayMs: o.opDelayMs ?? 20, deleteDelayMs: o.deleteDelayMs ?? 100, ...(o.machines && { machines: o.machines }) });
  const faults = new FaultPlan(o.faults ?? [], seededRandom(o.seed ?? 1));
  const ctx = { account, token, faults, waitMaxMs: o.waitMaxMs ?? 1_000 };
  const server = await serveJson(
    async (r) => {
      // Not GCE: the emulated machines' SSH ports, which a real VM does not need (it listens on 22).
      if (r.path === "/__emulator/instances" && r.method === "GET") return { status: 200, body: [...account.sshPorts].map(([id, port]) => ({ id, port })) };
      const reply = await route(ctx, r);
      o.onExchange?.(r, reply);
      return reply;
    },
    {
      host: o.host ?? "127.0.0.1",
      port: o.port ?? 0,
      badRequest: (why) => ({ status: 400, body: googleError(400, "INVALID_ARGUMENT", "parseError", why) }),
      internalError: () => ({ status: 500, body: googleError(500, "INTERNAL", "backendError", "Internal Error") }),
    },
  );
  return {
    url: server.url,
    project,
    token,
    account,
    inject: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    sshPort: (id) => account.sshPorts.get(id),
    preempt: (id) => account.preempt(id),
    live: () => [...account.instances.entries()].map(([id, i]) => ({ id, name: i.name, status: i.status })),
    billed: () => account.billing.billed(),
    audit: () => account.audit,
    close: async () => {
      account.close();
      await server.close();
    },
  };
}
