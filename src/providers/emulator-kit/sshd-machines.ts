/**
 * Machines backed by real loopback sshd's, for emulators in tests and `kiln run --sim`: each emulated
 * machine is its own OpenSSH server with its own home, authorizing exactly the public keys the launch
 * named (as a real cloud injects them), so the lifecycle's SSH, sync and session code runs for real.
 * Terminating the machine kills every process it started, as a powered-off machine would.
 *
 * The harness is test tooling (src/remote/ssh/loopback-sshd.ts, left out of the npm build), so it is
 * imported on first use: an installed Kiln without it gets a clear `sim_unavailable` error.
 *
 * @example
 *   const machines = new SshdMachines({ env: { FAKE_STEPS: "40" } });
 *   const { host, port } = await machines.start("pod-1", [publicKey]);
 *   machines.homeOf("pod-1");   // the machine's home directory
 *   await machines.stop("pod-1");   // terminated: its processes die
 *   await machines.closeAll();
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../../base/errors.js";

interface Sshd {
  dir: string;
  home: string;
  host: string;
  port: number;
  setEnv(vars: Record<string, string>): void;
  cleanup(): Promise<void>;
}

export interface SshEndpoint {
  host: string;
  port: number;
}

export class SshdMachines {
  readonly #running = new Map<string, Sshd>();
  constructor(private readonly o: { env?: Record<string, string> } = {}) {}

  /**
   * Start the machine `id`'s sshd, authorizing `publicKeys` (OpenSSH one-line format); `env` adds to this
   * machine's sessions' environment (e.g. how it reaches its emulated metadata server).
   */
  async start(id: string, publicKeys: readonly string[], env?: Record<string, string>): Promise<SshEndpoint> {
    const s = await startLoopbackSshd();
    this.#running.set(id, s);
    if (this.o.env || env) s.setEnv({ ...this.o.env, ...env });
    for (const k of publicKeys) appendFileSync(join(s.dir, "authorized_keys"), `${k.trim()}\n`);
    return { host: s.host, port: s.port };
  }

  homeOf(id: string): string | undefined {
    return this.#running.get(id)?.home;
  }

  has(id: string): boolean {
    return this.#running.has(id);
  }

  /** The machine is gone: its sshd and every process it started die. Unknown ids are fine. */
  async stop(id: string): Promise<void> {
    const s = this.#running.get(id);
    this.#running.delete(id);
    await s?.cleanup();
  }

  async closeAll(): Promise<void> {
    const all = [...this.#running.values()];
    this.#running.clear();
    for (const s of all) await s.cleanup();
  }
}

async function startLoopbackSshd(): Promise<Sshd> {
  let mod: typeof import("../../remote/ssh/loopback-sshd.js");
  try {
    mod = await import("../../remote/ssh/loopback-sshd.js");
  } catch (e) {
    throw new KilnError("sim_unavailable", "`--sim` needs the loopback sshd harness (src/remote/ssh/loopback-sshd.ts), which this build does not include", { cause: e });
  }
  return mod.startSshd();
}
