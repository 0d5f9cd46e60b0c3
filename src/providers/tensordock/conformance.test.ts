// Conformance: a scripted session against the emulator through a client whose every exchange is checked
// against the third-party OpenAPI document (with the one correction from TensorDock's docs) and Kiln's own
// /locations schema — successes and errors, zero violations — and the checker itself catches what it should.
import { afterEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { ProviderError } from "../provider.js";
import type { CreateInstanceBody } from "./client.js";
import { type TensordockEmulator, startTensordockEmulator } from "./emulator.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedTensordockClient, tensordockCheckedFetch, tensordockSpec } from "./testing/spec.js";

const signal = () => AbortSignal.timeout(10_000);
let emu: TensordockEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

const body = (name: string, location: string, gpu: string, o: Partial<CreateInstanceBody["data"]["attributes"]["resources"]> = {}): CreateInstanceBody => ({
  data: { type: "virtualmachine", attributes: { name, type: "virtualmachine", image: "ubuntu2404", resources: { vcpu_count: 8, ram_gb: 32, storage_gb: 200, gpus: { [gpu]: { count: 1 } }, ...o }, location_id: location, useDedicatedIp: false, ssh_key: PUB } },
});

const kindOf = async (p: Promise<unknown>) => {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ProviderError);
  return (e as ProviderError).kind;
};

describe("TensorDock conformance on the emulator", () => {
  it("a scripted session, successes and errors, has zero spec violations", async () => {
    emu = await startTensordockEmulator({ bootDelayMs: 30, deleteDelayMs: 0 });
    const { client, check } = checkedTensordockClient(emu, { maxAttempts: 1 });
    const locations = await client.listLocations(signal());
    expect(locations.length).toBeGreaterThan(0);
    const austin = locations[0]!.id;
    const id = await client.createInstance(body("kiln-conf-1", austin, "geforcertx4090-pcie-24gb"), signal());
    const running = await pollUntil(async () => {
      const i = await client.getInstance(id, signal());
      return i.status === "running" ? i : undefined;
    }, { what: "running", timeoutMs: 5_000, intervalMs: 10 });
    expect(running.portForwards.find((f) => f.internal === 22)).toBeDefined();
    expect((await client.listInstances(signal())).map((i) => i.id)).toContain(id);
    await client.deleteInstance(id, signal());
    // Gone: get and delete answer 404 (the delete's 404 is undocumented, in the document's error envelope).
    expect(await kindOf(client.getInstance(id, signal()))).toBe("invalid");
    expect(await kindOf(client.deleteInstance(id, signal()))).toBe("invalid");
    // Errors: storage under 100 GB, capacity, balance, rate limit, a 5xx, bad credentials.
    expect(await kindOf(client.createInstance(body("kiln-conf-2", austin, "geforcertx4090-pcie-24gb", { storage_gb: 50 }), signal()))).toBe("invalid");
    expect(await kindOf(client.createInstance(body("kiln-conf-3", austin, "h100-sxm5-80gb", { gpus: { "h100-sxm5-80gb": { count: 64 } } }), signal()))).toBe("capacity");
    emu.account.balance = 0.5;
    expect(await kindOf(client.createInstance(body("kiln-conf-4", austin, "h100-sxm5-80gb"), signal()))).toBe("billing");
    emu.account.balance = 100;
    emu.inject({ kind: "rate-limit", delayMs: 1000, times: 1 });
    expect(await kindOf(client.listInstances(signal()))).toBe("rate-limited");
    emu.inject({ kind: "error-5xx", status: 503, times: 1 });
    expect(await kindOf(client.getInstance("nope", signal()))).toBe("transient");
    const bad = checkedTensordockClient({ apiUrl: emu.apiUrl, apiToken: "td_WRONG" }, { maxAttempts: 1 });
    expect(await kindOf(bad.client.listInstances(signal()))).toBe("auth");
    expect(await kindOf(bad.client.listLocations(signal()))).toBe("auth");

    expect([...check.violations, ...bad.check.violations]).toEqual([]);
    const seen = Object.fromEntries([...check.seen].map(([op, s]) => [op, [...s].sort()]));
    expect(seen).toEqual({ listLocations: [200], createInstance: [201, 400], getInstance: [200, 404, 503], listInstances: [200, 429], deleteInstance: [200, 404] });
  });

  it("the checker catches a request body and answers that break the document", async () => {
    const spec = tensordockSpec();
    // The document's array form of gpus is accepted, as is the docs' map form; a count of zero is not.
    const req = (gpus: unknown) => spec.validateRequest("POST", "/api/v2/instances", new Headers({ authorization: "Bearer t" }), { data: { type: "virtualmachine", attributes: { name: "x", image: "ubuntu2404", resources: { gpus } } } });
    expect(req([{ gpuV0Name: "h100-sxm5-80gb", count: 1 }])).toEqual([]);
    expect(req({ "h100-sxm5-80gb": { count: 1 } })).toEqual([]);
    expect(req({ "h100-sxm5-80gb": { count: 0 } }).join("\n")).toMatch(/createInstance request/);
    expect(spec.validateRequest("GET", "/api/v2/instances", new Headers(), undefined).join("\n")).toMatch(/lacks the credential header/);
    // A list item with a status outside the document's enum; /locations without max_count.
    expect(spec.validateResponse("GET", "/api/v2/instances", 200, { data: { instances: [{ type: "virtualmachine", id: "x", attributes: { name: "kiln-a", status: "Rebooting" } }] } }).join("\n")).toMatch(/listInstances 200 response/);
    expect(spec.validateResponse("GET", "/api/v2/locations", 200, { data: { locations: [{ id: "l", gpus: [{ v0Name: "x", price_per_hr: 1, resources: { max_vcpus: 1, max_ram_gb: 1, max_storage_gb: 100 } }] }] } }).join("\n")).toMatch(/max_count/);
    // An undocumented error status must still be the document's error envelope.
    expect(spec.validateResponse("DELETE", "/api/v2/instances/x", 404, { message: "gone" }).join("\n")).toMatch(/not the provider's error envelope/);
    // And an HTML page is caught as not JSON by the checked fetch.
    const html = tensordockCheckedFetch(async () => new Response("<html>502</html>", { status: 502, headers: { "content-type": "text/html" } }));
    await html.fetch("https://dashboard.tensordock.com/api/v2/instances", { headers: { authorization: "Bearer t" } });
    expect(html.violations.join("\n")).toMatch(/not JSON/);
  });
});
