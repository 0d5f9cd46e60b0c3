/**
 * The emulated Lambda account: instances, SSH keys, file systems, capacity, quota and billing. Status
 * is derived from timestamps on every read (booting → active after the boot delay *and* once the
 * instance has an SSH endpoint; terminating → terminated after the terminate delay), so there are no
 * timers to leak. Terminated instances drop out of listings after a while, as Lambda's do, but stay
 * in {@link LambdaAccount.inspect} with their billed seconds.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { AuditLog } from "./audit.js";
import { type EmulatorInstanceType, REGION_DESCRIPTIONS } from "./config.js";
import { Firewall } from "./firewall.js";
import type { Tag } from "./requests.js";

export interface SshEndpoint {
  ip: string;
  port: number;
}

export interface EmulatedInstance {
  id: string;
  name: string | undefined;
  type: EmulatorInstanceType;
  region: string;
  sshKeyNames: string[];
  fileSystemNames: string[];
  hostname: string | undefined;
  launchedAt: number;
  endpoint: SshEndpoint | undefined;
  /** Set when the onLaunch hook failed or a test forced it: the instance shows `unhealthy`. */
  unhealthyReason: string | undefined;
  terminateRequestedAt: number | undefined;
  tags: Tag[];
  firewallRulesetIds: string[];
  /**
   * Set by a `listing-lag` fault: reads (GET /instances, GET /instances/{id}) miss the instance until
   * `untilMs` has passed and `reads` more reads have missed it. It exists and bills all the while.
   */
  listingLag?: { untilMs: number | undefined; reads: number };
}

export interface AccountTimings {
  bootDelayMs: number;
  terminateDelayMs: number;
  terminatedVisibleMs: number;
}

export interface SshKeyRecord {
  id: string;
  name: string;
  public_key: string;
}

export interface FileSystemRecord {
  id: string;
  name: string;
  region: string;
  created: string;
}

export const hexId = (): string => randomBytes(16).toString("hex");

export type LaunchFields = Pick<EmulatedInstance, "name" | "sshKeyNames" | "fileSystemNames" | "hostname"> & Partial<Pick<EmulatedInstance, "tags" | "firewallRulesetIds">>;

export class LambdaAccount {
  readonly instances = new Map<string, EmulatedInstance>();
  readonly sshKeys: SshKeyRecord[] = [];
  readonly fileSystems: FileSystemRecord[] = [];
  readonly user = { id: hexId(), email: "kiln@example.com", status: "active" as const };
  readonly firewall: Firewall;
  readonly audit: AuditLog;

  constructor(
    readonly types: EmulatorInstanceType[],
    readonly timings: AccountTimings,
    public maxInstances: number,
    readonly now: () => number,
  ) {
    this.firewall = new Firewall();
    this.audit = new AuditLog(now, this.user.id);
  }

  statusOf(i: EmulatedInstance): string {
    const t = this.now();
    if (i.terminateRequestedAt !== undefined) return t >= i.terminateRequestedAt + this.timings.terminateDelayMs ? "terminated" : "terminating";
    if (i.unhealthyReason !== undefined) return "unhealthy";
    if (i.endpoint !== undefined && t >= i.launchedAt + this.timings.bootDelayMs) return "active";
    return "booting";
  }

  /** Instances Lambda still lists: everything except those terminated longer ago than the visibility window. */
  visible(): EmulatedInstance[] {
    const t = this.now();
    return [...this.instances.values()].filter((i) => i.terminateRequestedAt === undefined || t < i.terminateRequestedAt + this.timings.terminateDelayMs + this.timings.terminatedVisibleMs);
  }

  /** Whether reads see `i` yet; false while a `listing-lag` fault hides it (see {@link EmulatedInstance.listingLag}). */
  listed(i: EmulatedInstance): boolean {
    const lag = i.listingLag;
    if (lag === undefined) return true;
    if ((lag.untilMs === undefined || this.now() >= lag.untilMs) && lag.reads <= 0) {
      i.listingLag = undefined;
      return true;
    }
    return false;
  }

  /** A read that did not see `i`: counts down a lag given in reads. */
  missedRead(i: EmulatedInstance): void {
    if (i.listingLag && i.listingLag.reads > 0) i.listingLag.reads--;
  }

  liveCount(): number {
    return [...this.instances.values()].filter((i) => i.terminateRequestedAt === undefined).length;
  }

  regionsWithCapacity(type: EmulatorInstanceType): string[] {
    return Object.entries(type.capacity)
      .filter(([, n]) => n > 0)
      .map(([r]) => r);
  }

  launch(type: EmulatorInstanceType, region: string, fields: LaunchFields): EmulatedInstance {
    type.capacity[region] = (type.capacity[region] ?? 0) - 1;
    const inst: EmulatedInstance = { id: hexId(), type, region, launchedAt: this.now(), endpoint: undefined, unhealthyReason: undefined, terminateRequestedAt: undefined, tags: [], firewallRulesetIds: [], ...fields };
    this.instances.set(inst.id, inst);
    this.audit.record("instance", "launched", inst.id, { instance_type: type.name, region });
    return inst;
  }

  /** Idempotent: a second terminate keeps the first timestamp, so billing is not extended. */
  terminate(i: EmulatedInstance): void {
    if (i.terminateRequestedAt !== undefined) return;
    i.terminateRequestedAt = this.now();
    i.type.capacity[i.region] = (i.type.capacity[i.region] ?? 0) + 1;
    this.audit.record("instance", "terminated", i.id);
  }

  instancesUsingRuleset(id: string): EmulatedInstance[] {
    return [...this.instances.values()].filter((i) => i.terminateRequestedAt === undefined && i.firewallRulesetIds.includes(id));
  }

  /** Seconds billed so far: from launch until terminated (or now). */
  billedSeconds(i: EmulatedInstance): number {
    const end = i.terminateRequestedAt !== undefined ? Math.min(this.now(), i.terminateRequestedAt + this.timings.terminateDelayMs) : this.now();
    return Math.max(0, (end - i.launchedAt) / 1000);
  }

  addSshKey(name: string, publicKey: string | undefined): SshKeyRecord & { private_key?: string } {
    if (publicKey !== undefined) {
      const rec = { id: hexId(), name, public_key: publicKey };
      this.sshKeys.push(rec);
      this.audit.record("ssh_key", "created", rec.id);
      return rec;
    }
    const pair = generateKeyPairSync("ed25519");
    const rec = { id: hexId(), name, public_key: `${openSshEd25519(pair.publicKey.export({ format: "jwk" }).x ?? "")} ${name}` };
    this.sshKeys.push(rec);
    this.audit.record("ssh_key", "created", rec.id);
    return { ...rec, private_key: pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString() };
  }

  createFileSystem(name: string, region: string): FileSystemRecord {
    const rec = { id: hexId(), name, region, created: new Date(this.now()).toISOString() };
    this.fileSystems.push(rec);
    this.audit.record("filesystem", "created", rec.id, { region });
    return rec;
  }

  fileSystemInUse(fs: FileSystemRecord): boolean {
    return [...this.instances.values()].some((i) => i.terminateRequestedAt === undefined && i.fileSystemNames.includes(fs.name));
  }

  regionJson(code: string) {
    return { name: code, description: REGION_DESCRIPTIONS[code] ?? code };
  }
}

/** OpenSSH wire form of an ed25519 public key: string "ssh-ed25519" + string key, base64. */
function openSshEd25519(jwkX: string): string {
  const key = Buffer.from(jwkX, "base64url");
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, (b.length >> 8) & 0xff, b.length & 0xff]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from("ssh-ed25519")), str(key)]).toString("base64")}`;
}

export const imageId = (): string => randomUUID();
