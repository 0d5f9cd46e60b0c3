/**
 * `learning_rate: auto` is computed twice: by the workload when the run starts (kiln_sae/learning_rate.py) and by
 * `kiln plan` (src/core/planner/learning-rate.ts). Both are checked against one table the Python side generates,
 * so the plan never shows a rate the run will not use.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { autoLearningRate, g3 } from "../src/core/planner/learning-rate.js";

interface Case {
  d_in: number;
  n_latents: number;
  k: number | null;
  total_steps: number;
  batch_size: number;
  value: number;
  reason: string;
}

const cases = JSON.parse(readFileSync(resolve(import.meta.dirname, "../docs/learning-rate.cases.json"), "utf8")) as Case[];

describe("learning_rate: auto", () => {
  it("matches the workload's rule on every case of the shared table (value and reason)", () => {
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases) {
      const got = autoLearningRate({ dIn: c.d_in, nLatents: c.n_latents, k: c.k, totalSteps: c.total_steps, batchSize: c.batch_size });
      expect(got.value).toBeCloseTo(c.value, 12);
      expect(got.reason).toBe(c.reason);
    }
  });

  it("formats numbers as Python's %.3g does", () => {
    expect([0.006, 0.00461, 4.62e-5, 9.9999e-5, 0.0123456, 2e-4, 1234, 0.5].map(g3)).toEqual([
      "0.006", "0.00461", "4.62e-05", "0.0001", "0.0123", "0.0002", "1.23e+03", "0.5",
    ]);
  });
});
