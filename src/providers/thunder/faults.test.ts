// Each fault the emulator can inject, through the provider and a spec-checked client: the right ProviderError
// kind, retries where safe, and lost create answers resolved from the listing — never by a second create.
import { afterEach, describe, expect, it } from "vitest";
import type { Offer } from "../provider.js";
import { startThunderEmulator, type ThunderEmulator, type ThunderEmulatorOptions } from "./emulator.js";
import { ThunderProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB, newIntent, providerRejection } from "./testing/fixtures.js";
import { checkedThunderClient, type SpecCheck } from "./testing/openapi.js";

const signal = () => AbortSignal.timeout(30_000);
let emu: ThunderEmulator;
let check: SpecCheck;

async function setup(o: ThunderEmulatorOptions = {}, clientOpts: Parameters<typeof checkedThunderClient>[1] = {}, lagMs = 300) {
  emu = await startThunderEmulator({ bootDelayMs: 30, terminateDelayMs: 30, ...o });
  const c = checkedThunderClient(emu, clientOpts);
  check = c.check;
  return new ThunderProvider({ client: c.client, listingLagMs: lagMs });
}
async function h100(p: ThunderProvider): Promise<Offer> {
  const [o] = await p.listOffers({ gpus: ["H100-80GB"], count: 1, minVramGb: 80, spot: "never" }, signal());
  return o!;
}
const CREATE = { method: "POST", path: "/instances/create" };

afterEach(async () => {
  await emu.close();
  expect(check.violations).toEqual([]);
});

describe("thunder faults", () => {
  it("capacity: a 400 saying no GPUs is capacity for that instance type, and nothing was created", async () => {
    const p = await setup();
    const offer = await h100(p);
    emu.inject({ kind: "capacity", match: CREATE, times: 1 });
    const e = await providerRejection(p.launch({ intentId: newIntent(), offer, sshPublicKey: PUB }, signal()));
    expect({ kind: e.kind, scope: e.scope, status: e.status }).toEqual({ kind: "capacity", scope: "instance-type", status: 400 });
    expect(e.message).toMatch(/No h100 GPUs are available/);
    expect(emu.account.creates).toBe(0);
  });

  it("429 with Retry-After is waited out and retried, on reads and on create (nothing was created)", async () => {
    const p = await setup();
    const offer = await h100(p);
    emu.inject({ kind: "rate-limit", match: { method: "GET", path: "/instances/list" }, delayMs: 1000, times: 1 });
    emu.inject({ kind: "rate-limit", match: CREATE, delayMs: 1000, times: 1 });
    const started = Date.now();
    const m = await p.launch({ intentId: newIntent(), offer, sshPublicKey: PUB }, signal());
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * 950);
    expect(emu.account.creates).toBe(1);
    expect(m.state).toBe("pending");
    expect([...(check.seen.get("POST /instances/create") ?? [])].sort()).toEqual([201, 429]);
  });

  it("a Retry-After beyond the cap is not waited: rate-limited, with the wait", async () => {
    const p = await setup({}, { retryAfterCapMs: 500 });
    emu.inject({ kind: "rate-limit", match: { method: "GET", path: "/instances/list" }, delayMs: 5000, times: 1 });
    const e = await providerRejection(p.listMachines(signal()));
    expect({ kind: e.kind, retryAfterMs: e.retryAfterMs }).toEqual({ kind: "rate-limited", retryAfterMs: 5000 });
  });

  it("5xx on a read is retried; one that persists is transient", async () => {
    const p = await setup({}, { maxAttempts: 3 });
    emu.inject({ kind: "error-5xx", match: { method: "GET", path: "/instances/list" }, status: 503, times: 2 });
    expect(await p.listMachines(signal())).toEqual([]);
    emu.inject({ kind: "error-5xx", match: { method: "GET", path: "/instances/list" }, status: 500 });
    const e = await providerRejection(p.listMachines(signal()));
    expect({ kind: e.kind, status: e.status }).toEqual({ kind: "transient", status: 500 });
  });

  it("an HTML error page (a proxy's 502) is transient and says it was HTML, naming Thunder", async () => {
    const p = await setup({}, { maxAttempts: 2 });
    emu.inject({ kind: "html-error", match: { method: "GET", path: "/instances/list" } });
    const e = await providerRejection(p.listMachines(signal()));
    expect(e.kind).toBe("transient");
    expect(e.message).toMatch(/^Thunder GET \/instances\/list failed \(HTTP 502 with an HTML page/);
    // The page is by design not Thunder's JSON; nothing else may be off.
    expect(check.violations.filter((v) => !v.endsWith("502: response is not JSON"))).toEqual([]);
    check.violations.length = 0;
  });

  it("a lost create answer is resolved by the key marker: the one machine, one create", async () => {
    const p = await setup();
    const offer = await h100(p);
    emu.inject({ kind: "lost-response", match: CREATE, times: 1 });
    const intentId = newIntent();
    const m = await p.launch({ intentId, offer, sshPublicKey: PUB }, signal());
    expect(emu.account.creates).toBe(1);
    expect(m).toMatchObject({ name: `kiln-${intentId}`, intentId, id: emu.inspect()[0]!.id });
  });

  it("a lost create answer when the listing drops key comments: the new instance with Kiln's key is adopted", async () => {
    const p = await setup({ echoKeyComments: false });
    const offer = await h100(p);
    // The user's own instance, made before the launch, is never a candidate.
    emu.account.add({ gpuType: "h100", numGpus: 1, cpuCores: 8, mode: "production", template: "base", diskGb: 100, publicKeys: [PUB], pricePerHour: 1.97 });
    emu.inject({ kind: "lost-response", match: CREATE, times: 1 });
    const intentId = newIntent();
    const m = await p.launch({ intentId, offer, sshPublicKey: PUB }, signal());
    expect(emu.account.creates).toBe(2);
    expect(m.id).toBe(emu.inspect()[1]!.id);
    expect((await p.listMachines(signal())).map((x) => [x.id, x.name])).toEqual([[m.id, `kiln-${intentId}`]]);
  });

  it("a lost create answer with two unexplained new instances stops with both named, and creates nothing more", async () => {
    // Another process launches on the same account with the same key at the same moment as the create.
    let other: { uuid: string } | undefined;
    const raced: typeof fetch = (input, init) => {
      if (String(input).endsWith("/instances/create")) other = emu.account.add({ gpuType: "h100", numGpus: 1, cpuCores: 8, mode: "production", template: "base", diskGb: 100, publicKeys: [PUB], pricePerHour: 1.97 });
      return fetch(input, init);
    };
    const p = await setup({ echoKeyComments: false }, { fetch: raced });
    const offer = await h100(p);
    emu.inject({ kind: "lost-response", match: CREATE, times: 1 });
    const e = await providerRejection(p.launch({ intentId: newIntent(), offer, sshPublicKey: PUB }, signal()));
    expect({ kind: e.kind, code: e.code }).toEqual({ kind: "fatal", code: "thunder/launch-ambiguous" });
    expect(e.message).toContain(other!.uuid);
    expect(emu.account.creates).toBe(2);
  });

  it("a 500 on create that created nothing: after the lag, 'nothing was launched' (transient), never a second create", async () => {
    const p = await setup();
    const offer = await h100(p);
    emu.inject({ kind: "error-5xx", match: CREATE, status: 500, times: 1 });
    const e = await providerRejection(p.launch({ intentId: newIntent(), offer, sshPublicKey: PUB }, signal()));
    expect({ kind: e.kind, code: e.code }).toEqual({ kind: "transient", code: "thunder/launch-not-created" });
    expect(emu.account.creates).toBe(0);
    expect([...(check.seen.get("POST /instances/create") ?? [])]).toEqual([500]);
  });

  it("a create that hangs past the client's timeout is resolved the same way (one request, no relaunch)", async () => {
    const p = await setup({}, { requestTimeoutMs: 300 });
    const offer = await h100(p);
    emu.inject({ kind: "hang", match: CREATE, times: 1 });
    const e = await providerRejection(p.launch({ intentId: newIntent(), offer, sshPublicKey: PUB }, signal()));
    expect(e.code).toBe("thunder/launch-not-created");
    expect(emu.account.creates).toBe(0);
  });

  it("listing lag: a new machine is notFound at first, then listed by name and running", async () => {
    const p = await setup();
    const offer = await h100(p);
    emu.inject({ kind: "listing-lag", match: CREATE, delayMs: 400, times: 1 });
    const m = await p.launch({ intentId: newIntent(), offer, sshPublicKey: PUB }, signal());
    expect(await p.describe(m.id, signal())).toMatchObject({ state: "terminated", notFound: true });
    await new Promise((r) => setTimeout(r, 500));
    expect((await p.listMachines(signal())).map((x) => x.name)).toEqual([m.name]);
  });

  it("a lost create answer behind a lagging listing is found once the lag passes", async () => {
    const p = await setup({}, {}, 2_000);
    const offer = await h100(p);
    emu.inject({ kind: "lost-lagging", match: CREATE, delayMs: 600, times: 1 });
    const started = Date.now();
    const intentId = newIntent();
    const m = await p.launch({ intentId, offer, sshPublicKey: PUB }, signal());
    expect(m.name).toBe(`kiln-${intentId}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(emu.account.creates).toBe(1);
  });

  it("launches on one account are serialised: concurrent launches each get their own machine", async () => {
    const p = await setup({ echoKeyComments: false });
    const offer = await h100(p);
    emu.inject({ kind: "lost-response", match: CREATE, times: 1 });
    const [a, b] = await Promise.all([p.launch({ intentId: newIntent(), offer, sshPublicKey: PUB }, signal()), p.launch({ intentId: newIntent(), offer, sshPublicKey: PUB }, signal())]);
    expect(a.id).not.toBe(b.id);
    expect(emu.account.creates).toBe(2);
  });
});
