// Bad credentials and malformed answers: clear ProviderErrors naming Thunder, the call and the field.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ThunderClient } from "./client.js";
import { classifyThunderError } from "./errors.js";
import { startThunderEmulator, type ThunderEmulator } from "./emulator.js";
import { ThunderProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB, newIntent, providerRejection } from "./testing/fixtures.js";

const signal = () => AbortSignal.timeout(10_000);
/** A client whose every answer is `status` with `body` (a string is sent as is). */
const answering = (status: number, body: unknown, contentType = "application/json") =>
  new ThunderClient({ token: "t", baseUrl: "http://thunder.test/v1", minIntervalMs: 0, maxAttempts: 1, fetch: async () => new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "content-type": contentType } }) });

const item = { uuid: "u-1", status: "RUNNING", ip: "1.2.3.4", port: 22, numGpus: "1", gpuType: "h100", mode: "production", sshPublicKeys: [] };

describe("thunder: bad credentials", () => {
  let emu: ThunderEmulator;
  beforeAll(async () => {
    emu = await startThunderEmulator();
  });
  afterAll(() => emu.close());

  it("a wrong token is auth, blocks the provider, and says where to fix it without echoing the token", async () => {
    const p = new ThunderProvider({ client: new ThunderClient({ token: "tnr-wrong-secret", baseUrl: emu.url, minIntervalMs: 0 }) });
    const e = await providerRejection(p.listMachines(signal()));
    expect({ provider: e.provider, kind: e.kind, scope: e.scope, status: e.status }).toEqual({ provider: "thunder", kind: "auth", scope: "provider", status: 401 });
    expect(e.suggestion).toMatch(/TNR_API_TOKEN/);
    expect(`${e.message} ${e.suggestion}`).not.toContain("tnr-wrong-secret");
  });

  it("offers need no token (GET /pricing and /specs are anonymous), launching does", async () => {
    const p = new ThunderProvider({ client: new ThunderClient({ token: "wrong", baseUrl: emu.url, minIntervalMs: 0 }) });
    const [offer] = await p.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never" }, signal());
    expect(offer).toBeDefined();
    const e = await providerRejection(p.launch({ intentId: newIntent(), offer: offer!, sshPublicKey: PUB }, signal()));
    expect(e.kind).toBe("auth");
    expect(emu.account.creates).toBe(0);
  });
});

describe("thunder: malformed answers name the field", () => {
  it("a listing item with numGpus as a number (the spec says string)", async () => {
    const e = await providerRejection(answering(200, { "0": { ...item, numGpus: 1 } }).listInstances(signal()));
    expect(e.message).toMatch(/^Thunder GET \/instances\/list answered something Kiln cannot read: field `0\.numGpus`/);
    expect(e.kind).toBe("fatal");
  });

  it("a listing item without uuid, and a listing that is an array", async () => {
    const { uuid: _, ...noUuid } = item;
    expect((await providerRejection(answering(200, { "3": noUuid }).listInstances(signal()))).message).toMatch(/field `3\.uuid`/);
    expect((await providerRejection(answering(200, [item]).listInstances(signal()))).message).toMatch(/field `\(the body\)`/);
  });

  it("a price that is not a number, and specs without vramGB", async () => {
    expect((await providerRejection(answering(200, { pricing: { h100_production: "1.89" } }).pricing(signal()))).message).toMatch(/^Thunder GET \/pricing .*field `pricing\.h100_production`/);
    expect((await providerRejection(answering(200, { specs: { h100_x1_production: { displayName: "H100", gpuCount: 1 } } }).specs(signal()))).message).toMatch(/field `specs\.h100_x1_production\.vramGB`/);
  });

  it("an HTML page with 200 is refused as not Thunder's JSON", async () => {
    const e = await providerRejection(answering(200, "<html><body>Just a moment...</body></html>", "text/html").listInstances(signal()));
    expect(e.message).toMatch(/^Thunder GET \/instances\/list answered 200 with an HTML page/);
  });

  it("a create answered 201 without a uuid is an unknown outcome, not 'nothing launched'", async () => {
    const e = await providerRejection(answering(201, { key: "", identifier: 0 }).createInstance({ cpu_cores: 8, disk_size_gb: 100, gpu_type: "h100", mode: "production", num_gpus: 1, template: "base" }, "kiln-x", signal()));
    expect(e.code).toBe("kiln/launch-outcome-unknown");
    expect(e.message).toMatch(/field `uuid`/);
  });

  it("an unknown status maps to unknown, never guessed", async () => {
    const p = new ThunderProvider({ client: answering(200, { "0": { ...item, status: "HIBERNATING" } }) });
    expect((await p.describe("u-1", signal())).state).toBe("unknown");
  });
});

describe("thunder: error classification (body before status)", () => {
  it.each([
    [401, {}, false, "auth"],
    [429, {}, false, "rate-limited"],
    [500, { code: 500, error: "internal_error", message: "boom" }, true, "transient"],
    [400, { code: 400, error: "invalid_request", message: "No h100 GPUs are available in production mode" }, true, "capacity"],
    [400, { code: 400, error: "invalid_request", message: "Payment method required" }, true, "billing"],
    [400, { code: 400, error: "invalid_request", message: "Instance limit exceeded" }, true, "quota"],
    [400, { code: 400, error: "invalid_request", message: "cpu_cores must be one of 8" }, false, "invalid"],
    [400, { message: "something new" }, true, "capacity"],
    [404, { code: 404, error: "not_found", message: "Instance not found" }, false, "invalid"],
    [402, {}, false, "billing"],
  ] as const)("%i %j (create: %s) → %s", (status, body, onCreate, kind) => {
    expect(classifyThunderError(status, body, onCreate).kind).toBe(kind);
  });
});
