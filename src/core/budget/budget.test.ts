import { describe, expect, it } from "vitest";
import { evaluateBudget } from "./index.js";

describe("evaluateBudget", () => {
  const b = { maxUsd: 20, maxHours: 10, alertFractions: [0.8, 0.5, 0.95] };
  it("alerts each fraction once, in order", () => {
    expect(evaluateBudget(b, 5, 1, new Set())).toEqual({ crossed: [] });
    expect(evaluateBudget(b, 16.5, 1, new Set())).toEqual({ crossed: [0.5, 0.8] });
    expect(evaluateBudget(b, 16.5, 1, new Set([0.5, 0.8]))).toEqual({ crossed: [] });
  });
  it("stops at max_usd and at max_hours", () => {
    expect(evaluateBudget(b, 20, 1, new Set([0.5, 0.8]))).toEqual({ crossed: [0.95], stop: { reason: "budget reached: spent $20.00 of max_usd $20.00" } });
    expect(evaluateBudget(b, 1, 10.5, new Set()).stop?.reason).toBe("time limit reached: ran 10.50 h of max_hours 10");
    expect(evaluateBudget({ alertFractions: [0.5] }, 1e9, 1e9, new Set())).toEqual({ crossed: [] });
  });
});
