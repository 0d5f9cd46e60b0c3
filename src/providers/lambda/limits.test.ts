// Limits on what Lambda's API may answer (issue 15, item 9): a response body past MAX_RESPONSE_BYTES is
// refused while it streams (never buffered whole), and a price that is not believable (≤ $0, absurd per
// GPU-hour) drops the instance type from the offers with a warning instead of being planned on.
import { afterEach, describe, expect, it } from "vitest";
import { ProviderError } from "../provider.js";
import { LambdaClient, MAX_RESPONSE_BYTES } from "./client.js";
import { type LambdaEmulator, startLambdaEmulator } from "./emulator.js";
import { MAX_PRICE_PER_GPU_HOUR } from "../price-check.js";
import { LambdaProvider } from "./provider.js";

const signal = new AbortController().signal;
let emu: LambdaEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

function clientFor(e: LambdaEmulator, warnings: string[] = []) {
  return new LambdaClient({ apiKey: e.apiKey, baseUrl: e.url, minIntervalMs: 0, launchIntervalMs: 0, backoffBaseMs: 1, log: { debug() {}, warn: (m) => warnings.push(m) } });
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("Lambda response size limit", () => {
  it("refuses a 24 MiB answer while streaming it, with a clear ProviderError, before the body is all sent", async () => {
    emu = await startLambdaEmulator({ bootDelayMs: 0, rateLimit: false });
    const size = 24 * 1024 * 1024;
    emu.inject({ kind: "huge-body", match: { path: "/instances" }, bytes: size, times: 1 });
    const heapBefore = process.memoryUsage().heapUsed;
    const e = await caught(clientFor(emu).listInstances(signal));
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: "fatal", code: "kiln/response-too-large", status: 200 });
    expect((e as ProviderError).message).toMatch(/GET \/instances answered a body of more than 8 MiB/);
    expect((e as ProviderError).suggestion).toMatch(/try again later/);
    // Not retried (it would only fetch the same monster again).
    expect(emu.requests.filter((r) => r.path === "/instances")).toHaveLength(1);
    // The client hung up once past the limit: the emulator never got to write the whole body (socket
    // buffers take a few MiB more at most), and the heap holds nowhere near 24 MiB more.
    await new Promise((r) => setTimeout(r, 200));
    expect(emu.streamedBytes).toBeGreaterThan(MAX_RESPONSE_BYTES);
    expect(emu.streamedBytes).toBeLessThan(size - 4 * 1024 * 1024);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(size);
  }, 30_000);

  it("a body under the limit is read as usual, and a smaller configured limit applies", async () => {
    emu = await startLambdaEmulator({ bootDelayMs: 0, rateLimit: false });
    expect(await clientFor(emu).listInstances(signal)).toEqual([]);
    const tight = new LambdaClient({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, maxResponseBytes: 64 });
    const e = await caught(tight.listInstanceTypes(signal));
    expect(e).toMatchObject({ code: "kiln/response-too-large" });
  });
});

describe("Lambda prices are validated", () => {
  it("drops instance types priced at $0, below zero or absurdly per GPU-hour, with a warning; never plans them", async () => {
    emu = await startLambdaEmulator({ bootDelayMs: 0, rateLimit: false });
    const types = emu.account.types;
    const [free, negative, absurd] = [types[0]!, types[1]!, types[2]!];
    free.price_cents_per_hour = 0;
    negative.price_cents_per_hour = -129;
    // $1,000 per GPU-hour: a unit change (dollars read as cents) or an API bug.
    absurd.price_cents_per_hour = 1000 * 100 * absurd.specs.gpus;
    const warnings: string[] = [];
    const provider = new LambdaProvider({ client: clientFor(emu, warnings) });
    const offers = await provider.listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never" }, signal);
    for (const t of [free, negative, absurd]) {
      expect(offers.map((o) => o.instanceType)).not.toContain(t.name);
      expect(warnings.some((w) => w.includes(t.name) && /left out of the offers/.test(w))).toBe(true);
    }
    expect(offers.length).toBeGreaterThan(0);
    expect(offers.every((o) => o.pricePerHour > 0 && o.pricePerHour / o.gpuCount <= MAX_PRICE_PER_GPU_HOUR)).toBe(true);
  });
});
