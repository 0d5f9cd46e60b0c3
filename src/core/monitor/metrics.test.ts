import { describe, expect, it } from "vitest";
import { TrainLine, parseMetricLine } from "./metrics.js";

const good = { v: 1, ts: 1.5, kind: "train", step: 3, epoch: 0.1, tokens: 3072, loss: 0.5, mse: 0.4, l0: 31.5, explained_variance: 0.8, dead_fraction: 0, tokens_per_s: 1e4, eta_s: null, future: { x: 1 } };

/** Every field of a train line made wrong (or dropped), one at a time: the hand check must agree with zod's. */
function variants(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [good];
  const wrong: unknown[] = [undefined, null, "1", 1.5, -1, [], {}, true, Number.NaN];
  for (const key of [...Object.keys(good), "nonfinite"]) {
    for (const w of wrong) {
      const v: Record<string, unknown> = { ...good };
      if (w === undefined) delete v[key];
      else v[key] = w;
      out.push(v);
    }
  }
  out.push({ ...good, nonfinite: ["loss"] }, { ...good, nonfinite: [1] }, { ...good, v: 2 }, { ...good, step: 2.5 });
  return out;
}

describe("parseMetricLine's fast check of train lines", () => {
  it("accepts exactly the lines TrainLine accepts, and returns the same fields", () => {
    const cases = variants();
    expect(cases.length).toBeGreaterThan(100);
    for (const c of cases) {
      const zod = TrainLine.safeParse(c);
      const ours = parseMetricLine(JSON.stringify(c));
      // JSON turns NaN into null: compare against what zod says about the line as it arrives.
      const arrived = JSON.parse(JSON.stringify(c)) as Record<string, unknown>;
      const expected = c["kind"] === "train" ? TrainLine.safeParse(arrived).success : ours.ok;
      expect({ line: arrived, ok: ours.ok }).toEqual({ line: arrived, ok: expected });
      if (ours.ok && zod.success && c["kind"] === "train") expect(ours.line).toEqual(TrainLine.parse(arrived));
    }
  });

  it("words the error as zod does when a train line is wrong", () => {
    const r = parseMetricLine(JSON.stringify({ ...good, step: "three" }));
    expect(r).toEqual({ ok: false, error: expect.stringMatching(/^step: /) });
  });
});
