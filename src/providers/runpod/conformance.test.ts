// Conformance: a scripted session against the emulator through a client whose every exchange is checked —
// REST v2 requests and answers against RunPod's OpenAPI document (errors as RFC 9457 problem+json), GraphQL
// documents, variables and answers against the subset schema — with zero violations, success and error
// paths both. And the checkers themselves catch what they should.
import { afterEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { ProviderError } from "../provider.js";
import { RunpodClient } from "./client.js";
import { type RunpodEmulator, startRunpodEmulator } from "./emulator.js";
import { RENT_INTERRUPTIBLE_MUTATION, type RentInterruptableInput } from "./graphql-ops.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkGraphqlExchange } from "./testing/graphql-subset.js";
import { checkedRunpodClient, runpodCheckedFetch } from "./testing/specs.js";

const signal = () => AbortSignal.timeout(10_000);
let emu: RunpodEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

const rentInput = (name: string, o: Partial<RentInterruptableInput> = {}): RentInterruptableInput => ({
  bidPerGpu: 0.5,
  cloudType: "SECURE",
  gpuTypeId: "NVIDIA GeForce RTX 4090",
  gpuCount: 1,
  name,
  imageName: "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404",
  containerDiskInGb: 50,
  volumeInGb: 0,
  ports: "22/tcp",
  env: [{ key: "PUBLIC_KEY", value: PUB }],
  supportPublicIp: true,
  ...o,
});

const kindOf = async (p: Promise<unknown>) => {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ProviderError);
  return (e as ProviderError).kind;
};

describe("RunPod conformance (REST v2 + GraphQL) on the emulator", () => {
  it("a scripted session, successes and errors, has zero spec violations", async () => {
    emu = await startRunpodEmulator({ bootDelayMs: 30, rateLimit: { perMinute: 10_000 } });
    const { client, check } = checkedRunpodClient(emu, { maxAttempts: 1 });
    // Catalog and spot prices.
    for (const cloud of ["SECURE", "COMMUNITY"] as const) expect((await client.listGpuTypes({ cloud, count: 1 }, signal())).length).toBeGreaterThan(0);
    expect((await client.spotPrices(signal())).some((g) => g.secureSpotPrice !== null)).toBe(true);
    // On-demand: create, boot, list, stop, start, restart, delete, then the 404s.
    const pod = await client.createPod({ name: "kiln-conf-1", image: "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404", gpu: { id: "NVIDIA A100 80GB PCIe", count: 1 }, cloud: "SECURE", dataCenterIds: ["US-KS-2"], disk: 50, ports: ["22/tcp"], env: { PUBLIC_KEY: PUB } }, signal());
    expect(pod.status).toBe("PROVISIONING");
    await pollUntil(async () => ((await client.getPod(pod.id, signal())).ssh.direct ? true : undefined), { what: "running", timeoutMs: 5_000, intervalMs: 10 });
    expect((await client.listPods(signal())).map((p) => p.id)).toContain(pod.id);
    expect((await client.podAction(pod.id, "restart", signal())).status).toBe("RUNNING");
    expect((await client.podAction(pod.id, "stop", signal())).status).toBe("EXITED");
    expect(await kindOf(client.podAction(pod.id, "stop", signal()))).toBe("invalid"); // 409: not valid when EXITED
    expect((await client.podAction(pod.id, "start", signal())).status).toBe("PROVISIONING");
    await client.deletePod(pod.id, signal());
    expect((await kindOf(client.getPod(pod.id, signal())))).toBe("invalid"); // 404
    expect(await kindOf(client.deletePod(pod.id, signal()))).toBe("invalid"); // 404
    // Spot: rent, reclaim (EXITED, cost 0), delete.
    const spotId = await client.rentInterruptable(rentInput("kiln-conf-2"), signal());
    expect(await emu.reclaim(spotId)).toBe(true);
    const reclaimed = await client.getPod(spotId, signal());
    expect({ status: reclaimed.status, cost: reclaimed.cost }).toEqual({ status: "EXITED", cost: 0 });
    await client.deletePod(spotId, signal());
    // Errors: capacity (400 and SUPPLY_CONSTRAINT), balance (402), rate limit (429), a bid below the market, a 5xx.
    emu.account.stock.soldOut("NVIDIA L40S");
    expect(await kindOf(client.createPod({ name: "kiln-conf-3", image: "x", gpu: { id: "NVIDIA L40S", count: 1 }, cloud: "SECURE", disk: 50, ports: ["22/tcp"], env: {} }, signal()))).toBe("capacity");
    expect(await kindOf(client.rentInterruptable(rentInput("kiln-conf-4", { gpuTypeId: "NVIDIA L40S", bidPerGpu: 1 }), signal()))).toBe("capacity");
    expect(await kindOf(client.rentInterruptable(rentInput("kiln-conf-5", { bidPerGpu: 0.01 }), signal()))).toBe("invalid");
    emu.inject({ kind: "insufficient-balance", times: 1 });
    expect(await kindOf(client.createPod({ name: "kiln-conf-6", image: "x", gpu: { id: "NVIDIA GeForce RTX 4090", count: 1 }, cloud: "SECURE", disk: 50, ports: ["22/tcp"], env: {} }, signal()))).toBe("billing");
    emu.inject({ kind: "rate-limit", delayMs: 1000, times: 1 });
    expect(await kindOf(client.listPods(signal()))).toBe("rate-limited");
    emu.inject({ kind: "error-5xx", status: 503, times: 1 });
    expect(await kindOf(client.getPod("nope", signal()))).toBe("transient");
    // An action on a pod that is gone, sent through the checker: a 404 problem.
    const raw = await check.fetch(`${emu.url}/v2/pods/${spotId}/action`, { method: "POST", headers: { authorization: `Bearer ${emu.apiKey}`, "content-type": "application/json" }, body: JSON.stringify({ action: "stop" }) });
    expect(raw.status).toBe(404);
    // Bad credentials on both APIs.
    const bad = checkedRunpodClient({ url: emu.url, apiKey: "rpa_WRONG" }, { maxAttempts: 1 });
    expect(await kindOf(bad.client.listPods(signal()))).toBe("auth");
    expect(await kindOf(bad.client.spotPrices(signal()))).toBe("auth");

    expect([...check.violations, ...bad.check.violations]).toEqual([]);
    const seen = Object.fromEntries([...check.seen].map(([op, s]) => [op, [...s].sort()]));
    expect(seen).toMatchObject({
      listGpuTypes: [200],
      createPod: [201, 400, 402],
      getPod: [200, 404, 503],
      listPods: [200, 429],
      podAction: [200, 404, 409],
      deletePod: [204, 404],
      "graphql KilnSpotPrices": [200],
      "graphql KilnRentInterruptable": [200],
    });
  });

  it("an invalid action body answers 422 with the violations listed, as problem+json", async () => {
    emu = await startRunpodEmulator({ bootDelayMs: 30 });
    const { client, check } = checkedRunpodClient(emu);
    const pod = await client.createPod({ name: "kiln-conf-7", image: "x", gpu: { id: "NVIDIA GeForce RTX 4090", count: 1 }, cloud: "SECURE", disk: 50, ports: [], env: {} }, signal());
    // Sent past the checker (the request itself breaks the spec on purpose); the answer is still checked.
    const res = await fetch(`${emu.url}/v2/pods/${pod.id}/action`, { method: "POST", headers: { authorization: `Bearer ${emu.apiKey}`, "content-type": "application/json" }, body: JSON.stringify({ action: "pause" }) });
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ title: "Unprocessable Entity", status: 422, errors: [expect.stringMatching(/action/)] });
    expect(check.violations).toEqual([]);
  });

  it("the checkers catch a wrong answer, a wrong document and wrong variables", async () => {
    emu = await startRunpodEmulator({ bootDelayMs: 30 });
    const check = runpodCheckedFetch();
    const client = new RunpodClient({ apiKey: emu.apiKey, baseUrl: emu.url, fetch: check.fetch, minIntervalMs: 0, maxAttempts: 1 });
    // A document outside the subset schema and variables of the wrong type.
    await client.spotPrices(signal());
    const body = (query: string, variables?: unknown) => ({ method: "POST", headers: { authorization: `Bearer ${emu!.apiKey}`, "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
    await check.fetch(`${emu.url}/graphql`, body("query { gpuTypes { id vram } }"));
    await check.fetch(`${emu.url}/graphql`, body(RENT_INTERRUPTIBLE_MUTATION, { input: { ...rentInput("kiln-x"), bidPerGpu: "cheap", colour: "red" } }));
    expect(check.violations.join("\n")).toMatch(/GpuType has no field "vram"/);
    expect(check.violations.join("\n")).toMatch(/\$input\.bidPerGpu: expected Float/);
    expect(check.violations.join("\n")).toMatch(/PodRentInterruptableInput has no field "colour"/);
    // An answer missing a required field, or a field that was not selected.
    expect(checkGraphqlExchange({ query: RENT_INTERRUPTIBLE_MUTATION, variables: { input: rentInput("kiln-y") } }, 200, JSON.stringify({ data: { podRentInterruptable: { name: "x" } } }))).toEqual(['data.podRentInterruptable: field "name" was not selected', "data.podRentInterruptable.id: missing"]);
    // A REST answer that breaks the Pod schema is caught by the OpenAPI check.
    const broken = runpodCheckedFetch(async () => new Response(JSON.stringify({ id: "x", name: "y" }), { status: 200, headers: { "content-type": "application/json" } }));
    await broken.fetch("https://api.runpod.io/v2/pods/x", { headers: { authorization: "Bearer k" } });
    expect(broken.violations.join("\n")).toMatch(/getPod 200 response/);
  });
});
