// Live prices from every configured cloud at once, each under its own deadline: a provider that hangs
// (even one that ignores its AbortSignal) or fails is reported, and never holds up the others.
import { describe, expect, it } from "vitest";
import type { GpuRequest } from "../../providers/provider.js";
import { findOffers } from "../catalog/offers.js";
import { catalogRows } from "../catalog/rows.js";
import { answerLine, answeredSources, askProviders, priceSourceLines } from "./live-prices.js";
import { priceTestCloud } from "./testing/offers.js";

const req: GpuRequest = { gpus: "any", count: 1, minVramGb: 1, spot: "never" };
const sourceOf = (name: string, behaviour: Parameters<typeof priceTestCloud>[1]) => {
  const d = priceTestCloud(name, behaviour);
  return async (r: GpuRequest, s: AbortSignal) => (await d.configured!({ env: {}, credentialsPath: "", logger: undefined as never }))!.provider.listOffers(r, s);
};

describe("askProviders", () => {
  it("asks in parallel: a hanging provider times out, a failing one fails, the others answer", async () => {
    const answers = await askProviders({ quick: sourceOf("quick", { delayMs: 0 }), stuck: sourceOf("stuck", "hang"), broken: sourceOf("broken", { fail: "HTTP 503" }) }, req, { deadlineMs: 200 });
    expect(answers.map((a) => [a.provider, a.status])).toEqual([
      ["quick", "live"],
      ["stuck", "timeout"],
      ["broken", "failed"],
    ]);
    const [quick, stuck, broken] = answers;
    expect(quick!.offers).toEqual([expect.objectContaining({ provider: "quick", priceSource: "live" })]);
    expect(stuck).toMatchObject({ offers: [], error: "no answer within 0.2 s" });
    expect(broken).toMatchObject({ offers: [], error: "HTTP 503" });
    expect(answerLine(quick!)).toMatch(/^quick: live, 1 offer in \d+\.\d\d s at \d\d:\d\d:\d\d UTC$/);
    expect(answerLine(stuck!)).toBe("stuck: no answer within 0.2 s; its catalog rows stand in (marked catalog)");
    expect(answerLine(broken!)).toMatch(/^broken: live prices failed after \d+\.\d\d s \(HTTP 503\); its catalog rows stand in/);
  });

  it("aborts a slow provider's request at its deadline", async () => {
    let seen: AbortSignal | undefined;
    const answers = await askProviders(
      {
        slow: async (_r, signal) => {
          seen = signal;
          return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
        },
      },
      req,
      { deadlineMs: 50 },
    );
    expect(answers[0]!.status).toBe("timeout");
    expect(seen?.aborted).toBe(true);
  });

  it("rejects when the caller aborts", async () => {
    const ac = new AbortController();
    const asking = askProviders({ slow: sourceOf("slow", "hang") }, req, { deadlineMs: 60_000, signal: ac.signal });
    ac.abort(new Error("user pressed Ctrl-C"));
    await expect(asking).rejects.toThrow();
  });
});

describe("live and catalog rows never mix", () => {
  it("a provider that answered shows only live rows; one that did not keeps its catalog rows, marked catalog", async () => {
    const catalog = [...catalogRows(), ...priceTestCloud("quick", { delayMs: 0 }).catalog, ...priceTestCloud("stuck", "hang").catalog];
    const answers = await askProviders({ quick: sourceOf("quick", { delayMs: 0 }), stuck: sourceOf("stuck", "hang") }, req, { deadlineMs: 100 });
    const { offers, warnings } = await findOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never", providers: ["quick", "stuck"] }, { catalog, live: answeredSources(answers) });
    expect(offers.map((o) => [o.provider, o.priceSource])).toEqual([
      ["quick", "live"],
      ["stuck", "catalog"],
    ]);
    expect(warnings).toEqual(["stuck: live prices unavailable (no answer within 0.1 s); using the catalog"]);
    const lines = priceSourceLines(answers, { emulated: ["quick"], notConfigured: ["nokey"], catalogOnly: ["old"] }, { date: "2025-10-30", now: Date.parse("2025-11-09T12:00:00Z") });
    expect(lines[0]).toMatch(/^ {2}quick: live, 1 offer in .* \(emulated\)$/);
    expect(lines.slice(1)).toEqual([
      "  stuck: no answer within 0.1 s; its catalog rows stand in (marked catalog)",
      "  nokey: catalog 2025-10-30 (10 days old); not configured (`kiln check` says how)",
      "  old: catalog 2025-10-30 (10 days old); Kiln cannot ask them for prices yet",
    ]);
  });
});

describe("answerLine", () => {
  it("says when an answering provider priced some offers from its catalog (they stay marked catalog)", () => {
    const offer = { provider: "x", instanceType: "t", gpu: "A100-40GB", gpuCount: 1, vramGb: 40, region: "r", pricePerHour: 1, spot: false, available: true, priceDate: "2026-12-04" } as const;
    const line = answerLine({ provider: "x", status: "live", offers: [{ ...offer, priceSource: "live" }, { ...offer, priceSource: "catalog" }], ms: 120, at: "2026-12-04T23:59:01.000Z" });
    expect(line).toBe("x: live, 2 offers (1 live-priced, 1 priced from its catalog) in 0.12 s at 23:59:01 UTC");
  });
});
