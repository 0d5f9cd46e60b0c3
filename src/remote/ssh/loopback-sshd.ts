/**
 * A real OpenSSH server on loopback, for tests and for `kiln run --sim` (each emulated cloud machine is one
 * of these, so a rehearsal goes through real SSH): `/usr/sbin/sshd -D -e -f <config>` on 127.0.0.1 and a
 * free port, a throwaway ed25519 host key, one authorized test client key, and a fresh directory per
 * instance that acts as the remote home (HOME, the working directory and the first PATH entry point
 * into it). Nothing here touches the system sshd, the user's ~/.ssh or known_hosts.
 *
 * Why a login wrapper: sshd always chdir()s to the account's real home (/root here) and fixes PATH, so
 * a `ForceCommand` wrapper cds into the instance home, sources `<dir>/env.sh` (what {@link TestSshd.setEnv}
 * writes, e.g. to make a fake `nvidia-smi` fail) and then runs the client's original command. SFTP goes
 * through the same wrapper (the subsystem is the external sftp-server, which the wrapper execs), so
 * relative SFTP paths land in the instance home too.
 *
 * The machine's processes: every session gets `KILN_SIM_MACHINE=<dir>` in its environment, which its
 * children inherit however they detach (setsid, nohup, a tmux server that daemonizes away from sshd's
 * process tree). {@link TestSshd.cleanup} — the machine being terminated — kills every process that
 * carries it, as a powered-off cloud machine would; {@link TestSshd.stop} and `restart` leave them
 * running (sshd restarting is not the machine going away). Each machine also gets its own tmux socket
 * directory (`TMUX_TMPDIR`), so two emulated machines never share one tmux server, nor the user's own.
 * A process that scrubs its environment (`env -i`) escapes this; Kiln's remote code does not do that.
 *
 * @example
 *   const sshd = await startSshd();
 *   sshd.installCommand("nvidia-smi", "#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559'\n");
 *   const conn = await connectSsh(sshd.target(), { knownHosts, timeoutMs: 10_000 });
 *   await sshd.dropConnections();   // "SSH dropped mid-run"
 *   await sshd.restart({ newHostKey: true });   // "the machine was rebuilt" (pinning must refuse it)
 *   await sshd.cleanup();
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

export const SSHD_BIN = "/usr/sbin/sshd";
export const SFTP_SERVER = ["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server"].find(existsSync);

/** Whether the machine can run this harness (tests skip with this reason otherwise). */
export const sshdAvailable = existsSync(SSHD_BIN) && SFTP_SERVER !== undefined;

export interface SshdOptions {
  /** Start only when {@link TestSshd.start} is called (to test connecting to a machine that boots late). */
  deferStart?: boolean;
}

export interface SshdTarget {
  host: string;
  port: number;
  user: string;
  privateKey: Buffer;
  privateKeyPath: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function keygen(path: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kiln-test", "-f", path], { stdio: "ignore" });
}

/** Resolves when 127.0.0.1:port answers with an SSH banner; rejects after `timeoutMs`. */
async function waitForBanner(port: number, timeoutMs: number, proc: () => ChildProcess | undefined, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(1000, () => done(false));
      s.once("error", () => done(false));
      s.once("data", (d) => done(d.toString("latin1").startsWith("SSH-")));
      s.connect(port, "127.0.0.1");
    });
    if (ok) return;
    const p = proc();
    if (p && p.exitCode !== null) throw new Error(`sshd exited with ${p.exitCode} before listening:\n${log()}`);
    if (Date.now() > deadline) throw new Error(`sshd on port ${port} not ready after ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Direct and indirect children of `pid`, from /proc (no dependency on procps). */
/** Kill the per-connection sshd processes under the listener `pid`; how many there were. */
async function dropChildren(pid: number): Promise<number> {
  const victims = descendants(pid).filter((p) => p.comm === "sshd" || p.comm.startsWith("sshd"));
  for (const v of victims) {
    try {
      process.kill(v.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  return victims.length;
}

function descendants(pid: number): { pid: number; comm: string }[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const fields = stat.slice(close + 2).split(" ");
      parent.set(Number(name), Number(fields[1]));
      comm.set(Number(name), stat.slice(stat.indexOf("(") + 1, close));
    } catch {
      // The process exited while we were listing; it is nobody's descendant any more.
    }
  }
  const out: { pid: number; comm: string }[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) if (pp === p) {
      out.push({ pid: child, comm: comm.get(child) ?? "" });
      walk(child);
    }
  };
  walk(pid);
  return out;
}

/** The environment variable that marks a process as started on an emulated machine; its value is the machine's directory. */
export const MACHINE_ENV = "KILN_SIM_MACHINE";

/**
 * Live (not zombie) processes whose environment holds `entry` ("NAME=value"), from /proc. Only the
 * current user's processes are readable, which is all a loopback sshd started by this user can start.
 */
function processesWithEnv(entry: string): { pid: number; comm: string }[] {
  // environ is NUL-separated entries; a leading NUL lets one search match whole entries only.
  const want = Buffer.from(`\0${entry}\0`);
  const out: { pid: number; comm: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      // A zombie is already dead (its parent has not reaped it yet), and its environ reads empty.
      if (stat.slice(close + 2, close + 3) === "Z") continue;
      const env = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${name}/environ`), Buffer.from([0])]);
      if (env.includes(want)) out.push({ pid: Number(name), comm: stat.slice(stat.indexOf("(") + 1, close) });
    } catch {
      // Exited while we looked, or another user's process: not ours to kill.
    }
  }
  return out;
}

export class TestSshd {
  readonly host = "127.0.0.1";
  readonly user = userInfo().username;
  readonly dir: string;
  /** The remote "home": HOME, the working directory of every command, and where SFTP paths start. */
  readonly home: string;
  /** First entry of the remote PATH; put fake commands here ({@link installCommand}). */
  readonly binDir: string;
  readonly clientKeyPath: string;
  /** TMUX_TMPDIR of every session: this machine's own tmux server lives here. */
  readonly tmuxDir: string;
  port = 0;
  private proc: ChildProcess | undefined;
  private log = "";
  private readonly hostKeyPath: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "kiln-sshd-"));
    this.home = join(this.dir, "home");
    this.binDir = join(this.dir, "bin");
    this.hostKeyPath = join(this.dir, "host_ed25519");
    this.clientKeyPath = join(this.dir, "client_ed25519");
    this.tmuxDir = join(this.dir, "tmux");
    mkdirSync(this.home);
    mkdirSync(this.binDir);
    mkdirSync(this.tmuxDir, { mode: 0o700 });
    keygen(this.hostKeyPath);
    keygen(this.clientKeyPath);
    writeFileSync(join(this.dir, "authorized_keys"), readFileSync(`${this.clientKeyPath}.pub`));
    writeFileSync(join(this.dir, "env.sh"), "");
    const wrapper = join(this.dir, "login.sh");
    writeFileSync(
      wrapper,
      [
        "#!/bin/sh",
        `cd "$HOME" || exit 1`,
        `. ${join(this.dir, "env.sh")}`,
        `if [ -z "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/sh -l; fi`,
        `exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"`,
        "",
      ].join("\n"),
    );
    chmodSync(wrapper, 0o755);
  }

  get clientKey(): Buffer {
    return readFileSync(this.clientKeyPath);
  }

  /** The current host public key line ("ssh-ed25519 AAAA… kiln-test"). */
  get hostPublicKey(): string {
    return readFileSync(`${this.hostKeyPath}.pub`, "utf8").trim();
  }

  target(): SshdTarget {
    return { host: this.host, port: this.port, user: this.user, privateKey: this.clientKey, privateKeyPath: this.clientKeyPath };
  }

  /** Put an executable on the remote PATH (first entry), e.g. a fake `nvidia-smi`. */
  installCommand(name: string, script: string): string {
    const p = join(this.binDir, name);
    writeFileSync(p, script);
    chmodSync(p, 0o755);
    return p;
  }

  /** Environment for commands started from now on (sourced by the login wrapper). */
  setEnv(vars: Record<string, string>): void {
    const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    writeFileSync(join(this.dir, "env.sh"), Object.entries(vars).map(([k, v]) => `export ${k}=${q(v)}\n`).join(""));
  }

  /** Reserve a port without listening yet (for {@link SshdOptions.deferStart}). */
  async reservePort(): Promise<number> {
    if (this.port === 0) this.port = await freePort();
    return this.port;
  }

  private writeConfig(): string {
    const cfg = join(this.dir, "sshd_config");
    writeFileSync(
      cfg,
      [
        `Port ${this.port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${this.hostKeyPath}`,
        `AuthorizedKeysFile ${join(this.dir, "authorized_keys")}`,
        `PidFile ${join(this.dir, "sshd.pid")}`,
        "StrictModes no",
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "MaxStartups 50",
        "MaxSessions 20",
        "LogLevel INFO",
        `Subsystem sftp ${SFTP_SERVER}`,
        `SetEnv HOME=${this.home} PATH=${this.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ${MACHINE_ENV}=${this.dir} TMUX_TMPDIR=${this.tmuxDir}`,
        `ForceCommand ${join(this.dir, "login.sh")}`,
        "",
      ].join("\n"),
    );
    return cfg;
  }

  async start(timeoutMs = 10_000): Promise<void> {
    if (this.proc && this.proc.exitCode === null) return;
    await this.reservePort();
    // sshd refuses to start without its privilege-separation directory; a container may lack it.
    if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const cfg = this.writeConfig();
    this.log = "";
    const proc = spawn(SSHD_BIN, ["-D", "-e", "-f", cfg], { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.log = (this.log + d).slice(-20_000);
    });
    this.proc = proc;
    await waitForBanner(this.port, timeoutMs, () => this.proc, () => this.log);
  }

  /** sshd's own log (stderr with -e), for failure messages. */
  get serverLog(): string {
    return this.log;
  }

  /**
   * Kill every live SSH connection (the per-connection sshd processes) but leave the listener and the
   * user's processes alone: what a network drop or a laptop going to sleep looks like to the machine.
   */
  async dropConnections(): Promise<number> {
    const pid = this.proc?.pid;
    if (pid === undefined) return 0;
    return dropChildren(pid);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    // The listener's pid, not this.proc's (cleared above): a stopped machine's live connections end with it.
    await dropChildren(proc.pid!);
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }

  /** Restart on the same port; with `newHostKey` the server presents a different host key (a rebuilt machine). */
  async restart(opts: { newHostKey?: boolean } = {}): Promise<void> {
    await this.stop();
    if (opts.newHostKey) keygen(this.hostKeyPath);
    await this.start();
  }

  /** Live processes started through this machine's sshd (by their {@link MACHINE_ENV} marker), sshd's own excluded. */
  machineProcesses(): { pid: number; comm: string }[] {
    return processesWithEnv(`${MACHINE_ENV}=${this.dir}`);
  }

  /**
   * SIGKILL every process started through this machine's sshd, including those that detached from it
   * (setsid, tmux): what powering the machine off does. Repeats until none is left, since a process
   * may fork while it is being killed; gives up after `timeoutMs` and returns the survivors.
   */
  async killMachineProcesses(timeoutMs = 5_000): Promise<{ pid: number; comm: string }[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = this.machineProcesses();
      if (left.length === 0 || Date.now() > deadline) return left;
      for (const p of left) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Terminate the machine: stop the server, kill every process started through it (a survivor, e.g.
   * one stuck in uninterruptible sleep, is left to {@link machineProcesses}), delete the instance directory.
   */
  async cleanup(): Promise<void> {
    await this.stop();
    await this.killMachineProcesses();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startSshd(opts: SshdOptions = {}): Promise<TestSshd> {
  const sshd = new TestSshd();
  if (opts.deferStart) await sshd.reservePort();
  else await sshd.start();
  return sshd;
}
