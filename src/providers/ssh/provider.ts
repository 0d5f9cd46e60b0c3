/**
 * The ssh provider: a GPU machine the user already has (`resources: {providers: [ssh], ssh: {host,
 * user, port, key}}`). One offer — that host, at the user's price (default 0) — whose GPU comes from a
 * probe over SSH that the caller injects (core owns the nvidia-smi reading). "launch" registers the
 * machine with a marker file on the host and "terminate" removes it (see ./schema.ts); Kiln never
 * powers off, reinstalls or deletes anything on a host it does not own. Stopping Kiln's runs there and
 * removing its work directory is the lifecycle's job before terminate.
 *
 * SSH failures become ProviderErrors at this edge: a refused key is `auth` (with the command that shows
 * Kiln's public key), a changed host key is `fatal`, an unreachable host is `transient`.
 */
import { AbortedError, KilnError, UserError, errorMessage } from "../../base/errors.js";
import type { Exec } from "../../remote/exec.js";
import { type ConnectOptions, SshConnection, type SshTarget } from "../../remote/ssh/connection.js";
import { type GpuRequest, type LaunchRequest, type MachineRecord, type Offer, type Provider, ProviderError, machineNameFor } from "../provider.js";
import { MARKER_DIR, type Marker, MarkerSchema } from "./schema.js";

export interface SshMachineFacts {
  /** Canonical GPU name ("A100-40GB"), or "cpu" when the host has none. */
  gpu: string;
  gpuCount: number;
  vramGb: number;
  vcpus?: number;
  memoryGb?: number;
}

export interface SshProviderOptions {
  target: SshTarget;
  connect: Omit<ConnectOptions, "signal">;
  /** Reads the host's GPUs over SSH; core passes its GPU probe. */
  probe: (exec: Exec, signal: AbortSignal) => Promise<SshMachineFacts>;
  pricePerHour?: number;
  now?: () => Date;
}

export const SSH_INSTANCE_TYPE = "your-host";
const ID_PREFIX = "ssh-";

function toProviderError(e: unknown, where: string): unknown {
  if (e instanceof ProviderError || e instanceof AbortedError) return e;
  if (e instanceof KilnError && e.code === "ssh-auth-failed") {
    return new ProviderError("ssh", "auth", e.message, { scope: "provider", cause: e, suggestion: "run `kiln keys --public` and append that line to ~/.ssh/authorized_keys on the host" });
  }
  if (e instanceof KilnError && e.code === "host-key-changed") return new ProviderError("ssh", "fatal", e.message, { scope: "provider", cause: e });
  if (e instanceof KilnError && ["deadline", "ssh-connect-failed", "ssh-disconnected"].includes(e.code)) {
    return new ProviderError("ssh", "transient", `cannot reach ${where}: ${e.message}`, { scope: "provider", cause: e, suggestion: "check that the host is up and that resources.ssh.host/port are right" });
  }
  if (e instanceof UserError) return new ProviderError("ssh", "invalid", e.message, { scope: "provider", cause: e, ...(e.hint ? { suggestion: e.hint } : {}) });
  return new ProviderError("ssh", "fatal", `${where}: ${errorMessage(e)}`, { scope: "provider", cause: e });
}

export class SshProvider implements Provider {
  readonly name = "ssh" as const;
  private conn: Promise<SshConnection> | undefined;
  private facts: SshMachineFacts | undefined;
  private readonly where: string;

  constructor(private readonly opts: SshProviderOptions) {
    this.where = `${opts.target.user}@${opts.target.host}:${opts.target.port ?? 22}`;
  }

  private async guarded<T>(signal: AbortSignal, fn: (conn: SshConnection) => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    try {
      if (!this.conn) {
        // No per-call signal here: the connection outlives this call and reconnects on its own deadline.
        this.conn = SshConnection.open(this.opts.target, this.opts.connect);
        this.conn.catch(() => {
          this.conn = undefined;
        });
      }
      return await fn(await this.conn);
    } catch (e) {
      throw toProviderError(e, this.where);
    }
  }

  /** Close the SSH connection this provider holds. */
  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    (await c?.catch(() => undefined))?.close();
  }

  private offerFor(f: SshMachineFacts): Offer {
    return {
      provider: "ssh",
      instanceType: SSH_INSTANCE_TYPE,
      gpu: f.gpu,
      gpuCount: f.gpuCount,
      vramGb: f.vramGb,
      ...(f.vcpus === undefined ? {} : { vcpus: f.vcpus }),
      ...(f.memoryGb === undefined ? {} : { memoryGb: f.memoryGb }),
      region: this.opts.target.host,
      pricePerHour: this.opts.pricePerHour ?? 0,
      spot: false,
      available: true,
      priceSource: "live",
      priceDate: (this.opts.now?.() ?? new Date()).toISOString().slice(0, 10),
    };
  }

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    const f = await this.guarded(signal, async (conn) => {
      this.facts ??= await this.opts.probe(conn, signal);
      return this.facts;
    });
    // "Nothing fits" is an empty list, never an error (the contract).
    if (f.gpu === "cpu" || f.gpuCount < req.count || f.vramGb < req.minVramGb) return [];
    if (req.gpus !== "any" && !req.gpus.includes(f.gpu)) return [];
    if (req.maxPricePerHour !== undefined && (this.opts.pricePerHour ?? 0) > req.maxPricePerHour) return [];
    // The host is the one "region".
    if (req.regions && !req.regions.includes(this.opts.target.host)) return [];
    return [this.offerFor(f)];
  }

  private record(m: Marker, state: MachineRecord["state"], providerState: string): MachineRecord {
    const t = this.opts.target;
    return {
      provider: "ssh",
      id: m.id,
      name: m.name,
      intentId: m.intentId,
      state,
      providerState,
      instanceType: m.instanceType,
      region: t.host,
      pricePerHour: m.pricePerHour,
      ...(state === "terminated" ? {} : { ssh: { host: t.host, port: t.port ?? 22, user: t.user } }),
      launchedAt: m.launchedAt,
    };
  }

  private async readMarkers(conn: SshConnection, signal: AbortSignal): Promise<Marker[]> {
    // One JSON document per line; only Kiln's `kiln-*.json` markers are read, anything else is ignored.
    const r = await conn.run(["sh", "-c", 'cd "$1" 2>/dev/null || exit 0; for f in kiln-*.json; do [ -f "$f" ] && { cat "$f"; echo; }; done; exit 0', "sh", MARKER_DIR], { signal, timeoutMs: 30_000 });
    if (r.code !== 0) throw new KilnError("remote-command-failed", `listing Kiln's machine markers on ${conn.where} failed: ${r.stderr.slice(-300)}`);
    const out: Marker[] = [];
    for (const line of r.stdout.split("\n")) {
      if (line.trim() === "") continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        continue; // A marker damaged by hand is not a Kiln machine we can vouch for.
      }
      const p = MarkerSchema.safeParse(json);
      if (p.success) out.push(p.data);
    }
    return out;
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    return this.guarded(signal, async (conn) => {
      const id = `${ID_PREFIX}${req.intentId}`;
      const existing = (await this.readMarkers(conn, signal)).find((m) => m.id === id);
      if (existing) return this.record(existing, "running", "registered");
      const marker: Marker = {
        v: 1,
        id,
        name: machineNameFor(req.intentId),
        intentId: req.intentId,
        instanceType: SSH_INSTANCE_TYPE,
        pricePerHour: req.offer.pricePerHour,
        launchedAt: (this.opts.now?.() ?? new Date()).toISOString(),
      };
      const r = await conn.run(["sh", "-c", 'mkdir -p "$1" && cat > "$1/$2.tmp" && mv -f "$1/$2.tmp" "$1/$2"', "sh", MARKER_DIR, `${marker.name}.json`], {
        stdin: JSON.stringify(marker),
        signal,
        timeoutMs: 30_000,
      });
      if (r.code !== 0) throw new KilnError("remote-command-failed", `registering the machine on ${conn.where} failed: ${r.stderr.slice(-300)}`);
      return this.record(marker, "running", "registered");
    });
  }

  async describe(id: string, signal: AbortSignal): Promise<MachineRecord> {
    return this.guarded(signal, async (conn) => {
      const m = (await this.readMarkers(conn, signal)).find((x) => x.id === id);
      if (m) return this.record(m, "running", "registered");
      // An id the host does not know is terminated (the contract).
      const intentId = id.startsWith(ID_PREFIX) ? id.slice(ID_PREFIX.length) : undefined;
      return {
        provider: "ssh",
        id,
        name: intentId ? machineNameFor(intentId) : "",
        intentId,
        state: "terminated",
        providerState: "unregistered",
        instanceType: SSH_INSTANCE_TYPE,
        region: this.opts.target.host,
        pricePerHour: 0,
      };
    });
  }

  async listMachines(signal: AbortSignal): Promise<MachineRecord[]> {
    return this.guarded(signal, async (conn) => (await this.readMarkers(conn, signal)).map((m) => this.record(m, "running", "registered")));
  }

  async terminate(id: string, signal: AbortSignal): Promise<void> {
    if (!id.startsWith(ID_PREFIX) || !/^[A-Za-z0-9_.-]+$/.test(id)) return; // Not ours: nothing to do (idempotent).
    await this.guarded(signal, async (conn) => {
      const file = `${MARKER_DIR}/${machineNameFor(id.slice(ID_PREFIX.length))}.json`;
      const r = await conn.run(["rm", "-f", "--", file], { signal, timeoutMs: 30_000 });
      if (r.code !== 0) throw new KilnError("remote-command-failed", `unregistering ${id} on ${conn.where} failed: ${r.stderr.slice(-300)}`);
    });
  }
}
