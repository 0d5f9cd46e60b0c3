/**
 * The emulator's routes: spec 1.8.3's paths and methods (a method the spec does not list for a path
 * answers 405 with `Allow`), request validation from the spec's schemas (./requests.ts), and Lambda's
 * answers: invalid body → 400 `global/invalid-parameters`, unknown objects → the operation's own
 * "does not exist" body. The firewall's routes are in ./firewall.ts.
 */
import type { EmulatedInstance, LambdaAccount, SshEndpoint } from "./account.js";
import { firewallRoute } from "./firewall.js";
import { errors, fileSystemJson, imagesJson, instanceJson, instanceTypeJson, invalid, ok, type RouteResult } from "./render.js";
import { fileSystemBody, idsBody, launchBody, renameBody, sshKeyBody } from "./requests.js";

export type { RouteResult };

export interface LaunchedInstanceInfo {
  id: string;
  name: string | undefined;
  instanceType: string;
  region: string;
}
export type OnLaunch = (instance: LaunchedInstanceInfo) => Promise<{ ip: string; port?: number }> | { ip: string; port?: number };
/** Called once when an instance is asked to terminate (e.g. to stop the sshd behind it). Errors are ignored. */
export type OnTerminate = (instance: LaunchedInstanceInfo) => Promise<void> | void;

/** How a launch fault shapes a successful launch (see ./faults.ts). */
export interface LaunchOutcome {
  /** `listing-lag`: reads miss the new instance for this long and this many reads. */
  lag?: { ms: number | undefined; reads: number };
  /** `no-id`: answer `instance_ids: []`. */
  withoutIds?: boolean;
}

/** Each path of the spec (a `:id` segment for its `{id}`) with the methods it documents. */
const PATHS: Record<string, readonly string[]> = {
  "/instances": ["GET"],
  "/instances/:id": ["GET", "POST"],
  "/instance-types": ["GET"],
  "/instance-operations/launch": ["POST"],
  "/instance-operations/restart": ["POST"],
  "/instance-operations/terminate": ["POST"],
  "/ssh-keys": ["GET", "POST"],
  "/ssh-keys/:id": ["DELETE"],
  // Quirk kept on purpose: list is /file-systems, create and delete are /filesystems.
  "/file-systems": ["GET"],
  "/filesystems": ["POST"],
  "/filesystems/:id": ["DELETE"],
  "/images": ["GET"],
  "/firewall-rules": ["GET", "PUT"],
  "/firewall-rulesets": ["GET", "POST"],
  "/firewall-rulesets/global": ["GET", "PATCH"],
  "/firewall-rulesets/:id": ["GET", "PATCH", "DELETE"],
  "/audit-events": ["GET"],
};

/** The spec path a request path falls under (literal segments win over `:id`), with the decoded id. */
function route(path: string): { template: string; id: string } | undefined {
  const [, first, second, ...rest] = path.split("/");
  if (rest.length > 0 || !first) return undefined;
  if (second === undefined) return `/${first}` in PATHS ? { template: `/${first}`, id: "" } : undefined;
  if (`/${first}/${second}` in PATHS) return { template: `/${first}/${second}`, id: "" };
  if (second === "" || !(`/${first}/:id` in PATHS)) return undefined;
  try {
    return { template: `/${first}/:id`, id: decodeURIComponent(second) };
  } catch {
    return { template: `/${first}/:id`, id: second };
  }
}

export class LambdaRoutes {
  constructor(
    private readonly account: LambdaAccount,
    private readonly onLaunch: OnLaunch,
    private readonly onTerminate?: OnTerminate,
  ) {}

  handle(method: string, path: string, body: unknown, query: URLSearchParams = new URLSearchParams(), outcome: LaunchOutcome = {}): RouteResult {
    const a = this.account;
    const r = route(path);
    if (!r) return errors.noSuchPath();
    const allowed = PATHS[r.template] ?? [];
    if (!allowed.includes(method)) return errors.methodNotAllowed(method, allowed);
    const { id } = r;
    switch (`${method} ${r.template}`) {
      case "GET /instances": {
        // No emulated instance belongs to a cluster, so a cluster filter matches none.
        if (query.has("cluster_id")) return ok([]);
        return ok(a.visible().filter((i) => this.#read(i)).map((i) => instanceJson(a, i)));
      }
      case "GET /instances/:id":
        return this.#withInstance(id, (i) => ok(instanceJson(a, i)), { read: true });
      case "POST /instances/:id": {
        const b = renameBody.safeParse(body);
        if (!b.success) return invalid(b.error);
        return this.#withInstance(id, (i) => {
          if (b.data.name !== undefined) i.name = b.data.name;
          return ok(instanceJson(a, i));
        });
      }
      case "GET /instance-types":
        return ok(Object.fromEntries(a.types.map((t) => [t.name, { instance_type: instanceTypeJson(t), regions_with_capacity_available: a.regionsWithCapacity(t).map((r) => a.regionJson(r)) }])));
      case "POST /instance-operations/launch":
        return this.#launch(body, outcome);
      case "POST /instance-operations/terminate":
        return this.#bulk("terminate", body);
      case "POST /instance-operations/restart":
        return this.#bulk("restart", body);
      case "GET /ssh-keys":
        return ok(a.sshKeys.map((k) => ({ ...k })));
      case "POST /ssh-keys": {
        const b = sshKeyBody.safeParse(body);
        if (!b.success) return invalid(b.error);
        if (a.sshKeys.some((k) => k.name === b.data.name)) return errors.invalidParameters("An SSH key with that name already exists.");
        return ok(a.addSshKey(b.data.name, b.data.public_key));
      }
      case "DELETE /ssh-keys/:id": {
        // The spec documents 400, not 404, for this operation: an unknown key is invalid parameters.
        const n = a.sshKeys.findIndex((k) => k.id === id);
        if (n < 0) return errors.invalidParameters("Specified SSH key does not exist.");
        a.sshKeys.splice(n, 1);
        a.audit.record("ssh_key", "deleted", id);
        return ok({});
      }
      case "GET /file-systems":
        return ok(a.fileSystems.map((f) => fileSystemJson(a, f)));
      case "POST /filesystems": {
        const b = fileSystemBody.safeParse(body);
        if (!b.success) return invalid(b.error);
        if (a.fileSystems.some((f) => f.name === b.data.name)) return errors.duplicate();
        return ok(fileSystemJson(a, a.createFileSystem(b.data.name, b.data.region)));
      }
      case "DELETE /filesystems/:id": {
        const f = a.fileSystems.find((x) => x.id === id);
        if (!f) return errors.fileSystemNotFound();
        if (a.fileSystemInUse(f)) return errors.fileSystemInUse();
        a.fileSystems.splice(a.fileSystems.indexOf(f), 1);
        a.audit.record("filesystem", "deleted", f.id);
        return ok({ deleted_ids: [f.id] });
      }
      case "GET /images":
        return ok(imagesJson(a, [...new Set(a.types.flatMap((t) => Object.keys(t.capacity)))].sort()));
      case "GET /audit-events": {
        const page = a.audit.page(query);
        return page.ok ? ok(page.page) : errors.invalidParameters(page.message);
      }
    }
    return firewallRoute(a, `${method} ${r.template}`, id, body) ?? errors.noSuchPath();
  }

  /** A read of `i`: false (and one read counted) while a listing lag hides it. */
  #read(i: EmulatedInstance): boolean {
    if (this.account.listed(i)) return true;
    this.account.missedRead(i);
    return false;
  }

  #withInstance(id: string, f: (i: EmulatedInstance) => RouteResult, o: { read?: boolean } = {}): RouteResult {
    const i = this.account.instances.get(id);
    if (!i || !this.account.visible().includes(i) || (o.read && !this.#read(i))) return errors.instanceNotFound();
    return f(i);
  }

  #launch(body: unknown, outcome: LaunchOutcome): RouteResult {
    const a = this.account;
    const parsed = launchBody.safeParse(body);
    if (!parsed.success) return invalid(parsed.error);
    const b = parsed.data;
    if (b.quantity !== undefined && b.quantity > 1) return errors.invalidParameters("Requested too many instances.");
    // What the request names must exist before anything else is judged: an empty or unknown
    // instance type is "does not exist", whatever else is wrong.
    const type = a.types.find((t) => t.name === b.instance_type_name);
    if (!type) return errors.launchResourceMissing("instance type");
    // The spec's prose (its schema has no bounds): "Currently, exactly one SSH key must be specified."
    if (b.ssh_key_names.length !== 1) return errors.invalidParameters("Exactly one SSH key must be specified.");
    if (!a.sshKeys.some((k) => k.name === b.ssh_key_names[0])) return errors.launchResourceMissing("SSH key");
    const mounted = [...(b.file_system_names ?? []).map((n) => a.fileSystems.find((x) => x.name === n)), ...(b.file_system_mounts ?? []).map((m) => a.fileSystems.find((x) => x.id === m.file_system_id))];
    for (const f of mounted) {
      if (!f) return errors.launchResourceMissing("filesystem");
      if (f.region !== b.region_name) return errors.fileSystemWrongRegion();
    }
    const rulesets = (b.firewall_rulesets ?? []).map((r) => a.firewall.rulesets.get(r.id));
    for (const r of rulesets) {
      if (!r) return errors.launchResourceMissing("firewall ruleset");
      if (r.region !== b.region_name) return errors.invalidParameters("Firewall ruleset is in a different region from the instance.");
    }
    if (a.liveCount() >= a.maxInstances) return errors.quotaExceeded();
    if ((type.capacity[b.region_name] ?? 0) <= 0) return errors.insufficientCapacity();
    const inst = a.launch(type, b.region_name, {
      name: b.name,
      sshKeyNames: b.ssh_key_names,
      fileSystemNames: [...new Set(mounted.map((f) => f!.name))],
      hostname: b.hostname,
      tags: b.tags ?? [],
      firewallRulesetIds: (b.firewall_rulesets ?? []).map((r) => r.id),
    });
    if (outcome.lag) inst.listingLag = { untilMs: outcome.lag.ms === undefined ? undefined : inst.launchedAt + outcome.lag.ms, reads: outcome.lag.reads };
    this.#attachEndpoint(inst);
    return ok({ instance_ids: outcome.withoutIds ? [] : [inst.id] });
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
    if (!b.success) return invalid(b.error);
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
      } else if (i.terminateRequestedAt === undefined && i.endpoint !== undefined) {
        i.unhealthyReason = undefined;
        this.account.audit.record("instance", "restarted", i.id);
      }
    }
    const list = insts.map((i) => instanceJson(this.account, i));
    return ok(op === "terminate" ? { terminated_instances: list } : { restarted_instances: list });
  }
}
