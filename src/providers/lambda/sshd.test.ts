// The onLaunch hook in earnest: every emulated instance is backed by its own real loopback sshd (the
// SSH issue's harness), and Kiln logs in at the address describe() reports — what `--sim` runs do.
import { mkdtempSync, rmSync } from "node:fs";
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
});
