// Live GCE prices from the emulated Cloud Billing Catalog API: offers composed from their vCPU, RAM, GPU and
// Local SSD SKUs and marked live with the time the SKUs were read; every page read; one reading cached; and
// the dated catalog, marked catalog and said in a warning, when the API fails, answers nonsense, lacks a
// part or prices one implausibly. Plus the composition rules on hand-made SKUs.
import { afterEach, describe, expect, it } from "vitest";
import type { Logger } from "../../base/logger.js";
import { nullLogger } from "../../base/logger.js";
import { CATALOG_DATE } from "../catalog-row.js";
import type { GpuRequest, Offer } from "../provider.js";
import { staticTokenAuth } from "./auth.js";
import { emulatedGcpProvider } from "./emulated.js";
import { type GcpEmulator, startGcpEmulator } from "./emulator.js";
import { SKUS_PATH } from "./emulator/billing.js";
import { machineTypeNamed } from "./machine-types.js";
import { composePrice, fetchComputeSkus, GcpLivePrices, type LivePricesOptions, type Sku, unitPriceOf } from "./prices.js";

const signal = () => AbortSignal.timeout(30_000);
const A100: GpuRequest = { gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "prefer" };
let emu: GcpEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

function warnings(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: { ...nullLogger, warn: (m: string) => void lines.push(m), child: () => nullLogger } };
}

/** A provider on `emu` with live prices; `pages` counts the Billing Catalog requests. */
function priced(e: GcpEmulator, o: Partial<LivePricesOptions> = {}) {
  const auth = staticTokenAuth(e.token);
  const counter = { pages: 0 };
  const w = warnings();
  const prices = new GcpLivePrices({
    url: `${e.url}${SKUS_PATH}`,
    headers: (u) => {
      counter.pages++;
      return auth.getRequestHeaders(u);
    },
    log: w.log,
    ...o,
  });
  return { provider: emulatedGcpProvider({ url: e.url, project: e.project, token: e.token, prices }), counter, warned: w.lines };
}

const pick = (offers: Offer[], zone: string, spot: boolean, type = "a2-highgpu-1g") => offers.find((x) => x.instanceType === type && x.region === zone && x.spot === spot)!;
const skuNamed = (e: GcpEmulator, description: string) => e.skus.find((s) => s.description === description)!;

describe("GCE live prices (emulated Cloud Billing Catalog API)", () => {
  it("composes each offer from its SKUs across every page, marks it live with when the SKUs were read, and caps Spot at the live on-demand price", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20 });
    const at = Date.parse("2026-12-05T01:02:03.456Z");
    const { provider, counter, warned } = priced(emu, { now: () => at });
    const offers = await provider.listOffers(A100, signal());
    // The emulator pages by 4: the whole list took many requests, and parts from late pages were found.
    expect(counter.pages).toBe(Math.ceil(emu.skus.length / 4));
    expect(counter.pages).toBeGreaterThan(10);
    const od = pick(offers, "us-central1-a", false);
    const spot = pick(offers, "us-central1-a", true);
    // The emulator's Americas SKUs add up to the dated catalog's prices; EMEA's are 10 % dearer.
    expect(od).toMatchObject({ priceSource: "live", priceDate: "2026-12-05T01:02:03Z", pricePerHour: 3.67 });
    expect(spot).toMatchObject({ priceSource: "live", priceDate: "2026-12-05T01:02:03Z", pricePerHour: 1.47, capPricePerHour: 3.67 });
    expect(pick(offers, "europe-west4-a", false).pricePerHour).toBeCloseTo(3.67 * 1.1, 3);
    expect(offers.every((o) => o.priceSource === "live")).toBe(true);
    expect(warned).toEqual([]);
    // A price moved in the Billing Catalog moves the offer: live, not the catalog under another name.
    const gpu = skuNamed(emu, "Nvidia Tesla A100 GPU running in Americas");
    gpu.pricingInfo![0]!.pricingExpression.tieredRates[0]!.unitPrice = { currencyCode: "USD", units: "3", nanos: 930_523_000 };
    const fresh = priced(emu).provider;
    expect(pick(await fresh.listOffers(A100, signal()), "us-central1-c", false).pricePerHour).toBeCloseTo(4.67, 3);
  });

  it("reads the SKUs once per hour: a later listing shows the same reading and its age, then a new one", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20 });
    let now = Date.parse("2026-12-05T01:00:00Z");
    const { provider, counter } = priced(emu, { now: () => now });
    await Promise.all([provider.listOffers(A100, signal()), provider.listOffers(A100, signal())]);
    const pages = counter.pages;
    now += 30 * 60_000;
    expect(pick(await provider.listOffers(A100, signal()), "us-central1-a", false).priceDate).toBe("2026-12-05T01:00:00Z");
    expect(counter.pages).toBe(pages);
    now += 31 * 60_000;
    expect(pick(await provider.listOffers(A100, signal()), "us-central1-a", false).priceDate).toBe("2026-12-05T02:01:00Z");
    expect(counter.pages).toBe(2 * pages);
  });

  it("a 5xx, a wrong token or a malformed page: every offer from the dated catalog, marked catalog, and one warning saying why", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20 });
    emu.inject({ kind: "error-5xx", match: { path: SKUS_PATH } });
    const down = priced(emu);
    const offers = await down.provider.listOffers(A100, signal());
    expect(offers.length).toBeGreaterThan(0);
    expect(offers.every((o) => o.priceSource === "catalog" && o.priceDate === CATALOG_DATE)).toBe(true);
    expect(pick(offers, "us-central1-a", true)).toMatchObject({ pricePerHour: 1.47, capPricePerHour: 3.67 });
    await down.provider.listOffers(A100, signal());
    expect(down.warned).toEqual([`GCE live prices are unavailable (the Cloud Billing Catalog API answered HTTP 503 (UNAVAILABLE: Backend Error)); the dated catalog (${CATALOG_DATE}) stands in, marked catalog`]);
    emu.clearFaults();

    const auth = staticTokenAuth("ya29.wrong");
    const wrong = warnings();
    const refused = new GcpLivePrices({ url: `${emu.url}${SKUS_PATH}`, headers: (u) => auth.getRequestHeaders(u), log: wrong.log });
    const p = emulatedGcpProvider({ url: emu.url, project: emu.project, token: emu.token, prices: refused });
    expect((await p.listOffers(A100, signal())).every((o) => o.priceSource === "catalog")).toBe(true);
    expect(wrong.lines[0]).toMatch(/^GCE live prices are unavailable \(the Cloud Billing Catalog API answered HTTP 401 \(UNAUTHENTICATED: Request had invalid authentication credentials/);

    emu.inject({ kind: "malformed", match: { path: SKUS_PATH }, times: 1 });
    const bad = priced(emu);
    expect((await bad.provider.listOffers(A100, signal())).every((o) => o.priceSource === "catalog")).toBe(true);
    expect(bad.warned[0]).toBe(`GCE live prices are unavailable (the Cloud Billing Catalog API answered something Kiln cannot read: skus: Invalid input: expected array, received string); the dated catalog (${CATALOG_DATE}) stands in, marked catalog`);
  });

  it("a passing 5xx is tried again: the offers are live and nothing is warned", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20 });
    emu.inject({ kind: "error-5xx", match: { path: SKUS_PATH }, times: 2 });
    const { provider, warned } = priced(emu);
    expect((await provider.listOffers(A100, signal())).every((o) => o.priceSource === "live")).toBe(true);
    expect(warned).toEqual([]);
  });

  it("an API that does not answer within the listing's budget: the catalog, and the reason", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20 });
    emu.inject({ kind: "hang", match: { path: SKUS_PATH } });
    const { provider, warned } = priced(emu, { timeoutMs: 300 });
    expect((await provider.listOffers(A100, signal())).every((o) => o.priceSource === "catalog")).toBe(true);
    expect(warned[0]).toMatch(/^GCE live prices are unavailable \(no answer within 0\.3 s\)/);
  });

  it("a part with no SKU in the region, or SKUs that add up to nonsense: that offer stays on the catalog and the warning names why", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20 });
    // No Spot A3 cores sold in EMEA; the L4's price a unit change gone wrong (dollars read as cents × 100).
    emu.skus.splice(emu.skus.indexOf(skuNamed(emu, "Spot Preemptible A3 Instance Core running in EMEA")), 1);
    skuNamed(emu, "Nvidia L4 GPU running in Americas").pricingInfo![0]!.pricingExpression.tieredRates[0]!.unitPrice = { currencyCode: "USD", units: "575", nanos: 0 };
    const { provider, warned } = priced(emu);
    const h100 = await provider.listOffers({ gpus: ["H100-80GB"], count: 1, minVramGb: 80, spot: "prefer" }, signal());
    expect(pick(h100, "europe-west4-b", true, "a3-highgpu-1g")).toMatchObject({ priceSource: "catalog", pricePerHour: 3.38 });
    expect(pick(h100, "us-central1-a", true, "a3-highgpu-1g")).toMatchObject({ priceSource: "live", pricePerHour: 3.38 });
    const l4 = await provider.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 24, spot: "prefer" }, signal());
    expect(pick(l4, "us-central1-a", false, "g2-standard-4")).toMatchObject({ priceSource: "catalog", pricePerHour: 0.71 });
    expect(pick(l4, "europe-west4-a", false, "g2-standard-4")).toMatchObject({ priceSource: "live" });
    expect(warned).toEqual(
      expect.arrayContaining([
        `GCE: no live Spot price for a3-highgpu-1g in europe-west4-b (no "Spot Preemptible A3 Instance Core" SKU is sold in europe-west4); its catalog price (${CATALOG_DATE}) stands in, marked catalog`,
        expect.stringMatching(/^GCE: no live price for g2-standard-4 in us-central1-a \(the SKUs add up to a price of \$575\.\d+ per GPU-hour \(above the \$100 any GPU costs\)\)/),
      ]),
    );
  });

  it("a page token the API repeats is an error, not an endless loop", async () => {
    let calls = 0;
    const server = await import("node:http").then(({ createServer }) => createServer((_req, res) => res.end(JSON.stringify({ skus: [], nextPageToken: `t${Math.min(++calls, 2)}` }))));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as { port: number };
      const e = await fetchComputeSkus({ url: `http://127.0.0.1:${port}/skus`, headers: async () => new Headers() }, signal()).catch((x: unknown) => x);
      expect(e).toMatchObject({ provider: "gcp", code: "kiln/malformed-response", message: "the Cloud Billing Catalog API repeated a page token" });
    } finally {
      server.close();
    }
  });
});

describe("composing a price from SKUs", () => {
  const t = machineTypeNamed("a2-ultragpu-1g")!;
  const sku = (description: string, unit: string, usd: number, o: { usageType?: string; regions?: string[]; tiers?: number[]; currency?: string } = {}): Sku => ({
    skuId: description.slice(0, 14),
    description,
    category: { resourceFamily: "Compute", resourceGroup: "X", usageType: o.usageType ?? "OnDemand" },
    serviceRegions: o.regions ?? ["us-central1"],
    pricingInfo: [{ effectiveTime: "2025-10-01T00:00:00Z", pricingExpression: { usageUnit: unit, tieredRates: (o.tiers ?? [usd]).map((x, i) => ({ startUsageAmount: i, unitPrice: { currencyCode: o.currency ?? "USD", units: String(Math.floor(x)), nanos: Math.round((x % 1) * 1e9) } })) } }],
  });
  const parts = [
    sku("A2 Instance Core running in Americas", "h", 0.03),
    sku("A2 Instance Ram running in Americas", "GiBy.h", 0.004),
    sku("Nvidia Tesla A100 80GB GPU running in Americas", "h", 4),
    sku("SSD backed Local Storage in Iowa", "GiBy.mo", 0.08),
  ];

  it("vCPUs + GiB of RAM + GPUs + bundled Local SSD (per GiB-month over 730 h)", () => {
    expect(composePrice(parts, t, "us-central1-a", false)).toBe(Math.round((12 * 0.03 + 170 * 0.004 + 4 + (375 * 0.08) / 730) * 10_000) / 10_000);
  });

  it("ignores look-alikes: commitments, Spot SKUs for on-demand, the 40GB A100 for the 80GB one, other regions", () => {
    const noise = [
      sku("Nvidia Tesla A100 GPU running in Americas", "h", 1),
      sku("Nvidia Tesla A100 80GB GPU attached to Spot Preemptible VMs running in Americas", "h", 1, { usageType: "Preemptible" }),
      sku("Commitment v1: A2 Cpu in Americas for 1 Year", "h", 0.01, { usageType: "Commit1Yr" }),
      sku("Nvidia Tesla A100 80GB GPU running in EMEA", "h", 9, { regions: ["europe-west4"] }),
    ];
    expect(composePrice([...noise, ...parts], t, "us-central1-a", false)).toBe(composePrice(parts, t, "us-central1-a", false));
    expect(composePrice(parts, t, "us-central1-a", true)).toBe('no "Spot Preemptible A2 Instance Core" SKU is sold in us-central1');
  });

  it("two SKUs for one part in a region: the dearer (an estimate must not be low)", () => {
    const twice = [...parts, sku("Nvidia Tesla A100 80GB GPU running in Iowa", "h", 4.5)];
    expect(composePrice(twice, t, "us-central1-a", false)).toBeCloseTo((composePrice(parts, t, "us-central1-a", false) as number) + 0.5, 4);
  });

  it("unit prices: units + nanos, the highest tier, and refusals for another unit, currency or $0", () => {
    expect(unitPriceOf(sku("x", "h", 2.5), "h")).toBe(2.5);
    expect(unitPriceOf(sku("x", "h", 0, { tiers: [0, 0.12] }), "h")).toBe(0.12);
    expect(unitPriceOf(sku("x", "GiBy.mo", 1), "h")).toMatch(/is priced per GiBy\.mo, not per h$/);
    expect(unitPriceOf(sku("x", "h", 1, { currency: "EUR" }), "h")).toMatch(/is priced in EUR$/);
    expect(unitPriceOf(sku("x", "h", 0), "h")).toMatch(/is priced at \$0$/);
  });
});
