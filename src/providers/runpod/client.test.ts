// The client against answers RunPod (or something in front of it) might give: bad credentials, bodies with
// missing fields or wrong types, HTML pages, empty bodies. Every failure is a ProviderError naming RunPod, the
// call and the field, with a kind the lifecycle can act on; the key never appears in a message.
import { describe, expect, it } from "vitest";
import { ProviderError } from "../provider.js";
import { RunpodClient } from "./client.js";
import { classifyRunpodError, isCapacityMessage } from "./errors.js";
import { exhaustedForMs, parseRetryAfter } from "./pacing.js";

const KEY = "rpa_SECRETSECRETSECRET";
const signal = () => AbortSignal.timeout(5_000);

/** A client whose every request gets `reply` (fresh each time). */
function clientAnswering(reply: () => Response, o: { maxAttempts?: number } = {}) {
  const calls: { url: string; auth: string | null }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    calls.push({ url: String(input), auth: new Headers(init?.headers).get("authorization") });
    return reply();
  };
  return { client: new RunpodClient({ apiKey: KEY, baseUrl: "https://api.runpod.test", fetch, minIntervalMs: 0, backoffBaseMs: 1, backoffMaxMs: 2, maxAttempts: o.maxAttempts ?? 3 }), calls };
}

const json = (status: number, body: unknown, type = "application/json") => () => new Response(JSON.stringify(body), { status, headers: { "content-type": type } });
const problem = (status: number, detail: string) => json(status, { title: "x", status, detail }, "application/problem+json");

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ProviderError);
  const pe = e as ProviderError;
  expect(pe.provider).toBe("runpod");
  expect(`${pe.message} ${pe.suggestion ?? ""}`).not.toContain(KEY);
  return pe;
}

const POD = { id: "abc", name: "kiln-x", status: "RUNNING", env: {}, cloud: "SECURE", dataCenterId: "US-KS-2", ssh: { proxy: null, direct: null }, cost: 0.44, createdAt: "2026-06-01T12:00:00Z" };

describe("RunPod client: credentials, malformed and foreign answers", () => {
  it("sends the key as a Bearer token, to /v2 and /graphql on the same origin", async () => {
    const { client, calls } = clientAnswering(json(200, { pods: [] }));
    await client.listPods(signal());
    const g = clientAnswering(json(200, { data: { gpuTypes: [] } }));
    await g.client.spotPrices(signal());
    expect([calls[0], g.calls[0]]).toEqual([
      { url: "https://api.runpod.test/v2/pods", auth: `Bearer ${KEY}` },
      { url: "https://api.runpod.test/graphql", auth: `Bearer ${KEY}` },
    ]);
  });

  it("a rejected key (401, 403) is auth, for the whole provider, and says where keys are made; never retried", async () => {
    for (const status of [401, 403]) {
      const { client, calls } = clientAnswering(problem(status, "invalid api key"));
      const e = await failure(client.listPods(signal()));
      expect({ kind: e.kind, scope: e.scope, status: e.status }).toEqual({ kind: "auth", scope: "provider", status });
      expect(e.suggestion).toMatch(/RUNPOD_API_KEY.*runpod\.io\/console\/user\/settings/);
      expect(calls).toHaveLength(1);
    }
    // GraphQL answers an unknown key with HTTP 401 (runpod-mcp saw this live).
    const g = clientAnswering(json(401, { errors: [{ message: "Unauthorized" }] }));
    expect((await failure(g.client.spotPrices(signal()))).kind).toBe("auth");
  });

  it("a pod with a missing or mistyped field fails naming the call and the field", async () => {
    const { status: _gone, ...noStatus } = POD;
    const missing = await failure(clientAnswering(json(200, noStatus)).client.getPod("abc", signal()));
    expect(missing.message).toMatch(/RunPod GET \/v2\/pods\/abc answered a body Kiln cannot read: status: /);
    const wrong = await failure(clientAnswering(json(200, { ...POD, cost: "0.44" })).client.getPod("abc", signal()));
    expect(wrong.message).toMatch(/cost: /);
    const listed = await failure(clientAnswering(json(200, { pods: [POD, { ...POD, ssh: { proxy: null } }] })).client.listPods(signal()));
    expect(listed.message).toMatch(/pods\.1\.ssh\.direct/);
    const gpus = await failure(clientAnswering(json(200, { gpus: [{ id: "x" }] })).client.listGpuTypes({ cloud: "SECURE", count: 1 }, signal()));
    expect(gpus.message).toMatch(/gpus\.0\.name/);
    expect([missing.kind, wrong.kind, listed.kind, gpus.kind]).toEqual(["fatal", "fatal", "fatal", "fatal"]);
  });

  it("a GraphQL answer with the wrong shape names the field; GraphQL errors are classified by code and message", async () => {
    const bad = await failure(clientAnswering(json(200, { data: { gpuTypes: [{ id: "x", secureSpotPrice: "cheap", communitySpotPrice: null }] } })).client.spotPrices(signal()));
    expect(bad.message).toMatch(/GraphQL gpuTypes answered a body Kiln cannot read: 0\.secureSpotPrice/);
    const cap = await failure(clientAnswering(json(200, { errors: [{ message: "There are no longer any instances available with the requested specifications. Please refresh and try again.", extensions: { code: "SUPPLY_CONSTRAINT" } }], data: { podRentInterruptable: null } })).client.spotPrices(signal()));
    expect({ kind: cap.kind, scope: cap.scope }).toEqual({ kind: "capacity", scope: "region" });
    const internal = await failure(clientAnswering(json(200, { errors: [{ message: "Something went wrong. Please try again later or contact support.", extensions: { code: "INTERNAL_SERVER_ERROR" } }] })).client.spotPrices(signal()));
    expect(internal.kind).toBe("transient");
    const none = await failure(clientAnswering(json(200, {})).client.spotPrices(signal()));
    expect(none.message).toMatch(/neither data nor errors/);
  });

  it("HTML pages and empty or non-JSON bodies are clear errors, retried only when the status says transient", async () => {
    const html = () => new Response("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", { status: 502, headers: { "content-type": "text/html" } });
    const { client, calls } = clientAnswering(html);
    const e = await failure(client.listPods(signal()));
    expect({ kind: e.kind, status: e.status }).toEqual({ kind: "transient", status: 502 });
    expect(e.message).toMatch(/HTTP 502 with an HTML page/);
    expect(calls).toHaveLength(3);
    const ok200 = await failure(clientAnswering(() => new Response("<html>maintenance</html>", { status: 200, headers: { "content-type": "text/html" } })).client.listPods(signal()));
    expect({ kind: ok200.kind, message: ok200.message }).toEqual({ kind: "fatal", message: expect.stringMatching(/answered 200 with an HTML page .* instead of JSON/) });
    const empty = await failure(clientAnswering(() => new Response("", { status: 200 })).client.getPod("abc", signal()));
    expect(empty.message).toMatch(/an empty body instead of JSON/);
    const text = await failure(clientAnswering(() => new Response("oops", { status: 400, headers: { "content-type": "text/plain" } })).client.listPods(signal()));
    expect({ kind: text.kind, message: text.message }).toEqual({ kind: "invalid", message: expect.stringMatching(/HTTP 400 with a body that is not RunPod's JSON \(text\/plain\)/) });
  });

  it("classifies statuses and capacity messages as the API reference's retry table says", () => {
    const k = (s: number, d?: string) => classifyRunpodError(s, d);
    expect(k(400, "There are no longer any instances available with the requested specifications.")).toEqual({ kind: "capacity", scope: "region" });
    expect(k(400, "gpu count must be at least 1")).toEqual({ kind: "invalid", scope: "none" });
    expect(k(402)).toEqual({ kind: "billing", scope: "provider" });
    expect(k(422)).toEqual({ kind: "invalid", scope: "none" });
    expect(k(429)).toEqual({ kind: "rate-limited", scope: "none" });
    expect(k(503)).toEqual({ kind: "transient", scope: "none" });
    expect(k(418)).toEqual({ kind: "fatal", scope: "none" });
    expect(isCapacityMessage("This machine does not have the resources to deploy your pod.")).toBe(true);
    expect(parseRetryAfter("12", 0)).toBe(12_000);
    expect(exhaustedForMs('"minute";r=0;t=12, "hour";r=2800;t=1812, "day";r=49500;t=45012')).toBe(12_000);
    expect(exhaustedForMs('"minute";r=3;t=12')).toBeUndefined();
  });
});
