// Wire-level faults from the real emulator, through the real client and provider (every exchange checked against
// the document where an answer exists): lost creates, a create answered without an id, hangs, 5xx, 429 with
// Retry-After, the documented 100-a-minute limit, capacity per location and GPU, a balance under $1, HTML pages
// from a proxy, and a lagging listing.
import { afterEach, describe, expect, it } from "vitest";
import { isMaybeLaunched, machineNameFor, type Offer, type ProviderError } from "../provider.js";
import { type TensordockEmulator, type TensordockEmulatorOptions, startTensordockEmulator } from "./emulator.js";
import type { Clock } from "./pacing.js";
import { TensordockProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedTensordockClient } from "./testing/spec.js";

const signal = () => AbortSignal.timeout(20_000);
let emu: TensordockEmulator | undefined;
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

async function setup(o: TensordockEmulatorOptions = {}, clientOpts: Parameters<typeof checkedTensordockClient>[1] = {}, checkOpts: { expectJson?: boolean } = {}) {
  emu = await startTensordockEmulator({ bootDelayMs: 20, deleteDelayMs: 0, ...o });
  const { client, check } = checkedTensordockClient(emu, clientOpts, checkOpts);
  const provider = new TensordockProvider({ client });
  const offers = await provider.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal());
  const offer = offers[0]!;
  return { emu, client, check, provider, offer, offers };
}

const caught = (p: Promise<unknown>): Promise<unknown> => p.then(() => { throw new Error("expected a rejection"); }, (e: unknown) => e);
const launch = (p: TensordockProvider, intentId: string, offer: Offer) => p.launch({ intentId, offer, sshPublicKey: PUB }, signal());

describe("TensorDock faults", () => {
  it("a lost create answer is an unknown outcome, never retried, and the instance is found by its name", async () => {
    const { emu, provider, offer, check } = await setup();
    emu.inject({ kind: "lost-response", match: { method: "POST", path: "/api/v2/instances" }, times: 1 });
    expect(isMaybeLaunched(await caught(launch(provider, "lost", offer)))).toBe(true);
    expect(emu.requests.get("POST /api/v2/instances")).toBe(1);
    const found = (await provider.listMachines(signal())).filter((m) => m.name === machineNameFor("lost"));
    expect(found).toHaveLength(1);
    // Launching the same intent again finds that machine instead of making a second one.
    expect((await launch(provider, "lost", offer)).id).toBe(found[0]!.id);
    expect(emu.requests.get("POST /api/v2/instances")).toBe(1);
    await provider.terminate(found[0]!.id, signal());
    expect(emu.inspect().map((i) => i.status)).toEqual(["deleted"]);
    expect(check.violations).toEqual([]);
  });

  it("a create answered 201 without an id is an unknown outcome (the instance exists)", async () => {
    const { emu, provider, offer } = await setup();
    emu.inject({ kind: "no-id", times: 1 });
    expect(isMaybeLaunched(await caught(launch(provider, "noid", offer)))).toBe(true);
    expect((await provider.listMachines(signal())).map((m) => m.name)).toEqual([machineNameFor("noid")]);
  });

  it("a hanging read times out and is retried; a hanging create is reported, not retried", async () => {
    const { emu, client, provider, offer } = await setup({}, { requestTimeoutMs: 1_000 });
    emu.inject({ kind: "hang", match: { method: "GET", path: "/api/v2/instances" }, times: 1 });
    expect(await client.listInstances(signal())).toEqual([]);
    expect(emu.requests.get("GET /api/v2/instances")).toBe(2);
    emu.inject({ kind: "hang", match: { method: "POST", path: "/api/v2/instances" }, times: 1 });
    expect(isMaybeLaunched(await caught(launch(provider, "hang", offer)))).toBe(true);
    expect(emu.requests.get("POST /api/v2/instances")).toBe(1);
  });

  it("5xx bursts and slow answers are retried through; a create answered 5xx is an unknown outcome", async () => {
    const { emu, client, provider, offer, check } = await setup();
    emu.inject({ kind: "error-5xx", status: 502, match: { path: "/api/v2/locations" }, times: 2 });
    emu.inject({ kind: "slow", delayMs: 50, match: { path: "/api/v2/locations" }, times: 1 });
    expect((await client.listLocations(signal())).length).toBeGreaterThan(0);
    expect(emu.requests.get("GET /api/v2/locations")).toBe(4);
    emu.inject({ kind: "error-5xx", match: { method: "POST", path: "/api/v2/instances" }, times: 1 });
    expect(isMaybeLaunched(await caught(launch(provider, "5xx", offer)))).toBe(true);
    expect(check.violations).toEqual([]);
  });

  it("429 waits the Retry-After and retries (a create too: nothing was created); one past the cap is thrown as rate-limited", async () => {
    const clock = fakeClock();
    const { emu, client, provider, offer } = await setup({}, { clock, retryAfterCapMs: 10_000 });
    emu.inject({ kind: "rate-limit", delayMs: 3_000, times: 1 });
    expect(await client.listInstances(signal())).toEqual([]);
    expect(clock.waits).toContain(3_000);
    emu.inject({ kind: "rate-limit", delayMs: 2_000, match: { method: "POST", path: "/api/v2/instances" }, times: 1 });
    expect((await launch(provider, "after-429", offer)).name).toBe(machineNameFor("after-429"));
    expect(emu.requests.get("POST /api/v2/instances")).toBe(2);
    emu.inject({ kind: "rate-limit", delayMs: 60_000, times: 1 });
    const e = (await caught(client.listInstances(signal()))) as ProviderError;
    expect({ kind: e.kind, retryAfterMs: e.retryAfterMs }).toEqual({ kind: "rate-limited", retryAfterMs: 60_000 });
  });

  it("the client paces itself to 100 requests a minute, so the emulator's real limit is never hit", async () => {
    const clock = fakeClock();
    emu = await startTensordockEmulator({ rateLimit: { perMinute: 100 }, now: clock.now });
    const { client } = checkedTensordockClient(emu, { clock, minIntervalMs: 600, maxAttempts: 1 });
    for (let i = 0; i < 150; i++) await client.listInstances(signal());
    // 150 calls at one per 600 ms span 89.4 s of the fake clock: never more than 100 in one minute window.
    expect(clock.waits.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(149 * 600);
    expect(emu.requests.get("GET /api/v2/instances")).toBe(150);
  });

  it("the emulator enforces the documented limit: the 101st call in a minute is a 429 with the seconds left", async () => {
    const clock = fakeClock();
    emu = await startTensordockEmulator({ rateLimit: { perMinute: 100 }, now: clock.now });
    const { client, check } = checkedTensordockClient(emu, { clock, minIntervalMs: 0, maxAttempts: 1 });
    for (let i = 0; i < 100; i++) await client.listInstances(signal());
    const e = (await caught(client.listInstances(signal()))) as ProviderError;
    expect({ kind: e.kind, status: e.status, retryAfterMs: e.retryAfterMs }).toEqual({ kind: "rate-limited", status: 429, retryAfterMs: 60_000 });
    expect(check.violations).toEqual([]);
  });

  it("capacity is per location and GPU; a balance under $1 rules TensorDock out; HTML pages name TensorDock", async () => {
    const { emu, provider, offers } = await setup({}, { maxAttempts: 1 }, { expectJson: false });
    emu.inject({ kind: "capacity", times: 1 });
    const c = (await caught(launch(provider, "cap", offers[0]!))) as ProviderError;
    expect({ kind: c.kind, scope: c.scope }).toEqual({ kind: "capacity", scope: "region" });
    // Stock runs out for real: Winnipeg has two 4090s; the third create there is refused, and offers drop it.
    const winnipeg = offers.find((o) => o.region === emu.account.locations[1]!.id)!;
    await launch(provider, "w1", winnipeg);
    await launch(provider, "w2", winnipeg);
    const again = await provider.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal());
    expect(again.map((o) => o.region)).not.toContain(winnipeg.region);
    expect(((await caught(launch(provider, "w3", winnipeg))) as ProviderError).kind).toBe("capacity");
    emu.account.balance = 0.99;
    const b = (await caught(launch(provider, "broke", offers[0]!))) as ProviderError;
    expect({ kind: b.kind, scope: b.scope, provider: b.provider }).toEqual({ kind: "billing", scope: "provider", provider: "tensordock" });
    expect(b.message).toMatch(/minimum balance of \$1/);
    emu.inject({ kind: "html-error", times: 1 });
    const h = (await caught(provider.listMachines(signal()))) as ProviderError;
    expect({ provider: h.provider, kind: h.kind }).toEqual({ provider: "tensordock", kind: "transient" });
    expect(h.message).toMatch(/TensorDock GET \/instances failed \(HTTP 502 with an HTML page/);
  });

  it("a lagging listing hides a new instance for a while; describe then says not found, and later finds it", async () => {
    const { emu, provider, offer } = await setup();
    emu.inject({ kind: "listing-lag", requests: 2, delayMs: 0, times: 1 });
    const m = await launch(provider, "lag", offer);
    expect((await provider.describe(m.id, signal())).notFound).toBe(true);
    expect(await provider.listMachines(signal())).toEqual([]);
    expect((await provider.listMachines(signal())).map((x) => x.id)).toEqual([m.id]);
  });
});
