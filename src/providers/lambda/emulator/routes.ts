/**
 * The emulator's endpoints (paths under /api/v1), with the request checks Lambda documents: exactly one
 * SSH key at launch, `quantity` at most 1 (the legacy field real clients still send), names and
 * patterns from the spec, unknown objects → `global/object-does-not-exist`.
 */
import { z } from "zod";
import type { EmulatedInstance, LambdaAccount, SshEndpoint } from "./account.js";
import { REGION_DESCRIPTIONS } from "./config.js";
import { type ErrorBody, errors, fileSystemJson, imagesJson, instanceJson, instanceTypeJson } from "./render.js";

export type RouteResult = { status: 200; data: unknown } | ErrorBody;

export interface LaunchedInstanceInfo {
  id: string;
  name: string | undefined;
  instanceType: string;
  region: string;
}
export type OnLaunch = (instance: LaunchedInstanceInfo) => Promise<{ ip: string; port?: number }> | { ip: string; port?: number };
/** Called once when an instance is asked to terminate (e.g. to stop the sshd behind it). Errors are ignored. */
export type OnTerminate = (instance: LaunchedInstanceInfo) => Promise<void> | void;

const launchBody = z.object({
  region_name: z.string(),
  instance_type_name: z.string(),
  ssh_key_names: z.array(z.string()),
  file_system_names: z.array(z.string()).optional(),
  name: z.string().max(64).optional(),
  hostname: z.string().regex(/^[a-z0-9][0-9a-z-]{0,62}$/).optional(),
  quantity: z.number().int().optional(),
});
const idsBody = z.object({ instance_ids: z.array(z.string()) });
const renameBody = z.object({ name: z.string().max(64).optional() });
const sshKeyBody = z.object({ name: z.string().min(1).max(64), public_key: z.string().min(1).max(4096).optional() });
const fsBody = z.object({ name: z.string().min(1).max(60).regex(/^[a-zA-Z]+[0-9a-zA-Z-]*$/), region: z.string() });
const firewallBody = z.object({
  data: z.array(
    z.object({
      protocol: z.enum(["tcp", "udp", "icmp", "all"]),
      port_range: z.tuple([z.number().int().min(1).max(65535), z.number().int().min(1).max(65535)]).optional(),
      source_network: z.string(),
      description: z.string().max(128),
    }),
  ),
});

const ok = (data: unknown): RouteResult => ({ status: 200, data });

export class LambdaRoutes {
  firewallRules: z.infer<typeof firewallBody>["data"] = [{ protocol: "tcp", port_range: [22, 22], source_network: "0.0.0.0/0", description: "Allow SSH from anywhere" }];

  constructor(
    private readonly account: LambdaAccount,
    private readonly onLaunch: OnLaunch,
    private readonly onTerminate?: OnTerminate,
  ) {}

  handle(method: string, path: string, body: unknown): RouteResult {
    const a = this.account;
    const [, first, second, ...rest] = path.split("/");
    if (rest.length > 0) return errors.invalidParameters("Unknown path.");
    const key = `${method} /${first ?? ""}${second === undefined ? "" : "/:id"}`;
    const id = decodeURIComponent(second ?? "");
    switch (key) {
      case "GET /instances":
        return ok(a.visible().map((i) => instanceJson(a, i)));
      case "GET /instances/:id":
        return this.#withInstance(id, (i) => ok(instanceJson(a, i)));
      case "POST /instances/:id": {
        const b = renameBody.safeParse(body);
        if (!b.success) return errors.invalidParameters();
        return this.#withInstance(id, (i) => {
          if (b.data.name !== undefined) i.name = b.data.name;
          return ok(instanceJson(a, i));
        });
      }
      case "GET /instance-types":
        return ok(Object.fromEntries(a.types.map((t) => [t.name, { instance_type: instanceTypeJson(t), regions_with_capacity_available: a.regionsWithCapacity(t).map((r) => a.regionJson(r)) }])));
      case "POST /instance-operations/:id":
        if (id === "launch") return this.#launch(body);
        if (id === "terminate" || id === "restart") return this.#bulk(id, body);
        break;
      case "GET /ssh-keys":
        return ok(a.sshKeys.map((k) => ({ ...k })));
      case "POST /ssh-keys": {
        const b = sshKeyBody.safeParse(body);
        if (!b.success) return errors.invalidParameters();
        if (a.sshKeys.some((k) => k.name === b.data.name)) return errors.invalidParameters("An SSH key with that name already exists.");
        return ok(a.addSshKey(b.data.name, b.data.public_key));
      }
      case "DELETE /ssh-keys/:id": {
        const n = a.sshKeys.findIndex((k) => k.id === id);
        if (n < 0) return errors.invalidParameters("Specified SSH key does not exist.");
        a.sshKeys.splice(n, 1);
        return ok({});
      }
      // Quirk kept on purpose: list is /file-systems, create and delete are /filesystems.
      case "GET /file-systems":
        return ok(a.fileSystems.map((f) => fileSystemJson(a, f)));
      case "POST /filesystems": {
        const b = fsBody.safeParse(body);
        if (!b.success) return errors.invalidParameters();
        if (a.fileSystems.some((f) => f.name === b.data.name)) return errors.duplicate();
        return ok(fileSystemJson(a, a.createFileSystem(b.data.name, b.data.region)));
      }
      case "DELETE /filesystems/:id": {
        const f = a.fileSystems.find((x) => x.id === id);
        if (!f) return errors.fileSystemNotFound();
        if (a.fileSystemInUse(f)) return errors.fileSystemInUse();
        a.fileSystems.splice(a.fileSystems.indexOf(f), 1);
        return ok({ deleted_ids: [f.id] });
      }
      case "GET /images":
        return ok(imagesJson(a, [...new Set(a.types.flatMap((t) => Object.keys(t.capacity)))].sort()));
      case "GET /firewall-rules":
        return ok(this.firewallRules);
      case "PUT /firewall-rules": {
        const b = firewallBody.safeParse(body);
        if (!b.success) return errors.invalidParameters();
        this.firewallRules = b.data.data;
        return ok(this.firewallRules);
      }
    }
    return { status: 404, code: "global/object-does-not-exist", message: "The emulator does not implement this path." };
  }

  #withInstance(id: string, f: (i: EmulatedInstance) => RouteResult): RouteResult {
    const i = this.account.instances.get(id);
    if (!i || !this.account.visible().includes(i)) return errors.instanceNotFound();
    return f(i);
  }

  #launch(body: unknown): RouteResult {
    const a = this.account;
    const parsed = launchBody.safeParse(body);
    if (!parsed.success) return errors.invalidParameters();
    const b = parsed.data;
    if (b.quantity !== undefined && b.quantity > 1) return errors.invalidParameters("Requested too many instances.");
    if (b.ssh_key_names.length !== 1) return errors.invalidParameters("Exactly one SSH key must be specified.");
    const type = a.types.find((t) => t.name === b.instance_type_name);
    if (!type) return errors.launchResourceMissing("instance type");
    if (!Object.hasOwn(REGION_DESCRIPTIONS, b.region_name)) return errors.launchResourceMissing("region");
    if (!a.sshKeys.some((k) => k.name === b.ssh_key_names[0])) return errors.launchResourceMissing("SSH key");
    for (const n of b.file_system_names ?? []) {
      const f = a.fileSystems.find((x) => x.name === n);
      if (!f) return errors.launchResourceMissing("filesystem");
      if (f.region !== b.region_name) return errors.fileSystemWrongRegion();
    }
    if (a.liveCount() >= a.maxInstances) return errors.quotaExceeded();
    if ((type.capacity[b.region_name] ?? 0) <= 0) return errors.insufficientCapacity();
    const inst = a.launch(type, b.region_name, { name: b.name, sshKeyNames: b.ssh_key_names, fileSystemNames: b.file_system_names ?? [], hostname: b.hostname });
    this.#attachEndpoint(inst);
    return ok({ instance_ids: [inst.id] });
  }

  #attachEndpoint(inst: EmulatedInstance): void {
    const info = { id: inst.id, name: inst.name, instanceType: inst.type.name, region: inst.region };
    const settle = (ep: { ip: string; port?: number }) => {
      inst.endpoint = { ip: ep.ip, port: ep.port ?? 22 } satisfies SshEndpoint;
    };
    try {
      Promise.resolve(this.onLaunch(info)).then(settle, (e: unknown) => {
        inst.unhealthyReason = `onLaunch failed: ${e instanceof Error ? e.message : String(e)}`;
      });
    } catch (e) {
      inst.unhealthyReason = `onLaunch failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  #bulk(op: "terminate" | "restart", body: unknown): RouteResult {
    const b = idsBody.safeParse(body);
    if (!b.success) return errors.invalidParameters();
    const found = b.data.instance_ids.map((id) => this.account.instances.get(id));
    if (found.some((i) => i === undefined || !this.account.visible().includes(i))) return errors.instanceNotFound();
    const insts = found as EmulatedInstance[];
    for (const i of insts) {
      if (op === "terminate") {
        const first = i.terminateRequestedAt === undefined;
        this.account.terminate(i);
        if (first && this.onTerminate) {
          const info = { id: i.id, name: i.name, instanceType: i.type.name, region: i.region };
          Promise.resolve()
            .then(() => this.onTerminate?.(info))
            .catch(() => {});
        }
      }
      else if (i.terminateRequestedAt === undefined && i.endpoint !== undefined) i.unhealthyReason = undefined;
    }
    const list = insts.map((i) => instanceJson(this.account, i));
    return ok(op === "terminate" ? { terminated_instances: list } : { restarted_instances: list });
  }
}
