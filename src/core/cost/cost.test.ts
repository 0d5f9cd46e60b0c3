import { describe, expect, it } from "vitest";
import { localPricePerHour, machineCost, totalCost } from "./index.js";

describe("cost", () => {
  const launched = "2026-01-01T00:00:00.000Z";
  it("accrues per second from launch until confirmed termination", () => {
    expect(machineCost({ price_per_hour: 3.6, launched_at: launched, terminated_at: "2026-01-01T00:00:10.000Z" }, Date.parse("2026-01-02T00:00:00Z"))).toBeCloseTo(0.01, 10);
    expect(machineCost({ price_per_hour: 3.6, launched_at: launched, terminated_at: null }, Date.parse(launched) + 1000)).toBeCloseTo(0.001, 10);
    expect(machineCost({ price_per_hour: 3.6, launched_at: null, terminated_at: null }, Date.now())).toBe(0);
    expect(totalCost([{ price_per_hour: 1.29, launched_at: launched, terminated_at: "2026-01-01T01:00:00.000Z" }, { price_per_hour: 0, launched_at: launched, terminated_at: null }], Date.now())).toBeCloseTo(1.29, 10);
  });
  it("prices the local machine at 0 unless set", () => {
    expect(localPricePerHour({})).toBe(0);
    expect(localPricePerHour({}, 0.2)).toBe(0.2);
    expect(localPricePerHour({ KILN_LOCAL_PRICE_PER_HOUR: "0.5" }, 0.2)).toBe(0.5);
    expect(localPricePerHour({ KILN_LOCAL_PRICE_PER_HOUR: "cheap" })).toEqual({ error: 'KILN_LOCAL_PRICE_PER_HOUR must be a number ≥ 0, got "cheap"' });
  });
});
