// Faults on the GCE emulator and what Kiln makes of each: the ProviderError kind, retries (with the same
// requestId, so a retried insert is one VM), outcome-unknown launches, failed insert *operations*
// (capacity, quota) with anything left behind deleted and confirmed gone, bad credentials, HTML pages and
// malformed bodies named clearly. Every exchange is checked against the discovery document.
import { afterEach, describe, expect, it } from "vitest";
import { isMaybeLaunched, type Offer, ProviderError } from "../provider.js";
import type { GcpProvider } from "./provider.js";
import { type Fixture, gcpFixture, TEST_PUB } from "./testing/fixture.js";

const signal = () => AbortSignal.timeout(30_000);
const ZONE = "us-central1-a";
let fx: Fixture;
afterEach(async () => {
  await fx?.close();
  expect(fx.check.violations).toEqual([]);
});

const insertPath = () => `/compute/v1/projects/${fx.emu.project}/zones/${ZONE}/instances`;
async function a100(p: GcpProvider, spot = false): Promise<Offer> {
  return (await p.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: spot ? "prefer" : "never", regions: [ZONE] }, signal())).find((o) => o.spot === spot)!;
}
const launch = (p: GcpProvider, o: Offer, intentId: string) => p.launch({ intentId, offer: o, sshPublicKey: TEST_PUB }, signal());
async function failure(pr: Promise<unknown>): Promise<ProviderError> {
  const e = await pr.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProviderError);
  return e as ProviderError;
}

describe("GCE faults", () => {
  it("capacity in the insert's operation (after a 200): kind capacity, scope region (the zone), nothing left", async () => {
    fx = await gcpFixture();
    fx.emu.inject({ kind: "capacity", match: { method: "POST", path: insertPath() }, times: 1 });
    const e = await failure(launch(fx.provider, await a100(fx.provider), "abcdef01-00000000c1"));
    expect(e).toMatchObject({ provider: "gcp", kind: "capacity", scope: "region", code: "ZONE_RESOURCE_POOL_EXHAUSTED" });
    expect(e.message).toContain(ZONE);
    expect(fx.emu.live()).toEqual([]);
  });

  it("a failed insert that leaves a VM behind: it is deleted and confirmed gone before the capacity error", async () => {
    fx = await gcpFixture();
    fx.emu.inject({ kind: "capacity-leftover", match: { method: "POST", path: insertPath() }, times: 1 });
    const e = await failure(launch(fx.provider, await a100(fx.provider), "abcdef01-00000000c2"));
    expect(e.kind).toBe("capacity");
    expect(fx.emu.live()).toEqual([]);
    expect(fx.emu.audit().filter((x) => x.kind === "deleted")).toHaveLength(1);
  });

  it("QUOTA_EXCEEDED in the operation: kind quota (blocks the provider), with the console's quotas page", async () => {
    fx = await gcpFixture();
    fx.emu.inject({ kind: "quota", match: { method: "POST", path: insertPath() }, times: 1 });
    const e = await failure(launch(fx.provider, await a100(fx.provider), "abcdef01-00000000c3"));
    expect(e).toMatchObject({ kind: "quota", scope: "provider", code: "QUOTA_EXCEEDED" });
    expect(e.suggestion).toContain(`https://console.cloud.google.com/iam-admin/quotas?project=${fx.emu.project}`);
  });

  it("a lost insert answer is retried with the same requestId: one VM, and the launch succeeds", async () => {
    fx = await gcpFixture();
    fx.emu.inject({ kind: "lost-response", match: { method: "POST", path: insertPath() }, times: 1 });
    const m = await launch(fx.provider, await a100(fx.provider), "abcdef01-00000000c4");
    expect(fx.emu.live().map((x) => x.id)).toEqual([m.id]);
  });

  it("an insert that never answers, past every retry: outcome unknown, and the VM is found by name", async () => {
    fx = await gcpFixture({ client: { requestTimeoutMs: 300, maxAttempts: 2 } });
    fx.emu.inject({ kind: "lost-response", match: { method: "POST", path: insertPath() }, times: 1 });
    fx.emu.inject({ kind: "hang", match: { method: "POST", path: insertPath() }, times: 1 });
    const e = await failure(launch(fx.provider, await a100(fx.provider), "abcdef01-00000000c5"));
    expect(isMaybeLaunched(e)).toBe(true);
    expect(e.message).toContain("kiln-abcdef01-00000000c5");
    expect((await fx.provider.listMachines(signal())).map((x) => x.name)).toEqual(["kiln-abcdef01-00000000c5"]);
  });

  it("an insert operation that does not settle in time: outcome unknown", async () => {
    fx = await gcpFixture({ emulator: { opDelayMs: 60_000, waitMaxMs: 100 }, provider: { operationTimeoutMs: 400 } });
    const e = await failure(launch(fx.provider, await a100(fx.provider), "abcdef01-00000000c6"));
    expect(isMaybeLaunched(e)).toBe(true);
    expect(e.message).toMatch(/insert operation .*(still RUNNING|did not settle)/);
  });

  it("429 rateLimitExceeded with Retry-After is waited out and retried; out of attempts it is rate-limited with the wait", async () => {
    fx = await gcpFixture();
    fx.emu.inject({ kind: "rate-limit", match: { method: "GET" }, delayMs: 1_000, times: 1 });
    const started = Date.now();
    expect(await fx.provider.listMachines(signal())).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    fx.emu.inject({ kind: "rate-limit", match: { method: "GET" }, delayMs: 2_000, times: 1 });
    const e = await failure(fx.providerWith({ client: { maxAttempts: 1 } }).listMachines(signal()));
    expect(e).toMatchObject({ kind: "rate-limited", status: 429, code: "rateLimitExceeded", retryAfterMs: 2_000 });
  });

  it("5xx is transient and retried; a persisting one surfaces as transient", async () => {
    fx = await gcpFixture();
    fx.emu.inject({ kind: "error-5xx", match: { method: "GET" }, times: 2 });
    expect(await fx.provider.listMachines(signal())).toEqual([]);
    fx.emu.inject({ kind: "error-5xx", match: { method: "GET" }, status: 500 });
    const e = await failure(fx.providerWith({ client: { maxAttempts: 2 } }).describe(`${fx.emu.project}/${ZONE}/kiln-x`, signal()));
    expect(e).toMatchObject({ kind: "transient", status: 500, code: "backendError" });
  });

  it("an HTML error page names GCE, the status and that it is not Google's JSON", async () => {
    fx = await gcpFixture({ client: { maxAttempts: 1 } });
    fx.emu.inject({ kind: "html-error", match: { method: "GET" }, status: 502 });
    const e = await failure(fx.provider.listMachines(signal()));
    expect(e).toMatchObject({ provider: "gcp", kind: "transient", status: 502 });
    expect(e.message).toMatch(/^GCE instances\.aggregatedList failed \(HTTP 502, not Google's JSON error: "<!DOCTYPE html>/);
  });

  it("a response missing a field Kiln reads names the provider and the field", async () => {
    fx = await gcpFixture();
    const m = await launch(fx.provider, await a100(fx.provider), "abcdef01-00000000c7");
    fx.emu.inject({ kind: "malformed", match: { method: "GET", path: `/compute/v1/projects/${fx.emu.project}/zones/${ZONE}/instances/${m.name}` }, times: 1 });
    const e = await failure(fx.provider.describe(m.id, signal()));
    expect(e).toMatchObject({ provider: "gcp", kind: "fatal", code: "kiln/malformed-response" });
    expect(e.message).toBe("GCE answered instances.get with a malformed body: status: Invalid input: expected string, received undefined");
  });

  it("wrong credentials: kind auth (the provider is out), GCE named, and how to fix it", async () => {
    fx = await gcpFixture();
    const bad = fx.providerWith({ token: "ya29.wrong" });
    for (const call of [() => bad.listMachines(signal()), () => bad.describe(`${fx.emu.project}/${ZONE}/kiln-x`, signal()), async () => bad.launch({ intentId: "abcdef01-00000000c8", offer: await a100(fx.provider), sshPublicKey: TEST_PUB }, signal())]) {
      const e = await failure(call());
      expect(e).toMatchObject({ provider: "gcp", kind: "auth", scope: "provider", status: 401, code: "authError" });
      expect(e.message).toMatch(/^GCE .* failed \(authError: Request had invalid authentication credentials/);
      expect(e.suggestion).toContain("gcloud auth application-default login");
    }
    expect(fx.emu.live()).toEqual([]);
  });

  it("listing-lag: the insert's operation is DONE but reads miss the VM: launch answers pending, describe says notFound, then the VM; it bills all along", async () => {
    // Counted in reads, not time, so a slow machine cannot outwait it: instances.get then the listing miss it.
    fx = await gcpFixture();
    fx.emu.inject({ kind: "listing-lag", match: { method: "POST", path: insertPath() }, requests: 3, times: 1 });
    const m = await launch(fx.provider, await a100(fx.provider), "abcdef01-00000000ca");
    // launch's own instances.get missed it: a pending record from the operation, not an error.
    expect(m).toMatchObject({ name: "kiln-abcdef01-00000000ca", state: "pending", providerState: "PROVISIONING", intentId: "abcdef01-00000000ca" });
    expect(await fx.provider.describe(m.id, signal())).toMatchObject({ state: "terminated", notFound: true, providerState: "NOT_FOUND" });
    expect(await fx.provider.listMachines(signal())).toEqual([]);
    // The lag is over: the same VM, by name, in describe and in the listing; it existed (and billed) throughout.
    expect((await fx.provider.describe(m.id, signal())).notFound).toBeUndefined();
    expect((await fx.provider.listMachines(signal())).map((x) => x.id)).toEqual([m.id]);
    expect(fx.emu.billed().map((b) => b.id)).toEqual([m.id]);
    // terminate by id needs no read: it works during a lag too, and is idempotent after.
    await fx.provider.terminate(m.id, signal());
    await fx.provider.terminate(m.id, signal());
  });

  it("an aborted signal stops the call before it is sent", async () => {
    fx = await gcpFixture();
    const ac = new AbortController();
    ac.abort();
    await expect(fx.provider.launch({ intentId: "abcdef01-00000000c9", offer: await a100(fx.provider), sshPublicKey: TEST_PUB }, ac.signal)).rejects.toThrow(/aborted/);
    expect(fx.emu.live()).toEqual([]);
  });
});
