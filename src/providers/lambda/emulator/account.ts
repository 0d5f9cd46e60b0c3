/**
 * The emulated Lambda account: instances, SSH keys, file systems, capacity, quota and billing. Status
 * is derived from timestamps on every read (booting → active after the boot delay *and* once the
 * instance has an SSH endpoint; terminating → terminated after the terminate delay), so there are no
 * timers to leak. Terminated instances drop out of listings after a while, as Lambda's do, but stay
 * in {@link LambdaAccount.inspect} with their billed seconds.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { type EmulatorInstanceType, REGION_DESCRIPTIONS } from "./config.js";

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

export class LambdaAccount {
  readonly instances = new Map<string, EmulatedInstance>();
  readonly sshKeys: SshKeyRecord[] = [];
  readonly fileSystems: FileSystemRecord[] = [];
  readonly user = { id: hexId(), email: "kiln@example.com", status: "active" as const };

  constructor(
    readonly types: EmulatorInstanceType[],
    readonly timings: AccountTimings,
    public maxInstances: number,
    readonly now: () => number,
  ) {}

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

  liveCount(): number {
    return [...this.instances.values()].filter((i) => i.terminateRequestedAt === undefined).length;
  }

  regionsWithCapacity(type: EmulatorInstanceType): string[] {
    return Object.entries(type.capacity)
      .filter(([, n]) => n > 0)
      .map(([r]) => r);
  }

  launch(type: EmulatorInstanceType, region: string, fields: Pick<EmulatedInstance, "name" | "sshKeyNames" | "fileSystemNames" | "hostname">): EmulatedInstance {
    type.capacity[region] = (type.capacity[region] ?? 0) - 1;
    const inst: EmulatedInstance = { id: hexId(), type, region, launchedAt: this.now(), endpoint: undefined, unhealthyReason: undefined, terminateRequestedAt: undefined, ...fields };
    this.instances.set(inst.id, inst);
    return inst;
  }

  /** Idempotent: a second terminate keeps the first timestamp, so billing is not extended. */
  terminate(i: EmulatedInstance): void {
    if (i.terminateRequestedAt !== undefined) return;
    i.terminateRequestedAt = this.now();
    i.type.capacity[i.region] = (i.type.capacity[i.region] ?? 0) + 1;
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
      return rec;
    }
    const pair = generateKeyPairSync("ed25519");
    const rec = { id: hexId(), name, public_key: `${openSshEd25519(pair.publicKey.export({ format: "jwk" }).x ?? "")} ${name}` };
    this.sshKeys.push(rec);
    return { ...rec, private_key: pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString() };
  }

  createFileSystem(name: string, region: string): FileSystemRecord {
    const rec = { id: hexId(), name, region, created: new Date(this.now()).toISOString() };
    this.fileSystems.push(rec);
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
