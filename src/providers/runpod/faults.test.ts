// Wire-level faults from the real emulator, through the real client and provider (every exchange checked
// against RunPod's spec where an answer exists): lost creates on both APIs, a rent answered without a pod,
// hangs, 5xx, 429 with Retry-After, the RateLimit header, capacity, an empty balance, HTML pages from a proxy,
// a lagging listing, and spot reclaims (on demand and at random).
import { afterEach, describe, expect, it } from "vitest";
import { isMaybeLaunched, machineNameFor, type Offer, ProviderError } from "../provider.js";
import type { Clock } from "./pacing.js";
import { type RunpodEmulator, type RunpodEmulatorOptions, startRunpodEmulator } from "./emulator.js";
import { RunpodProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedRunpodClient } from "./testing/specs.js";

const signal = () => AbortSignal.timeout(20_000);
let emu: RunpodEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

/** A clock that never really sleeps, recording what it was asked to wait. */
function fakeClock(): Clock & { waits: number[] } {
  let now = Date.now();
  const waits: number[] = [];
  return {
    waits,
    now: () => now,
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
    },
  };
}

async function setup(o: RunpodEmulatorOptions = {}, clientOpts: Parameters<typeof checkedRunpodClient>[1] = {}) {
  emu = await startRunpodEmulator({ bootDelayMs: 20, ...o });
  const { client, check } = checkedRunpodClient(emu, clientOpts);
  const provider = new RunpodProvider({ client });
  const offers = await provider.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "allowed" }, signal());
  const onDemand = offers.find((x) => !x.spot && x.available && x.instanceType === "NVIDIA GeForce RTX 4090")!;
  const spot = offers.find((x) => x.spot && x.available && x.instanceType === "NVIDIA GeForce RTX 4090")!;
  return { emu, client, check, provider, onDemand, spot };
}

const caught = (p: Promise<unknown>): Promise<unknown> => p.then(() => { throw new Error("expected a rejection"); }, (e: unknown) => e);
const launch = (p: RunpodProvider, intentId: string, offer: Offer) => p.launch({ intentId, offer, sshPublicKey: PUB }, signal());

describe("RunPod faults", () => {
  it("a lost create answer (REST and GraphQL) is an unknown outcome, never retried, and the pod is found by its name", async () => {
    const { emu, provider, onDemand, spot, check } = await setup();
    emu.inject({ kind: "lost-response", match: { method: "POST", path: "/v2/pods" }, times: 1 });
    emu.inject({ kind: "lost-response", match: { method: "POST", path: "/graphql" }, times: 1 });
    for (const [intent, offer] of [["lost-od", onDemand], ["lost-spot", spot]] as const) {
      expect(isMaybeLaunched(await caught(launch(provider, intent, offer)))).toBe(true);
      const found = (await provider.listMachines(signal())).filter((m) => m.name === machineNameFor(intent));
      expect(found).toHaveLength(1);
      await provider.terminate(found[0]!.id, signal());
    }
    expect(emu.requests.get("POST /v2/pods")).toBe(1);
    expect(emu.inspect().map((p) => p.status)).toEqual(["TERMINATED", "TERMINATED"]);
    expect(check.violations).toEqual([]);
  });

  it("a rent answered 200 with neither a pod nor an error is an unknown outcome (the pod exists)", async () => {
    const { emu, provider, spot } = await setup();
    emu.inject({ kind: "no-id", times: 1 });
    const e = await caught(launch(provider, "noid", spot));
    expect(isMaybeLaunched(e)).toBe(true);
    expect((await provider.listMachines(signal())).map((m) => m.name)).toEqual([machineNameFor("noid")]);
  });

  it("a hanging read times out and is retried; a hanging create is reported, not retried", async () => {
    const { emu, client, provider, onDemand } = await setup({}, { requestTimeoutMs: 1_000 });
    emu.inject({ kind: "hang", match: { method: "GET", path: "/v2/pods" }, times: 1 });
    expect(await client.listPods(signal())).toEqual([]);
    expect(emu.requests.get("GET /v2/pods")).toBe(2);
    emu.inject({ kind: "hang", match: { method: "POST", path: "/v2/pods" }, times: 1 });
    expect(isMaybeLaunched(await caught(launch(provider, "hang1", onDemand)))).toBe(true);
    expect(emu.requests.get("POST /v2/pods")).toBe(1);
  });

  it("5xx bursts and slow answers are retried through; a create answered 5xx is an unknown outcome", async () => {
    const { emu, client, provider, onDemand, check } = await setup();
    emu.inject({ kind: "error-5xx", status: 502, match: { path: "/v2/catalog/gpus" }, times: 2 });
    emu.inject({ kind: "slow", delayMs: 50, match: { path: "/v2/catalog/gpus" }, times: 1 });
    expect((await client.listGpuTypes({ cloud: "SECURE", count: 1 }, signal())).length).toBeGreaterThan(0);
    emu.inject({ kind: "error-5xx", match: { method: "POST", path: "/v2/pods" }, times: 1 });
    expect(isMaybeLaunched(await caught(launch(provider, "5xx", onDemand)))).toBe(true);
    expect(check.violations).toEqual([]);
  });

  it("429 waits the Retry-After and retries (a create too: nothing was created); one past the cap is thrown as rate-limited", async () => {
    const clock = fakeClock();
    const { emu, client, provider, onDemand } = await setup({}, { clock, retryAfterCapMs: 10_000 });
    emu.inject({ kind: "rate-limit", delayMs: 3_000, times: 1 });
    expect(await client.listPods(signal())).toEqual([]);
    expect(clock.waits).toContain(3_000);
    emu.inject({ kind: "rate-limit", delayMs: 2_000, match: { method: "POST", path: "/v2/pods" }, times: 1 });
    const m = await launch(provider, "after-429", onDemand);
    expect(m.name).toBe(machineNameFor("after-429"));
    emu.inject({ kind: "rate-limit", delayMs: 60_000, times: 1 });
    const e = (await caught(client.listPods(signal()))) as ProviderError;
    expect({ kind: e.kind, retryAfterMs: e.retryAfterMs }).toEqual({ kind: "rate-limited", retryAfterMs: 60_000 });
  });

  it("a RateLimit header with a window used up holds the next call until that window resets", async () => {
    const clock = fakeClock();
    const { emu, client } = await setup({ rateLimit: { perMinute: 8 }, now: clock.now }, { clock });
    clock.waits.length = 0;
    // listOffers used 3 of the 8; the 5th list below is answered with r=0 for the minute window.
    for (let i = 0; i < 6; i++) await client.listPods(signal());
    // The 6th call waited for the window to reset instead of earning a 429.
    expect(clock.waits.filter((w) => w > 1_000)).toHaveLength(1);
    expect(emu.requests.get("GET /v2/pods")).toBe(6);
  });

  it("capacity is per data centre and GPU type; an empty balance rules RunPod out; HTML pages name RunPod", async () => {
    const { emu, provider, onDemand, spot } = await setup({}, { maxAttempts: 1 });
    emu.inject({ kind: "capacity", times: 2 });
    for (const offer of [onDemand, spot]) {
      const e = (await caught(launch(provider, `cap-${offer.spot}`, offer))) as ProviderError;
      expect({ kind: e.kind, scope: e.scope }).toEqual({ kind: "capacity", scope: "region" });
    }
    emu.inject({ kind: "insufficient-balance", times: 1 });
    const b = (await caught(launch(provider, "broke", onDemand))) as ProviderError;
    expect({ kind: b.kind, scope: b.scope, status: b.status }).toEqual({ kind: "billing", scope: "provider", status: 402 });
    emu.inject({ kind: "html-error", times: 1 });
    const h = (await caught(provider.listMachines(signal()))) as ProviderError;
    expect(h).toBeInstanceOf(ProviderError);
    expect({ provider: h.provider, kind: h.kind }).toEqual({ provider: "runpod", kind: "transient" });
    expect(h.message).toMatch(/RunPod GET \/v2\/pods failed \(HTTP 502 with an HTML page/);
  });

  it("a lagging listing hides a new pod for a while; describe of it then says not found, and later finds it", async () => {
    const { emu, provider, onDemand } = await setup();
    emu.inject({ kind: "listing-lag", requests: 2, delayMs: 0, times: 1 });
    const m = await launch(provider, "lag", onDemand);
    expect((await provider.describe(m.id, signal())).notFound).toBe(true);
    expect(await provider.listMachines(signal())).toEqual([]);
    expect((await provider.listMachines(signal())).map((x) => x.id)).toEqual([m.id]);
  });

  it("a reclaimed spot pod is reported reclaimed (EXITED without Kiln asking); one Kiln removes is not; on-demand pods never are", async () => {
    const { emu, provider, onDemand, spot } = await setup();
    const s = await launch(provider, "spot1", spot);
    const d = await launch(provider, "od1", onDemand);
    expect(await emu.reclaim(s.id)).toBe(true);
    expect(await emu.reclaim(d.id)).toBe(false);
    const r = await provider.describe(s.id, signal());
    expect({ state: r.state, providerState: r.providerState, reclaimed: r.reclaimed?.reason }).toEqual({ state: "stopped", providerState: "EXITED", reclaimed: expect.stringMatching(/interruptible pod without notice/) });
    // A fresh provider (a restarted driver) sees it too: spot-ness is on the pod, not in memory.
    const fresh = new RunpodProvider({ client: provider.client });
    expect((await fresh.describe(s.id, signal())).reclaimed).toBeDefined();
    await provider.terminate(s.id, signal());
    expect(await provider.describe(s.id, signal())).toMatchObject({ state: "terminated", notFound: true });
    expect((await provider.describe(d.id, signal())).reclaimed).toBeUndefined();
    const billed = emu.inspect().find((p) => p.id === s.id)!;
    expect(billed.ended).toBe("reclaimed");
  });

  it("random reclaims (probability, seeded) take only interruptible pods", async () => {
    const { emu, provider, onDemand, spot } = await setup({ seed: 3 });
    const spots = [await launch(provider, "r1", spot), await launch(provider, "r2", spot)];
    const od = await launch(provider, "r3", onDemand);
    emu.inject({ kind: "reclaim", probability: 0.5 });
    for (let i = 0; i < 20; i++) await provider.listMachines(signal());
    emu.clearFaults();
    const states = Object.fromEntries(await Promise.all([...spots, od].map(async (m) => [m.name, (await provider.describe(m.id, signal())).reclaimed !== undefined] as const)));
    expect(states).toEqual({ [machineNameFor("r1")]: true, [machineNameFor("r2")]: true, [machineNameFor("r3")]: false });
  });
});
