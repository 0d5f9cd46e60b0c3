import { describe, expect, it } from "vitest";
import type { Offer } from "../../providers/provider.js";
import { baselineOf, findOffers, withDeadline } from "./offers.js";
import { providerNamed } from "../../providers/registry.js";
import { CATALOG } from "./rows.js";

const liveLambda: Offer = {
  provider: "lambda",
  instanceType: "gpu_1x_a100_sxm4",
  gpu: "A100-40GB",
  gpuCount: 1,
  vramGb: 40,
  region: "us-east-1",
  pricePerHour: 1.1,
  spot: false,
  available: true,
  priceSource: "live",
  priceDate: "2026-11-28",
};

describe("catalog", () => {
  it("dates and sources every row, prices the runbook's single A100 40GB rows exactly, and corrects its hyperscaler rows", () => {
    for (const r of CATALOG) {
      expect(r.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(r.source.length).toBeGreaterThan(0);
      // Each row sits in its own provider's folder: the descriptor that holds it names the same provider.
      expect(providerNamed(r.provider).catalog).toContain(r);
    }
    const a100 = Object.fromEntries(CATALOG.filter((r) => r.gpu === "A100-40GB" && r.gpuCount === 1).map((r) => [r.provider, r.pricePerHour]));
    // The runbook's RunPod ($1.39) and Thunder ($0.66) A100 40GB rows are gone: RunPod's GPU type list has no
    // 40 GB A100 and Thunder's "a100" now means the 80 GB a100xl (both descriptors say where).
    expect(a100).toEqual({ lambda: 1.29, tensordock: 0.75, northflank: 1.42, gcp: 3.67 });
    // The runbook's AWS "p4d.xlarge" ($3.02) and Azure A100 40GB ($3.40) do not exist: both clouds sell the
    // 40 GB A100 only eight to a machine (p4d.24xlarge, Standard_ND96asr_v4).
    const eightWay = CATALOG.filter((r) => r.gpu === "A100-40GB" && (r.provider === "aws" || r.provider === "azure"));
    expect(eightWay.map((r) => [r.provider, r.instanceType, r.gpuCount])).toEqual([
      ["aws", "p4d.24xlarge", 8],
      ["azure", "Standard_ND96asr_v4", 8],
    ]);
  });
});

describe("findOffers", () => {
  it("matches both A100s for the alias A100 and respects min VRAM", async () => {
    const all = await findOffers({ gpus: ["A100"], count: 1, minVramGb: 1, spot: "never" });
    expect(new Set(all.offers.map((o) => o.gpu))).toEqual(new Set(["A100-40GB", "A100-80GB"]));
    const big = await findOffers({ gpus: ["A100"], count: 1, minVramGb: 60, spot: "never" });
    expect(big.offers.every((o) => o.gpu === "A100-80GB")).toBe(true);
  });

  it("lets a live source replace a provider's catalog rows", async () => {
    const { offers, warnings } = await findOffers(
      { gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never", providers: ["lambda", "gcp"] },
      { live: { lambda: async (req) => (req.minVramGb <= 40 ? [liveLambda] : []) } },
    );
    expect(warnings).toEqual([]);
    expect(offers.map((o) => [o.provider, o.instanceType, o.pricePerHour, o.priceSource])).toEqual([
      ["lambda", "gpu_1x_a100_sxm4", 1.1, "live"],
      ["gcp", "a2-highgpu-1g", 3.67, "catalog"],
    ]);
  });

  it("falls back to the catalog with a warning when a live source fails", async () => {
    const { offers, warnings } = await findOffers(
      { gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never", providers: ["lambda"] },
      {
        live: {
          lambda: async () => {
            throw new Error("HTTP 503");
          },
        },
      },
    );
    expect(warnings).toEqual(["lambda: live prices unavailable (HTTP 503); using the catalog"]);
    expect(offers.map((o) => [o.instanceType, o.priceSource])).toEqual([["gpu_1x_a100", "catalog"]]);
  });

  it("caps the price and picks the reliable baseline", async () => {
    const { offers } = await findOffers({ gpus: "any", count: 1, minVramGb: 40, spot: "allowed", maxPricePerHour: 1.4 });
    expect(offers.every((o) => o.pricePerHour <= 1.4)).toBe(true);
    // Azure's A100 80GB spot row ($1.36) is under the cap; GCP's spot A100 ($1.47) is not.
    expect(offers.filter((o) => o.spot).map((o) => o.instanceType)).toEqual(["Standard_NC24ads_A100_v4"]);
    expect(baselineOf(offers)).toMatchObject({ provider: "lambda", instanceType: "gpu_1x_a6000", pricePerHour: 0.8 });
    // Per GPU: thunder's A100 is a budget provider, so the A100-40GB baseline is Lambda's.
    expect(baselineOf(offers, "A100-40GB")).toMatchObject({ provider: "lambda", instanceType: "gpu_1x_a100" });
  });
});

describe("live sources under a deadline", () => {
  // A source that honours its signal but never answers on its own, like an API that hangs.
  const hanging = (_req: unknown, signal: AbortSignal) => new Promise<Offer[]>((_ok, fail) => signal.addEventListener("abort", () => fail(signal.reason), { once: true }));

  it("falls back to the catalog with a warning when the source does not answer in time", async () => {
    const t0 = Date.now();
    const { offers, warnings } = await findOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 1, spot: "never", providers: ["lambda"] }, { live: { lambda: withDeadline(hanging, 100) } });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(warnings).toEqual(["lambda: live prices unavailable (no answer within 0.1 s); using the catalog"]);
    expect(offers.map((o) => [o.provider, o.priceSource])).toEqual([["lambda", "catalog"]]);
  });

  it("passes the caller's abort through untouched", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("Ctrl-C")), 20);
    await expect(findOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never", providers: ["lambda"] }, { live: { lambda: withDeadline(hanging, 10_000) }, signal: ac.signal })).rejects.toThrow("Ctrl-C");
  });
});
