/**
 * A stateful GCE emulator on loopback: the Compute v1 REST API's instances and zoneOperations (the subset in
 * ./discovery/compute.v1.instances-subset.json, copied from ../shared/reference/specs/gce), one project, with GCE's life cycle
 * (./emulator/account.ts), Google's error envelope, fault injection (the kit's kinds plus `capacity`,
 * `capacity-leftover`, `quota` as failed insert operations, and `malformed`), spot preemption and the
 * cloud-side `maxRunDuration` deletion. Beside GCE, on the same port, what Kiln asks other Google APIs and
 * the VM's metadata server: the Cloud Billing Catalog API's Compute Engine SKUs (./emulator/billing.ts,
 * live prices; the emulator bills what they list), Cloud Resource Manager's `testIamPermissions`
 * (./emulator/iam.ts, `kiln check`) and each VM's `instance/preempted` key (./emulator/metadata.ts, the
 * reclaim notice). Tests, `kiln run --sim` and `kiln emulate gcp` use it.
 *
 * @example
 *   const emu = await startGcpEmulator({ bootDelayMs: 50 });
 *   // point the SDK at emu.url with a static token: emu.token; project emu.project
 *   emu.inject({ kind: "capacity", match: { method: "POST" }, times: 1 });
 *   await emu.close();
 */
import { randomBytes } from "node:crypto";
import { FaultPlan, type FaultRule, seededRandom } from "../emulator-kit/faults.js";
import { bearerToken, type EmuReply, type EmuRequest, serveJson } from "../emulator-kit/http.js";
import type { MeteredMachine } from "../emulator-kit/billing.js";
import { GCP_MACHINE_TYPES, machineTypeNamed } from "./machine-types.js";
import type { Sku } from "./prices.js";
import { type AuditEvent, GcpAccount, type Machines } from "./emulator/account.js";
import { EMULATED_PAGE_SIZE, SKUS_PATH, emulatedPriceOf, emulatedSkus, skusPage } from "./emulator/billing.js";
import { IAM_ROUTE, testIamPermissions } from "./emulator/iam.js";
import { METADATA_PREFIX, metadataProxyEnv, metadataRoute, preemptedUrl, proxiedMetadata } from "./emulator/metadata.js";
import { googleError } from "./emulator/render.js";
import { ANY_FAULTS, faultReply, route } from "./emulator/routes.js";

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
  /** Between a Spot VM's preemption notice (metadata `preempted` TRUE) and its termination. Default 30 s, as GCE. */
  preemptNoticeMs?: number;
  /** The Billing Catalog's Compute Engine SKUs (default {@link emulatedSkus}); the list is live: edit it to move prices. */
  skus?: Sku[];
  /** SKUs per page at most (the real API: 5000). Default 4, so every client pages. */
  skusPageSize?: number;
  /** Permissions testIamPermissions says the principal holds. Default all. */
  permissions?: readonly string[];
  /**
   * Every Compute request and the reply sent, for the discovery-document check in tests. (The Billing,
   * Resource Manager and metadata routes are not Compute's: the discovery document does not describe them.)
   */
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
  /** Preempt a Spot VM now: its metadata says so at once, and it is gone `noticeMs` (default the emulator's) later. */
  preempt(id: string, o?: { noticeMs?: number; shutDown?: Promise<unknown> }): void;
  /** The URL of a machine's metadata key `instance/preempted` (on GCE: http://metadata.google.internal/…). */
  preemptedUrl(id: string): string;
  /** The Billing Catalog's SKUs as served (edit them to move prices). */
  skus: Sku[];
  /** What testIamPermissions grants from now on ("all", or exactly these). */
  setPermissions(p: readonly string[] | "all"): void;
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
  const skus = o.skus ?? emulatedSkus();
  let granted: ReadonlySet<string> | "all" = o.permissions ? new Set(o.permissions) : "all";
  const priceOf = (type: string, zone: string, spot: boolean) => {
    const t = machineTypeNamed(type);
    return t && emulatedPriceOf(skus, t, zone, spot);
  };
  // Set once the server listens, before any machine boots: each machine reaches its metadata server here.
  let port = 0;
  const machineEnv = (inst: { zone: string; name: string }) => metadataProxyEnv(port, inst.zone, inst.name);
  const account = new GcpAccount({ project, zones, bootDelayMs: o.bootDelayMs ?? 200, opDelayMs: o.opDelayMs ?? 20, deleteDelayMs: o.deleteDelayMs ?? 100, preemptNoticeMs: o.preemptNoticeMs ?? 30_000, priceOf, machineEnv, ...(o.machines && { machines: o.machines }) });
  const faults = new FaultPlan(o.faults ?? [], seededRandom(o.seed ?? 1));
  const ctx = { account, token, faults, waitMaxMs: o.waitMaxMs ?? 1_000 };
  /** Another Google API on this port: the same token, Google's error envelope and the same faults. */
  const googleApi = async (r: EmuRequest, handle: () => EmuReply): Promise<EmuReply> => {
    if (bearerToken(r.headers.authorization) !== token) return { status: 401, body: googleError(401, "UNAUTHENTICATED", "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.") };
    const fault = faults.pick(r.method, r.path, ANY_FAULTS);
    if (fault && fault.kind !== "lost-response" && fault.kind !== "malformed" && fault.kind !== "slow") return faultReply(fault);
    const reply = handle();
    if (fault?.kind === "lost-response") return { lose: true };
    if (fault?.kind === "slow") return { ...reply, delayMs: fault.delayMs ?? 1_000 } as EmuReply;
    if (fault?.kind === "malformed" && "status" in reply && reply.status === 200) {
      // The first field as a string where Kiln expects a list (an API change, a broken proxy).
      const [first] = Object.keys(reply.body as Record<string, unknown>);
      return { status: 200, body: { ...(reply.body as Record<string, unknown>), [first ?? "skus"]: "malformed" } };
    }
    return reply;
  };
  const server = await serveJson(
    async (r) => {
      // Not GCE: the emulated machines' SSH ports, which a real VM does not need (it listens on 22).
      if (r.path === "/__emulator/instances" && r.method === "GET") return { status: 200, body: [...account.sshPorts].map(([id, port]) => ({ id, port })) };
      if (r.path.startsWith(METADATA_PREFIX)) return metadataRoute(account, r);
      const proxied = await proxiedMetadata(account, r);
      if (proxied) return proxied;
      if (r.path === SKUS_PATH) return googleApi(r, () => skusPage(skus, r, o.skusPageSize ?? EMULATED_PAGE_SIZE));
      if (IAM_ROUTE.test(r.path)) return googleApi(r, () => testIamPermissions(project, granted, r));
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
  port = server.port;
  return {
    url: server.url,
    project,
    token,
    account,
    inject: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    sshPort: (id) => account.sshPorts.get(id),
    preempt: (id, po) => account.preempt(id, po),
    preemptedUrl: (id) => {
      const [, zone, name] = id.split("/");
      return preemptedUrl(server.url, zone!, name!);
    },
    skus,
    setPermissions: (p) => {
      granted = p === "all" ? "all" : new Set(p);
    },
    live: () => [...account.instances.entries()].map(([id, i]) => ({ id, name: i.name, status: i.status })),
    billed: () => account.billing.billed(),
    audit: () => account.audit,
    close: async () => {
      account.close();
      await server.close();
    },
  };
}
