// Client and emulator against Thunder's own OpenAPI document: every request Kiln sends and every answer the
// emulator gives — successes, documented errors, and faults — validated, with zero violations, and every
// operation Kiln uses exercised with the statuses that matter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { specCheckedFetch } from "../emulator-kit/testing/openapi-check.js";
import { startThunderEmulator, type ThunderEmulator } from "./emulator.js";
import { ThunderProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB, newIntent } from "./testing/fixtures.js";
import { checkedThunderClient, type SpecCheck, thunderSpec } from "./testing/openapi.js";

const signal = () => AbortSignal.timeout(20_000);
let emu: ThunderEmulator;
let check: SpecCheck;
let raw: SpecCheck;
let p: ThunderProvider;

beforeAll(async () => {
  emu = await startThunderEmulator({ bootDelayMs: 20, terminateDelayMs: 20 });
  const c = checkedThunderClient(emu, { maxAttempts: 2 });
  check = c.check;
  raw = specCheckedFetch(thunderSpec());
  p = new ThunderProvider({ client: c.client, listingLagMs: 200 });
});
afterAll(() => emu.close());

describe("thunder conformance with swagger.json (OpenAPI 3.1)", () => {
  it("a whole machine life, errors and faults included, has no violations", async () => {
    const offers = await p.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never" }, signal());
    const m = await p.launch({ intentId: newIntent(), offer: offers[0]!, sshPublicKey: PUB }, signal());
    await p.describe(m.id, signal());
    emu.inject({ kind: "capacity", match: { method: "POST", path: "/instances/create" }, times: 1 });
    await p.launch({ intentId: newIntent(), offer: offers[0]!, sshPublicKey: PUB }, signal()).catch(() => undefined);
    emu.inject({ kind: "error-5xx", match: { method: "POST", path: "/instances/create" }, status: 500, times: 1 });
    await p.launch({ intentId: newIntent(), offer: offers[0]!, sshPublicKey: PUB }, signal()).catch(() => undefined);
    emu.inject({ kind: "rate-limit", match: { method: "GET", path: "/instances/list" }, delayMs: 10, times: 1 });
    await p.listMachines(signal());
    await p.terminate(m.id, signal());
    // A wrong token, a delete of an unknown id, a create body Thunder refuses: the emulator's error answers.
    await raw.fetch(`${emu.url}/instances/list`, { headers: { authorization: "Bearer wrong" } });
    await raw.fetch(`${emu.url}/instances/create`, { method: "POST", headers: { authorization: "Bearer wrong", "content-type": "application/json" }, body: JSON.stringify({ cpu_cores: 8, disk_size_gb: 100, gpu_type: "h100", mode: "production", num_gpus: 1, template: "base" }) });
    await raw.fetch(`${emu.url}/instances/no-such/delete`, { method: "POST", headers: { authorization: `Bearer ${emu.token}`, "content-type": "application/json" }, body: "{}" });
    await raw.fetch(`${emu.url}/instances/create`, { method: "POST", headers: { authorization: `Bearer ${emu.token}`, "content-type": "application/json" }, body: JSON.stringify({ cpu_cores: 3, disk_size_gb: 100, gpu_type: "h100", mode: "production", num_gpus: 1, template: "base" }) });
    expect([...check.violations, ...raw.violations]).toEqual([]);
    const seen = (op: string) => [...(check.seen.get(op) ?? []), ...(raw.seen.get(op) ?? [])].sort();
    expect(seen("GET /pricing")).toEqual([200]);
    expect(seen("GET /specs")).toEqual([200]);
    expect(new Set(seen("POST /instances/create"))).toEqual(new Set([201, 400, 401, 500]));
    expect(new Set(seen("GET /instances/list"))).toEqual(new Set([200, 401, 429]));
    expect(new Set(seen("POST /instances/{id}/delete"))).toEqual(new Set([200, 404]));
  });

  it("the checker itself catches a body Thunder would refuse (a string count, an unknown field)", () => {
    const h = new Headers({ authorization: "Bearer x" });
    expect(thunderSpec().validateRequest("POST", "/v1/instances/create", h, { cpu_cores: "8", disk_size_gb: 100, gpu_type: "h100", mode: "production", num_gpus: 1, template: "base" }).join()).toMatch(/cpu_cores/);
    expect(thunderSpec().validateRequest("POST", "/v1/instances/create", h, { cpu_cores: 8, disk_size_gb: 100, gpu_type: "h100", mode: "production", num_gpus: 1, template: "base", name: "kiln-x" }).join()).toMatch(/InstanceCreateRequest/);
    expect(thunderSpec().validateResponse("GET", "/v1/instances/list", 200, { "0": { uuid: "u", numGpus: 1 } }).join()).toMatch(/numGpus/);
    expect(thunderSpec().validateRequest("GET", "/v1/pricing", new Headers(), undefined)).toEqual([]);
    expect(thunderSpec().validateRequest("GET", "/v1/instances/list", new Headers(), undefined).join()).toMatch(/credential/);
  });
});
