// The client against answers the emulator never gives: bad credentials, and bodies that are malformed (fields
// missing, wrong types, HTML, not JSON). Every failure is a ProviderError naming TensorDock, the call and the
// field; a create whose answer cannot be read is an unknown outcome, never "nothing launched".
import { describe, expect, it } from "vitest";
import { isMaybeLaunched, ProviderError } from "../provider.js";
import { TensordockClient } from "./client.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";

const signal = () => AbortSignal.timeout(5_000);

/** A client whose every request is answered by `answer` (status, body text, content type). */
function clientAnswering(answer: (url: string, init: RequestInit | undefined) => { status: number; text: string; type?: string; headers?: Record<string, string> }, o: { maxAttempts?: number } = {}) {
  const calls: { url: string; auth: string | null }[] = [];
  const client = new TensordockClient({
    apiToken: "td_secret_token",
    baseUrl: "https://dashboard.tensordock.com/api/v2",
    minIntervalMs: 0,
    backoffBaseMs: 1,
    backoffMaxMs: 2,
    maxAttempts: o.maxAttempts ?? 1,
    fetch: async (input, init) => {
      const url = String(input);
      calls.push({ url, auth: new Headers(init?.headers).get("authorization") });
      const a = answer(url, init);
      return new Response(a.text === "" ? null : a.text, { status: a.status, headers: { "content-type": a.type ?? "application/json", ...a.headers } });
    },
  });
  return { client, calls };
}

const failure = async (p: Promise<unknown>): Promise<ProviderError> => {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ProviderError);
  return e as ProviderError;
};

const createBody = {
  data: { type: "virtualmachine" as const, attributes: { name: "kiln-abc", type: "virtualmachine" as const, image: "ubuntu2404", resources: { vcpu_count: 8, ram_gb: 32, storage_gb: 200, gpus: { "h100-sxm5-80gb": { count: 1 } } }, location_id: "loc", useDedicatedIp: false, ssh_key: PUB } },
};

describe("TensordockClient: credentials", () => {
  it("sends the token as a bearer header, and a 401 is auth for the whole provider, with where to make a token", async () => {
    const { client, calls } = clientAnswering(() => ({ status: 401, text: JSON.stringify({ errors: [{ status: "401", title: "Unauthorized", detail: "Invalid API token" }] }) }));
    const e = await failure(client.listInstances(signal()));
    expect(calls[0]).toEqual({ url: "https://dashboard.tensordock.com/api/v2/instances", auth: "Bearer td_secret_token" });
    expect({ provider: e.provider, kind: e.kind, scope: e.scope, status: e.status }).toEqual({ provider: "tensordock", kind: "auth", scope: "provider", status: 401 });
    expect(e.message).toBe("TensorDock GET /instances failed (HTTP 401: Unauthorized: Invalid API token)");
    expect(e.suggestion).toMatch(/TENSORDOCK_API_TOKEN.*dashboard\.tensordock\.com\/api/);
    expect(`${e.message} ${e.suggestion}`).not.toContain("td_secret_token");
  });

  it("a 403 with another error shape ({message}) is auth too, and its message is kept", async () => {
    const { client } = clientAnswering(() => ({ status: 403, text: JSON.stringify({ message: "Token revoked" }) }));
    const e = await failure(client.listLocations(signal()));
    expect({ kind: e.kind, message: e.message }).toEqual({ kind: "auth", message: "TensorDock GET /locations failed (HTTP 403: Token revoked)" });
  });
});

describe("TensordockClient: malformed answers name TensorDock and the field", () => {
  it("locations: a missing field and a wrong type", async () => {
    const missing = clientAnswering(() => ({ status: 200, text: JSON.stringify({ data: { locations: [{ id: "l1", gpus: [{ v0Name: "h100-sxm5-80gb", price_per_hr: 2.2, resources: { max_vcpus: 8, max_ram_gb: 64, max_storage_gb: 500 } }] }] } }) }));
    const a = await failure(missing.client.listLocations(signal()));
    expect({ kind: a.kind, provider: a.provider }).toEqual({ kind: "fatal", provider: "tensordock" });
    expect(a.message).toMatch(/^TensorDock GET \/locations answered a body Kiln cannot read: data\.locations\.0\.gpus\.0\.max_count: /);
    const wrong = clientAnswering(() => ({ status: 200, text: JSON.stringify({ data: { locations: [{ id: "l1", gpus: [{ v0Name: "h100-sxm5-80gb", max_count: 2, price_per_hr: "2.20", resources: { max_vcpus: 8, max_ram_gb: 64, max_storage_gb: 500 } }] }] } }) }));
    expect((await failure(wrong.client.listLocations(signal()))).message).toMatch(/data\.locations\.0\.gpus\.0\.price_per_hr: .*number/i);
  });

  it("instances: the list without data, an instance without a status (flat and wrapped forms)", async () => {
    const noData = clientAnswering(() => ({ status: 200, text: JSON.stringify({ instances: [] }) }));
    expect((await failure(noData.client.listInstances(signal()))).message).toMatch(/GET \/instances answered a body Kiln cannot read: data: /);
    const flat = clientAnswering(() => ({ status: 200, text: JSON.stringify({ type: "virtualmachine", id: "i-1", name: "kiln-a", ipAddress: "1.2.3.4" }) }));
    expect((await failure(flat.client.getInstance("i-1", signal()))).message).toMatch(/GET \/instances\/\{id\} answered a body Kiln cannot read: status: /);
    const wrapped = clientAnswering(() => ({ status: 200, text: JSON.stringify({ data: { type: "virtualmachine", id: "i-1", attributes: { name: "kiln-a", status: 3 } } }) }));
    expect((await failure(wrapped.client.getInstance("i-1", signal()))).message).toMatch(/data\.attributes\.status: /);
    const ports = clientAnswering(() => ({ status: 200, text: JSON.stringify({ id: "i-1", name: "kiln-a", status: "running", portForwards: [{ internal_port: 22, external_port: "twenty" }] }) }));
    expect((await failure(ports.client.getInstance("i-1", signal()))).message).toMatch(/portForwards/);
  });

  it("both documented instance shapes, and both portForwards forms, are read", async () => {
    const flat = clientAnswering(() => ({ status: 200, text: JSON.stringify({ type: "instance", id: "i-1", name: "kiln-a", status: "running", ipAddress: "1.2.3.4", portForwards: [{ internal_port: "22", external_port: "20022" }] }) }));
    expect(await flat.client.getInstance("i-1", signal())).toMatchObject({ id: "i-1", status: "running", ipAddress: "1.2.3.4", portForwards: [{ internal: 22, external: 20022 }] });
    const wrapped = clientAnswering(() => ({ status: 200, text: JSON.stringify({ data: { type: "virtualmachine", id: "i-2", attributes: { name: "kiln-b", status: "running", ipAddress: "5.6.7.8", portForwards: { "22": 20100 }, rateHourly: 0.5, location_id: "loc" } } }) }));
    expect(await wrapped.client.getInstance("i-2", signal())).toEqual({ id: "i-2", name: "kiln-b", status: "running", ipAddress: "5.6.7.8", portForwards: [{ internal: 22, external: 20100 }], rateHourly: 0.5, locationId: "loc" });
  });

  it("an HTML page on a 200 is refused naming TensorDock; on an error status the status decides the kind", async () => {
    const ok = clientAnswering(() => ({ status: 200, text: "<!DOCTYPE html><html>login</html>", type: "text/html" }));
    const a = await failure(ok.client.listInstances(signal()));
    expect({ kind: a.kind, status: a.status }).toEqual({ kind: "fatal", status: 200 });
    expect(a.message).toMatch(/TensorDock GET \/instances answered 200 with an HTML page/);
    const bad = clientAnswering(() => ({ status: 503, text: "<html>down</html>", type: "text/html" }));
    const b = await failure(bad.client.listInstances(signal()));
    expect({ kind: b.kind, message: b.message }).toEqual({ kind: "transient", message: "TensorDock GET /instances failed (HTTP 503 with an HTML page (a proxy or an outage page, not TensorDock's API))" });
  });

  it("a create answered 2xx with HTML, without data, or without an id is an unknown outcome, not a failure to launch", async () => {
    for (const text of ["<html>ok</html>", JSON.stringify({ ok: true }), JSON.stringify({ data: { type: "virtualmachine", name: "kiln-abc" } }), ""]) {
      const { client } = clientAnswering(() => ({ status: 201, text, type: text.startsWith("<") ? "text/html" : "application/json" }));
      const e = await failure(client.createInstance(createBody, signal()));
      expect(isMaybeLaunched(e)).toBe(true);
      expect(e.message).toMatch(/the launch of kiln-abc may or may not have happened/);
    }
  });

  it("a create refused with 400 for a reason Kiln does not know is invalid, and is not retried", async () => {
    const { client, calls } = clientAnswering(() => ({ status: 400, text: JSON.stringify({ error: "Invalid image" }) }), { maxAttempts: 3 });
    const e = await failure(client.createInstance(createBody, signal()));
    expect({ kind: e.kind, message: e.message }).toEqual({ kind: "invalid", message: "TensorDock POST /instances failed (HTTP 400: Invalid image)" });
    expect(calls).toHaveLength(1);
  });
});
