// RunPod's mapping onto Kiln's terms, pinned: GPU names, offers (per GPU × count, secure and community, spot
// with the bid as the cap, stock per data centre), the pod states (RUNNING without ssh.direct is pending), and
// the descriptor's configuration (credentials, the emulator URL, the watchdog's DELETE).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import { ProviderError } from "../provider.js";
import { runpodDescriptor } from "./descriptor.js";
import { startRunpodEmulator } from "./emulator.js";
import { canonicalRunpodGpu } from "./gpu-names.js";
import { bidFor, offersFrom, RunpodProvider } from "./provider.js";
import type { RunpodGpuType } from "./schema.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedRunpodClient } from "./testing/specs.js";

const signal = () => AbortSignal.timeout(10_000);

describe("RunPod GPU names", () => {
  it.each([
    ["NVIDIA A100 80GB PCIe", 80, "A100-80GB"],
    ["NVIDIA A100-SXM4-80GB", 80, "A100-80GB"],
    ["NVIDIA H100 80GB HBM3", 80, "H100-80GB"],
    ["NVIDIA H100 PCIe", 80, "H100-80GB"],
    ["NVIDIA H100 NVL", 94, "H100-94GB"],
    ["NVIDIA H200", 141, "H200-141GB"],
    ["NVIDIA B200", 180, "B200-180GB"],
    ["NVIDIA GeForce RTX 4090", 24, "RTX4090-24GB"],
    ["NVIDIA GeForce RTX 3090", 24, "RTX3090-24GB"],
    ["NVIDIA RTX A6000", 48, "A6000-48GB"],
    ["NVIDIA L40S", 48, "L40S-48GB"],
    ["NVIDIA L4", 24, "L4-24GB"],
    ["Tesla V100-PCIE-16GB", 16, "V100-16GB"],
    ["NVIDIA RTX 6000 Ada Generation", 48, "RTX6000ADA-48GB"],
    ["AMD Instinct MI300X OAM", 192, "MI300XOAM-192GB"],
  ])("%s (%i GB) is %s", (id, mem, want) => {
    expect(canonicalRunpodGpu(id, mem)).toBe(want);
  });
});

const gpu = (o: Partial<RunpodGpuType> = {}): RunpodGpuType => ({
  id: "NVIDIA GeForce RTX 4090",
  name: "RTX 4090",
  memory: 24,
  secure: true,
  community: true,
  price: { secure: 0.69, community: 0.34 },
  maxCount: { secure: 8, community: 4 },
  availability: "HIGH",
  dataCenters: [
    { id: "US-KS-2", availability: "HIGH" },
    { id: "EU-RO-1", availability: "NONE" },
  ],
  ...o,
});

describe("RunPod offers", () => {
  it("price per GPU × count, one offer per data centre (NONE unavailable), spot beside with the bid as its cap", () => {
    const spot = [{ id: "NVIDIA GeForce RTX 4090", secureSpotPrice: 0.35, communitySpotPrice: null }];
    const offers = offersFrom([gpu()], "SECURE", 2, spot, "2026-12-04");
    expect(offers.map((o) => [o.region, o.available, o.spot, o.pricePerHour, o.capPricePerHour])).toEqual([
      ["US-KS-2", true, false, 1.38, undefined],
      ["US-KS-2", true, true, 0.7, 0.876],
      ["EU-RO-1", false, false, 1.38, undefined],
      ["EU-RO-1", false, true, 0.7, 0.876],
    ]);
    expect(offers[0]).toMatchObject({ provider: "runpod", instanceType: "NVIDIA GeForce RTX 4090", gpu: "RTX4090-24GB", gpuCount: 2, vramGb: 24, priceSource: "live", priceDate: "2026-12-04" });
    // Community offers carry their tier in the instance type; no community spot price, no community spot offer.
    const community = offersFrom([gpu()], "COMMUNITY", 1, spot, "2026-12-04");
    expect(community.map((o) => [o.instanceType, o.spot, o.pricePerHour])).toEqual([
      ["NVIDIA GeForce RTX 4090 (community)", false, 0.34],
      ["NVIDIA GeForce RTX 4090 (community)", false, 0.34],
    ]);
  });

  it("a type out everywhere is one unavailable 'any' offer; too many GPUs, a $0 or absurd price, or an unknown id are left out", () => {
    expect(offersFrom([gpu({ dataCenters: undefined, availability: "NONE" })], "SECURE", 1, undefined, "d").map((o) => [o.region, o.available])).toEqual([["any", false]]);
    expect(offersFrom([gpu()], "COMMUNITY", 8, undefined, "d")).toEqual([]);
    const warnings: string[] = [];
    expect(offersFrom([gpu({ price: { secure: 0, community: 500 } })], "COMMUNITY", 1, undefined, "d", (m) => warnings.push(m))).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/\$500 per GPU-hour; left out/)]);
    expect(offersFrom([gpu({ id: "", memory: 0 })], "SECURE", 1, undefined, "d")).toEqual([]);
  });

  it("the bid is the spot price plus a margin, never above on-demand nor below the spot price", () => {
    expect(bidFor(0.4, 1)).toBe(0.5);
    expect(bidFor(0.9, 1)).toBe(1);
    expect(bidFor(1.2, 1)).toBe(1.2);
  });

  it("on the emulator: spot offers only when allowed, filters by GPU, count, region and price", async () => {
    const emu = await startRunpodEmulator({ bootDelayMs: 10 });
    try {
      const { client, check } = checkedRunpodClient(emu);
      const p = new RunpodProvider({ client });
      const never = await p.listOffers({ gpus: ["H100-80GB"], count: 1, minVramGb: 80, spot: "never" }, signal());
      expect(never.length).toBeGreaterThan(0);
      expect(never.every((o) => !o.spot && o.gpu === "H100-80GB")).toBe(true);
      const allowed = await p.listOffers({ gpus: ["H100-80GB"], count: 1, minVramGb: 80, spot: "allowed", regions: ["EU-RO-1"] }, signal());
      expect(allowed.filter((o) => o.spot).map((o) => [o.instanceType, o.region, o.pricePerHour, o.capPricePerHour])).toEqual([["NVIDIA H100 80GB HBM3", "EU-RO-1", 1.75, 2.188]]);
      expect(allowed.every((o) => o.region === "EU-RO-1")).toBe(true);
      const cheap = await p.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "allowed", maxPricePerHour: 0.3 }, signal());
      expect(cheap.every((o) => o.pricePerHour <= 0.3)).toBe(true);
      expect(check.violations).toEqual([]);
    } finally {
      await emu.close();
    }
  });
});

describe("RunPod pod states", () => {
  it("PROVISIONING and STARTING are pending, RUNNING only with ssh.direct, then ssh is the direct endpoint", async () => {
    const emu = await startRunpodEmulator({ bootDelayMs: 200 });
    try {
      const { client } = checkedRunpodClient(emu);
      const p = new RunpodProvider({ client });
      const [offer] = (await p.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal())).filter((o) => o.available);
      const m = await p.launch({ intentId: "states", offer: offer!, sshPublicKey: PUB }, signal());
      expect({ state: m.state, providerState: m.providerState }).toEqual({ state: "pending", providerState: "PROVISIONING" });
      const seen = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const d = await p.describe(m.id, signal());
        seen.add(`${d.providerState}/${d.state}`);
        if (d.state === "running") {
          expect(d.ssh).toEqual({ host: "127.0.0.1", port: expect.any(Number), user: expect.any(String) });
          break;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      // Which boot states a poll catches depends on the machine's load; each is mapped as pinned below.
      expect([...seen].every((x) => ["PROVISIONING/pending", "STARTING/pending", "RUNNING/pending", "RUNNING/running"].includes(x))).toBe(true);
      expect(seen.has("RUNNING/running")).toBe(true);
      // The pod carries Kiln's key in its own PUBLIC_KEY; the account's key list is never touched.
      expect(emu.account.get(m.id)?.env["PUBLIC_KEY"]).toBe(PUB);
      expect([...emu.requests.keys()].filter((k) => k.includes("ssh-keys"))).toEqual([]);
      await p.terminate(m.id, signal());
      await p.terminate(m.id, signal());
      expect(emu.requests.get("DELETE /v2/pods/{id}")).toBe(2);
    } finally {
      await emu.close();
    }
  });

  it("a launch without Kiln's public key, or of an offer with no stock, is refused before any call", async () => {
    const emu = await startRunpodEmulator({ bootDelayMs: 10 });
    try {
      const { client } = checkedRunpodClient(emu);
      const p = new RunpodProvider({ client });
      const [offer] = await p.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal());
      const before = emu.requests.get("POST /v2/pods") ?? 0;
      await expect(p.launch({ intentId: "nokey", offer: offer! }, signal())).rejects.toMatchObject({ kind: "invalid" });
      await expect(p.launch({ intentId: "none", offer: { ...offer!, region: "any", available: false }, sshPublicKey: PUB }, signal())).rejects.toBeInstanceOf(ProviderError);
      expect(emu.requests.get("POST /v2/pods") ?? 0).toBe(before);
    } finally {
      await emu.close();
    }
  });
});

describe("RunPod status mapping (every status pinned)", () => {
  const POD = { id: "p1", name: "kiln-aaaaaaaa-0123456789", env: {}, cloud: "SECURE", dataCenterId: "US-KS-2", cost: 0.44, createdAt: "2026-06-01T12:00:00Z", gpu: { id: "NVIDIA GeForce RTX 4090", count: 1 } };
  const DIRECT = { host: "195.26.233.3", port: 34446, username: "root", command: "ssh root@195.26.233.3 -p 34446" };
  const describeAs = async (pod: Record<string, unknown>, terminatedByKiln = false) => {
    const { RunpodClient } = await import("./client.js");
    const fetch: typeof globalThis.fetch = async (_u, init) => (init?.method === "DELETE" ? new Response(null, { status: 204 }) : new Response(JSON.stringify(pod), { status: 200 }));
    const p = new RunpodProvider({ client: new RunpodClient({ apiKey: "k", fetch, minIntervalMs: 0 }) });
    if (terminatedByKiln) await p.terminate("p1", signal());
    const r = await p.describe("p1", signal());
    return { state: r.state, ssh: r.ssh, reclaimed: r.reclaimed !== undefined, intent: r.intentId };
  };
  it.each([
    ["PROVISIONING", null, {}, "pending", false],
    ["STARTING", null, {}, "pending", false],
    ["RUNNING", null, {}, "pending", false],
    ["RUNNING", DIRECT, {}, "running", false],
    ["EXITED", null, {}, "stopped", false],
    ["EXITED", null, { KILN_INTERRUPTIBLE: "1" }, "stopped", true],
    ["TERMINATED", null, { KILN_INTERRUPTIBLE: "1" }, "terminated", true],
    ["ERROR", DIRECT, {}, "unhealthy", false],
    ["PAUSED", null, {}, "unknown", false],
  ] as const)("%s with direct=%j env=%j is %s (reclaimed: %s)", async (status, direct, env, state, reclaimed) => {
    const r = await describeAs({ ...POD, status, env, ssh: { proxy: null, direct } });
    expect({ state: r.state, reclaimed: r.reclaimed, intent: r.intent }).toEqual({ state, reclaimed, intent: "aaaaaaaa-0123456789" });
    expect(r.ssh).toEqual(direct ? { host: "195.26.233.3", port: 34446, user: "root" } : undefined);
  });
  it("an interruptible pod Kiln itself removed is not reclaimed", async () => {
    expect((await describeAs({ ...POD, status: "TERMINATED", env: { KILN_INTERRUPTIBLE: "1" }, ssh: { proxy: null, direct: null } }, true)).reclaimed).toBe(false);
  });
});

describe("RunPod descriptor", () => {
  const ctx = (env: NodeJS.ProcessEnv, file?: string) => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-rp-"));
    const credentialsPath = join(dir, "credentials.json");
    if (file !== undefined) writeFileSync(credentialsPath, file, { mode: 0o600 });
    return { env, credentialsPath, logger: nullLogger };
  };

  it("is configured from RUNPOD_API_KEY or the file's runpod section; a loopback URL is an emulator", async () => {
    expect(await runpodDescriptor.configured!(ctx({}))).toBeUndefined();
    const fromEnv = await runpodDescriptor.configured!(ctx({ RUNPOD_API_KEY: "rpa_x" }));
    expect({ source: fromEnv?.source, emulated: fromEnv?.emulated }).toEqual({ source: "RUNPOD_API_KEY", emulated: false });
    const c = ctx({ KILN_RUNPOD_API_URL: "http://127.0.0.1:9" }, JSON.stringify({ runpod: { api_key: "rpa_y" } }));
    const fromFile = await runpodDescriptor.configured!(c);
    expect({ source: fromFile?.source, emulated: fromFile?.emulated }).toEqual({ source: c.credentialsPath, emulated: true });
    await expect(runpodDescriptor.configured!(ctx({}, JSON.stringify({ runpod: { key: "z" } })))).rejects.toMatchObject({ kind: "auth", message: expect.stringMatching(/runpod/) });
    expect(runpodDescriptor.credentials).toMatchObject({ envVars: ["RUNPOD_API_KEY"], fileSection: "runpod", createAt: "https://www.runpod.io/console/user/settings" });
    expect(runpodDescriptor.cap).toEqual({ apiTerminate: "full-account", persistentVolume: "RunPod network volumes" });
  });

  it("the watchdog ends billing with DELETE (not stop), the key in a header file, never on argv", async () => {
    const c = await runpodDescriptor.configured!(ctx({ RUNPOD_API_KEY: "rpa_secret" }));
    const eb = c!.endBilling!("pod123");
    expect(eb.args).toEqual(["https://api.runpod.io", "pod123"]);
    expect(eb.script).toMatch(/-X DELETE .*\/v2\/pods\/\$2/);
    expect(eb.args.join(" ")).not.toContain("rpa_secret");
    expect(eb.files).toEqual([{ name: "auth-header", content: "Authorization: Bearer rpa_secret\n" }]);
  });

  it("kiln emulate runpod serves an account from a config file, and counts what it launched", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-rp-emu-"));
    const config = join(dir, "emu.yaml");
    writeFileSync(config, "apiKey: rpa_fromconfig\nbootDelayMs: 10\nsshd: false\nfaults: [{ kind: reclaim, probability: 0 }]\n");
    const emu = await runpodDescriptor.emulate!({ host: "127.0.0.1", port: 0, configPath: config });
    try {
      expect(emu.env).toEqual({ KILN_RUNPOD_API_URL: emu.url, RUNPOD_API_KEY: "rpa_fromconfig" });
      const cloud = await runpodDescriptor.configured!(ctx(emu.env));
      const [offer] = (await cloud!.provider.listOffers({ gpus: ["L40S-48GB"], count: 1, minVramGb: 48, spot: "never" }, signal())).filter((o) => o.available);
      await cloud!.provider.launch({ intentId: "emulated", offer: offer!, sshPublicKey: PUB }, signal());
    } finally {
      expect(await emu.close()).toEqual({ launched: 1, live: 1 });
    }
    writeFileSync(config, "bootDelay: 10\n");
    await expect(runpodDescriptor.emulate!({ host: "127.0.0.1", port: 0, configPath: config })).rejects.toMatchObject({ message: expect.stringMatching(/bootDelay/) });
  });

  it("kiln check names what it found, and words a rejected key for the user", async () => {
    const emu = await startRunpodEmulator({ bootDelayMs: 10 });
    try {
      expect(await runpodDescriptor.check!(ctx({ RUNPOD_API_KEY: emu.apiKey, KILN_RUNPOD_API_URL: emu.url }), signal())).toMatch(/key from RUNPOD_API_KEY works: the account has 0 pods/);
      await expect(runpodDescriptor.check!(ctx({ RUNPOD_API_KEY: "rpa_bad", KILN_RUNPOD_API_URL: emu.url }), signal())).rejects.toMatchObject({ message: expect.stringMatching(/RunPod rejected the API key from RUNPOD_API_KEY/) });
    } finally {
      await emu.close();
    }
  });
});
