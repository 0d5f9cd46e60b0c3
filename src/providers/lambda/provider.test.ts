// LambdaProvider's mapping onto Kiln's types, and the emulator's state machine behind it.
import { afterEach, describe, expect, it } from "vitest";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedLambdaClient } from "./testing/openapi.js";
import { type LambdaEmulator, startLambdaEmulator } from "./emulator.js";
import { canonicalLambdaGpu } from "./gpu-names.js";
import { LambdaProvider, offersFrom } from "./provider.js";
import { ProviderError } from "../provider.js";

const signal = new AbortController().signal;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
let emu: LambdaEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

describe("Lambda GPU names and offers", () => {
  it("maps gpu_description to Kiln's canonical names", () => {
    const names = ["A100 (40 GB SXM4)", "A100 (80 GB SXM4)", "H100 (80 GB SXM5)", "GH200 (96 GB)", "A10 (24 GB PCIe)", "RTX A6000 (48 GB)", "Tesla V100 (16 GB)", "B200 (180 GB SXM6)", "mystery"];
    expect(names.map((n) => canonicalLambdaGpu(n)?.gpu)).toEqual(["A100-40GB", "A100-80GB", "H100-80GB", "GH200-96GB", "A10-24GB", "A6000-48GB", "V100-16GB", "B200-180GB", undefined]);
  });

  it("names consumer cards as the shared table does, so a job asking for a 4090 matches them", () => {
    expect(canonicalLambdaGpu("RTX 4090 (24 GB)")?.gpu).toBe("RTX4090-24GB");
    expect(canonicalLambdaGpu("NVIDIA GeForce RTX 3090 (24 GB)")?.gpu).toBe("RTX3090-24GB");
    expect(canonicalLambdaGpu("RTX 6000 Ada (48 GB)")?.gpu).toBe("RTX6000ADA-48GB"); // not in the table: Lambda's name, same shape
  });

  it("turns cents into dollars, one offer per region with capacity, sold-out types unavailable", () => {
    const it = (name: string, cents: number, gpus: number, regions: string[]) => ({
      instance_type: { name, description: name, gpu_description: "H100 (80 GB SXM5)", price_cents_per_hour: cents, specs: { vcpus: 26, memory_gib: 200, storage_gib: 1000, gpus } },
      regions_with_capacity_available: regions.map((r) => ({ name: r, description: r })),
    });
    const offers = offersFrom({ a: it("gpu_1x_h100_sxm5", 329, 1, ["us-east-1", "us-west-1"]), b: it("gpu_8x_h100_sxm5", 2392, 8, []), c: it("cpu_4x_general", 20, 0, ["us-east-1"]) }, "2026-11-28");
    expect(offers.map((o) => [o.instanceType, o.region, o.pricePerHour, o.available, o.gpuCount])).toEqual([
      ["gpu_1x_h100_sxm5", "us-east-1", 3.29, true, 1],
      ["gpu_1x_h100_sxm5", "us-west-1", 3.29, true, 1],
      ["gpu_8x_h100_sxm5", "any", 23.92, false, 8],
    ]);
    expect(offers[0]).toMatchObject({ provider: "lambda", gpu: "H100-80GB", vramGb: 80, spot: false, priceSource: "live", priceDate: "2026-11-28" });
  });
});

describe("LambdaProvider on the emulator", () => {
  async function setup(opts: Parameters<typeof startLambdaEmulator>[0] = {}) {
    emu = await startLambdaEmulator({ bootDelayMs: 60, terminateDelayMs: 60, terminatedVisibleMs: 120, ...opts });
    const { client, check } = checkedLambdaClient(emu);
    const provider = new LambdaProvider({ client, sshKeyName: "kiln", sshPortOf: (id) => emu?.sshEndpoint(id)?.port });
    const offers = await provider.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" }, signal);
    return { emu, provider, check, offer: offers[0]! };
  }

  it("walks booting → active (with ssh) → terminating → terminated → gone, and bills the time in between", async () => {
    // The emulator's clock is ours to move, so the state machine is checked without timing races.
    let t = 1_000_000;
    const { emu, provider, offer, check } = await setup({ now: () => t, bootDelayMs: 60_000, terminateDelayMs: 30_000, terminatedVisibleMs: 60_000, onLaunch: async () => ({ ip: "127.0.0.1", port: 2222 }) });
    const m = await provider.launch({ intentId: "j1", offer, sshPublicKey: PUB }, signal);
    expect(m).toMatchObject({ state: "pending", providerState: "booting", name: "kiln-j1", pricePerHour: 1.29 });
    expect((await provider.describe(m.id, signal)).ssh).toBeUndefined();
    t += 60_000;
    expect(await provider.describe(m.id, signal)).toMatchObject({ state: "running", ssh: { host: "127.0.0.1", port: 2222, user: "ubuntu" } });
    t += 3_540_000;
    await provider.terminate(m.id, signal);
    expect((await provider.describe(m.id, signal)).state).toBe("terminating");
    t += 30_000;
    expect((await provider.describe(m.id, signal)).providerState).toBe("terminated");
    t += 60_000;
    expect(await provider.describe(m.id, signal)).toMatchObject({ state: "terminated", providerState: "not-found" });
    expect(await provider.listMachines(signal)).toEqual([]);
    t += 3_600_000;
    // Billing runs from launch to terminated: 60 s boot + 59 min + 30 s terminating = 1 h 0 m 30 s.
    expect(emu.inspect()).toMatchObject([{ status: "terminated", billedSeconds: 3630, costUsd: (3630 / 3600) * 1.29 }]);
    expect(check.violations).toEqual([]);
  });

  it("has fixed disks: offers carry no sizing, and a launch that needs a sized disk is refused before any call", async () => {
    const { emu, provider, offer } = await setup();
    expect(offer.diskSizing).toBeUndefined();
    await expect(provider.launch({ intentId: "disk", offer, sshPublicKey: PUB, diskGb: 600 }, signal)).rejects.toMatchObject({ kind: "invalid", message: /cannot size its disk at launch/ });
    expect(emu.inspect()).toEqual([]);
  });

  it("shows unhealthy when the instance's SSH endpoint cannot be made, and when forced", async () => {
    const { emu, provider, offer } = await setup({ bootDelayMs: 0, onLaunch: async (i) => (i.name === "kiln-bad" ? Promise.reject(new Error("no sshd")) : { ip: "127.0.0.1" }) });
    const bad = await provider.launch({ intentId: "bad", offer, sshPublicKey: PUB }, signal);
    const good = await provider.launch({ intentId: "good", offer, sshPublicKey: PUB }, signal);
    await wait(10);
    expect((await provider.describe(bad.id, signal)).state).toBe("unhealthy");
    expect((await provider.describe(good.id, signal)).state).toBe("running");
    emu.setUnhealthy(good.id);
    expect((await provider.describe(good.id, signal)).state).toBe("unhealthy");
    await provider.client.restartInstances([good.id], signal);
    expect((await provider.describe(good.id, signal)).state).toBe("running");
  });

  it("refuses to launch a sold-out offer, and reports capacity when a region sells out", async () => {
    const { emu, provider, offer } = await setup();
    await expect(provider.launch({ intentId: "x", offer: { ...offer, region: "any", available: false }, sshPublicKey: PUB }, signal)).rejects.toMatchObject({ kind: "capacity" });
    emu.setCapacity(offer.instanceType, offer.region, 0);
    const e = await provider.launch({ intentId: "y", offer, sshPublicKey: PUB }, signal).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: "capacity", scope: "region", code: "instance-operations/launch/insufficient-capacity" });
    expect(emu.inspect()).toEqual([]);
  });

  it("serves volumes from Lambda file systems", async () => {
    const { provider } = await setup();
    const v = await provider.createVolume("kilnckpt", "us-west-1", signal);
    expect(await provider.listVolumes(signal)).toEqual([v]);
    expect(v).toMatchObject({ name: "kilnckpt", region: "us-west-1" });
  });

  it("exposes every instance to other processes at /__emulator/instances", async () => {
    const { emu, provider, offer } = await setup();
    await provider.launch({ intentId: "seen", offer, sshPublicKey: PUB }, signal);
    const res = await fetch(emu.url.replace("/api/v1", "/__emulator/instances"));
    expect(((await res.json()) as { name: string }[]).map((i) => i.name)).toEqual(["kiln-seen"]);
  });
});
