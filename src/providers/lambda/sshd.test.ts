// The onLaunch hook in earnest: every emulated instance is backed by its own real loopback sshd (the
// SSH issue's harness), and Kiln logs in at the address describe() reports — what `--sim` runs do.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KnownHosts } from "../../remote/ssh/known-hosts.js";
import { SshConnection } from "../../remote/ssh/connection.js";
import { type TestSshd, sshdAvailable, startSshd } from "../../remote/ssh/loopback-sshd.js";
import { type LambdaEmulator, startLambdaEmulator } from "./emulator.js";
import { LambdaProvider } from "./provider.js";
import { checkedLambdaClient } from "./testing/openapi.js";

const signal = new AbortController().signal;
const hasTmux = existsSync("/usr/bin/tmux");

/** Whether `pid` is a live process (a zombie has exited; it only waits for its parent to reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
const PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T kiln";
const sshds = new Map<string, TestSshd>();
let emu: LambdaEmulator | undefined;
let dir: string | undefined;
afterEach(async () => {
  await emu?.close();
  for (const s of sshds.values()) await s.cleanup();
  sshds.clear();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!sshdAvailable)("Lambda emulator backed by real sshd (skipped where /usr/sbin/sshd or sftp-server is missing)", () => {
  it("gives each instance its own SSH endpoint, reachable once describe says running", async () => {
    const terminated: string[] = [];
    emu = await startLambdaEmulator({
      bootDelayMs: 0,
      onLaunch: async (i) => {
        const s = await startSshd();
        sshds.set(i.id, s);
        return { ip: s.host, port: s.port };
      },
      onTerminate: async (i) => {
        terminated.push(i.id);
        await sshds.get(i.id)?.cleanup();
      },
    });
    const { client, check } = checkedLambdaClient(emu);
    const e = emu;
    // The harness logs in as the local user; on Lambda it would be "ubuntu".
    const user = userInfo().username;
    const provider = new LambdaProvider({ client, sshKeyName: "kiln", sshUser: user, sshPortOf: (id) => e.sshEndpoint(id)?.port });
    const [offer] = await provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal);
    const machines = [await provider.launch({ intentId: "a", offer: offer!, sshPublicKey: PUB }, signal), await provider.launch({ intentId: "b", offer: offer!, sshPublicKey: PUB }, signal)];
    dir = mkdtempSync(join(tmpdir(), "kiln-lambda-ssh-"));
    const knownHosts = new KnownHosts(join(dir, "known_hosts"));
    const homes: string[] = [];
    for (const m of machines) {
      let d = await provider.describe(m.id, signal);
      for (let n = 0; d.state !== "running" && n < 200; n++) {
        await new Promise((r) => setTimeout(r, 25));
        d = await provider.describe(m.id, signal);
      }
      expect(d.ssh).toMatchObject({ host: "127.0.0.1", user });
      const sshd = sshds.get(m.id)!;
      const conn = await SshConnection.open({ host: d.ssh!.host, port: d.ssh!.port, user: d.ssh!.user, privateKey: sshd.target().privateKey, hostKeyAlias: m.id }, { knownHosts, timeoutMs: 15_000 });
      try {
        homes.push((await conn.run(["sh", "-c", "pwd"])).stdout.trim());
      } finally {
        conn.close();
      }
      await provider.terminate(m.id, signal);
    }
    expect(homes).toEqual(machines.map((m) => sshds.get(m.id)!.home));
    expect(new Set(homes).size).toBe(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(terminated).toEqual(machines.map((m) => m.id));
    expect(check.violations).toEqual([]);
  });

  it("terminating an instance kills what runs on it: a setsid job, a tmux session and a nohup'd watchdog", async () => {
    emu = await startLambdaEmulator({
      bootDelayMs: 0,
      terminateDelayMs: 0,
      onLaunch: async (i) => {
        const s = await startSshd();
        sshds.set(i.id, s);
        return { ip: s.host, port: s.port };
      },
      // What `--sim` and the lifecycle harness do: the machine going away is its sshd's cleanup().
      onTerminate: async (i) => sshds.get(i.id)?.cleanup(),
    });
    const { client, check } = checkedLambdaClient(emu);
    await client.addSshKey("kiln", PUB, signal);
    const [id] = await client.launchInstance({ region_name: "us-west-1", instance_type_name: "gpu_1x_a10", ssh_key_names: ["kiln"] }, signal);
    for (let n = 0; !sshds.has(id!) || emu.sshEndpoint(id!) === undefined; n++) {
      if (n > 400) throw new Error("the emulated machine never got its sshd");
      await new Promise((r) => setTimeout(r, 25));
    }
    const sshd = sshds.get(id!)!;
    dir = mkdtempSync(join(tmpdir(), "kiln-lambda-ssh-"));
    const conn = await SshConnection.open({ ...sshd.target(), hostKeyAlias: id! }, { knownHosts: new KnownHosts(join(dir, "known_hosts")), timeoutMs: 15_000 });
    const starts = [
      // The job as startRun's setsid method starts it: its own session, immune to the SSH hangup.
      ["job", 'setsid nohup sh -c \'echo $$ > job.pid; exec sleep 300\' > /dev/null 2>&1 < /dev/null &'],
      // The watchdog: plain nohup in the background, still in the SSH session's process tree until it ends.
      ["watchdog", "nohup sh -c 'echo $$ > watchdog.pid; exec sleep 301' > /dev/null 2>&1 < /dev/null &"],
      // tmux daemonizes its server away from sshd entirely; it must die too.
      ...(hasTmux ? [["tmux", "tmux new-session -d -s kiln-job \"sh -c 'echo \\$\\$ > tmux.pid; exec sleep 302'\""]] : []),
    ] as const;
    const pids: Record<string, number> = {};
    try {
      for (const [, cmd] of starts) expect((await conn.run(["sh", "-c", cmd])).code).toBe(0);
      for (const [name] of starts) {
        const file = join(sshd.home, `${name}.pid`);
        for (let n = 0; !existsSync(file) || readFileSync(file, "utf8").trim() === ""; n++) {
          if (n > 400) throw new Error(`${name} never wrote its pid`);
          await new Promise((r) => setTimeout(r, 25));
        }
        pids[name] = Number(readFileSync(file, "utf8"));
      }
    } finally {
      conn.close();
    }
    expect(Object.values(pids).every(alive)).toBe(true);
    expect(sshd.machineProcesses().map((p) => p.pid)).toEqual(expect.arrayContaining(Object.values(pids)));

    await client.terminateInstances([id!], signal);
    // Killed processes leave asynchronously (tmux's server exits after its pane's process): poll for both,
    // bounded, before asserting.
    for (let n = 0; Object.values(pids).some(alive) || sshd.machineProcesses().length > 0; n++) {
      if (n > 400) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(Object.entries(pids).filter(([, pid]) => alive(pid))).toEqual([]);
    expect(sshd.machineProcesses()).toEqual([]);
    expect(check.violations).toEqual([]);
  });
});
