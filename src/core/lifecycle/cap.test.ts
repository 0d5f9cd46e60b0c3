import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Ledger } from "../../store/index.js";
import { capPriceOf, capSecondsLeft } from "./cap.js";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function ledgerWithMachine(offer: Record<string, unknown>, pricePerHour: number, launchedAt: string) {
  dir = mkdtempSync(join(tmpdir(), "kiln-cap-"));
  const l = Ledger.open(join(dir, "ledger.db"));
  l.createJob({ id: "j-cap", name: "cap", kind: "sae-pii", specYaml: "", jobDir: join(dir, "j") });
  const a = l.startAttempt("j-cap", "toy");
  const m = l.recordMachineIntent({ intentId: "i1", jobId: "j-cap", attemptId: a.id, provider: "toy", offer, pricePerHour });
  l.markMachineLaunched(m.id, "p1", "running", launchedAt);
  return { l, jobId: "j-cap", rowId: m.id };
}

describe("the cap's clock", () => {
  it("counts a disk sized at launch on top of a spot bid, as the recorded price does", () => {
    const row = (offer: Record<string, unknown>, price: number) => ({ price_per_hour: price, offer_json: JSON.stringify(offer) });
    expect(capPriceOf(row({ capPricePerHour: 0.3, launchDisk: { gb: 470, usdPerHour: 0.06 } }, 0.26))).toBeCloseTo(0.36, 9);
    expect(capPriceOf(row({ launchDisk: { gb: 470, usdPerHour: 0.06 } }, 0.4))).toBe(0.4);
  });

  it("counts a spot machine at its bid, not its expected price", () => {
    const t0 = Date.parse("2026-12-04T00:00:00Z");
    const { l, jobId, rowId } = ledgerWithMachine({ spot: true, pricePerHour: 1, capPricePerHour: 2 }, 1, new Date(t0).toISOString());
    try {
      // $1 at a worst case of $2/h is 1800 s; 600 s have passed; one 1 s poll is held back.
      expect(capSecondsLeft(l, { jobId, budget: { maxUsd: 1, alertFractions: [] }, pollMs: 1000 }, rowId, t0 + 600_000)).toBeCloseTo(1199, 6);
    } finally {
      l.close();
    }
  });

  it("uses the recorded price when the offer has no higher worst case", () => {
    expect(capPriceOf({ price_per_hour: 1.5, offer_json: "{}" })).toBe(1.5);
    expect(capPriceOf({ price_per_hour: 1.5, offer_json: '{"capPricePerHour": 1}' })).toBe(1.5);
    expect(capPriceOf({ price_per_hour: 1.5, offer_json: "not json" })).toBe(1.5);
    expect(capPriceOf({ price_per_hour: 1.5, offer_json: '{"capPricePerHour": 3}' })).toBe(3);
  });
});
