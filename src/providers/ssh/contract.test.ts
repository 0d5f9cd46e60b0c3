// The shared provider contract against the ssh provider on a real sshd whose PATH has the fake
// nvidia-smi (an A100 40GB fixture), probed through core's GPU probe as the lifecycle will do.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// ssh2 is CommonJS: Node's ESM loader sees only its default export, not named ones.
import ssh2 from "ssh2";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { canonicalGpuName, mibToGb, probeGpus } from "../../core/gpu/index.js";
import type { Exec } from "../../remote/exec.js";
import { KnownHosts } from "../../remote/ssh/known-hosts.js";
import { sshdAvailable, startSshd, type TestSshd } from "../../remote/ssh/loopback-sshd.js";
import { ProviderError } from "../provider.js";
import { runProviderContract } from "../contract.js";
import { type SshMachineFacts, SshProvider } from "./provider.js";
import { MARKER_DIR } from "./schema.js";

const { utils } = ssh2;

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "test", "fixtures", "nvidia-smi");

async function probeFacts(exec: Exec, signal: AbortSignal): Promise<SshMachineFacts> {
  const p = await probeGpus(exec, signal);
  if (p.kind !== "ok") return { gpu: "cpu", gpuCount: 0, vramGb: 0 };
  const first = p.gpus[0]!;
  return { gpu: canonicalGpuName(first.name, first.memoryTotalMiB) ?? first.name, gpuCount: p.gpus.length, vramGb: Math.floor(mibToGb(first.memoryTotalMiB)) };
}

function withFakeGpu(sshd: TestSshd, fixture: string): void {
  sshd.installCommand("nvidia-smi", readFileSync(join(FIXTURES, "fake-nvidia-smi"), "utf8"));
  sshd.setEnv({ FAKE_NVIDIA_SMI_FIXTURE: join(FIXTURES, fixture) });
}

if (sshdAvailable) {
  runProviderContract("ssh (real sshd)", async () => {
    const sshd = await startSshd();
    withFakeGpu(sshd, "a100-40gb");
    const dir = mkdtempSync(join(tmpdir(), "kiln-sshprov-"));
    const knownHosts = new KnownHosts(join(dir, "known_hosts"));
    const target = { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey };
    const provider = new SshProvider({ target, connect: { knownHosts, timeoutMs: 10_000 }, probe: probeFacts, pricePerHour: 0 });
    let broken: SshProvider | undefined;
    return {
      provider,
      gpuRequest: { gpus: ["A100-40GB"], count: 1, minVramGb: 16, spot: "never" },
      async createForeignMachine() {
        // Something on the host that is not Kiln's marker must never be listed.
        mkdirSync(join(sshd.home, MARKER_DIR), { recursive: true });
        writeFileSync(join(sshd.home, MARKER_DIR, "other.json"), '{"id":"other"}\n');
        return "other";
      },
      brokenProvider() {
        // A key the host does not accept.
        broken = new SshProvider({ target: { ...target, privateKey: utils.generateKeyPairSync("ed25519").private }, connect: { knownHosts, timeoutMs: 5_000 }, probe: probeFacts });
        return broken;
      },
      async close() {
        await provider.close();
        await broken?.close();
        await sshd.cleanup();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }, {
    skips: [{ reason: "the marker is written by the same SSH command that reports the launch: there is no listing to lag", tests: ["a lagging listing shows a new machine within the lag"] }],
  });
}

// Skipped only where openssh-server is not installed (.ci/run installs it).
describe.skipIf(!sshdAvailable)("SshProvider specifics", () => {
  let sshd: TestSshd;
  let dir: string;
  const signal = () => AbortSignal.timeout(30_000);
  const make = (over: Partial<ConstructorParameters<typeof SshProvider>[0]> = {}) =>
    new SshProvider({
      target: { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey },
      connect: { knownHosts: new KnownHosts(join(dir, "known_hosts")), timeoutMs: 10_000 },
      probe: probeFacts,
      now: () => new Date("2026-11-28T12:00:00Z"),
      ...over,
    });
  beforeEach(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), "kiln-sshprov-"));
  });
  afterEach(async () => {
    await sshd.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("offers the host with the probed GPU at the user's price, or nothing when it does not fit", async () => {
    withFakeGpu(sshd, "two-gpus");
    const p = make({ pricePerHour: 0.4 });
    const offers = await p.listOffers({ gpus: "any", count: 1, minVramGb: 8, spot: "never" }, signal());
    expect(offers).toHaveLength(1);
    expect(offers[0]).toMatchObject({ provider: "ssh", instanceType: "your-host", region: "127.0.0.1", pricePerHour: 0.4, priceDate: "2026-11-28", gpuCount: 2 });
    expect(await p.listOffers({ gpus: "any", count: 3, minVramGb: 8, spot: "never" }, signal())).toEqual([]);
    expect(await p.listOffers({ gpus: "any", count: 1, minVramGb: 8, spot: "never", maxPricePerHour: 0.1 }, signal())).toEqual([]);
    await p.close();
    withFakeGpu(sshd, "driver-not-loaded");
    const cpuOnly = make();
    expect(await cpuOnly.listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never" }, signal())).toEqual([]);
    await cpuOnly.close();
  });

  it("keeps registrations on the host, so another Kiln process sees and can terminate them", async () => {
    withFakeGpu(sshd, "a100-40gb");
    const a = make();
    const [offer] = await a.listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never" }, signal());
    const m = await a.launch({ intentId: "j42-a1", offer: offer! }, signal());
    expect(m).toMatchObject({ id: "ssh-j42-a1", name: "kiln-j42-a1", state: "running", ssh: { host: "127.0.0.1", port: sshd.port, user: sshd.user } });
    await a.close();
    const b = make();
    expect((await b.listMachines(signal())).map((x) => x.id)).toEqual(["ssh-j42-a1"]);
    await b.terminate("ssh-j42-a1", signal());
    expect((await b.describe("ssh-j42-a1", signal())).state).toBe("terminated");
    expect(await b.listMachines(signal())).toEqual([]);
    await b.close();
  });

  it("maps SSH failures to ProviderErrors: changed host key is fatal, unreachable is transient", async () => {
    withFakeGpu(sshd, "a100-40gb");
    const req = { gpus: "any" as const, count: 1, minVramGb: 1, spot: "never" as const };
    const first = make();
    await first.listOffers(req, signal());
    await first.close();
    await sshd.restart({ newHostKey: true });
    const e1 = await make().listOffers(req, signal()).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ProviderError);
    expect(e1).toMatchObject({ kind: "fatal", provider: "ssh" });
    expect((e1 as Error).message).toContain("host key");
    await sshd.stop();
    const e2 = await make({ connect: { knownHosts: new KnownHosts(join(dir, "kh2")), timeoutMs: 800 } }).listOffers(req, signal()).catch((e: unknown) => e);
    expect(e2).toMatchObject({ kind: "transient", provider: "ssh" });
  });
});
