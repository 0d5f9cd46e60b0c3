import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { detectNonfinite, detectPlateau, detectStall } from "./detectors.js";
import { progressLine } from "./format.js";
import { JobProgress } from "./progress.js";
import { MetricsReader } from "./reader.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-monitor-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (o: Record<string, unknown>) => `${JSON.stringify({ v: 1, ts: 1764349200, ...o })}\n`;
const train = (step: number, loss: number | null, extra: Record<string, unknown> = {}) =>
  line({ kind: "train", step, epoch: step / 400, tokens: step * 1024, loss, mse: loss, l0: 32, l1: null, explained_variance: 0.6, dead_fraction: 0, lr: 4e-4, tokens_per_s: 81000, gpu_mem_gb: null, eta_s: 48.2, ...extra });

describe("MetricsReader", () => {
  it("reads only complete new lines and picks up a partial line once it is finished", () => {
    const f = join(dir, "a.jsonl");
    writeFileSync(f, line({ kind: "start", phase: "train", resumed: false, step: 0, total_steps: 400, total_tokens: 409600 }) + train(10, 0.5));
    const r = new MetricsReader(f);
    expect(r.read().lines.map((l) => l.kind)).toEqual(["start", "train"]);
    const half = train(20, 0.4);
    appendFileSync(f, half.slice(0, 30));
    expect(r.read().lines).toEqual([]);
    appendFileSync(f, half.slice(30));
    expect(r.read().lines.map((l) => l.kind === "train" && l.step)).toEqual([20]);
  });

  it("reports invalid lines, passes unknown kinds and fields through", () => {
    const f = join(dir, "b.jsonl");
    writeFileSync(f, `{not json\n${line({ kind: "train", step: "x" })}${line({ kind: "gpu_temp", celsius: 80 })}${train(5, 0.3, { future_field: 1 })}`);
    const b = new MetricsReader(f).read();
    expect(b.invalid.map((i) => i.lineNo)).toEqual([1, 2]);
    expect(b.lines.map((l) => l.kind)).toEqual(["other", "train"]);
  });

  it("returns nothing for a file that does not exist yet", () => {
    expect(new MetricsReader(join(dir, "none.jsonl")).read()).toEqual({ lines: [], invalid: [] });
  });
});

describe("JobProgress", () => {
  it("keeps the latest value per step after a resume and computes the fraction", () => {
    const f = join(dir, "c.jsonl");
    writeFileSync(
      f,
      line({ kind: "start", phase: "train", resumed: false, step: 0, total_steps: 40, total_tokens: 40960 }) +
        train(10, 0.5) +
        train(20, 0.45) +
        line({ kind: "start", phase: "train", resumed: true, step: 10, total_steps: 40, total_tokens: 40960 }) +
        train(20, 0.44),
    );
    const p = new JobProgress();
    p.apply(new MetricsReader(f).read().lines);
    expect(p.train().map((t) => [t.step, t.loss])).toEqual([
      [10, 0.5],
      [20, 0.44],
    ]);
    expect(p.fraction()).toBe(0.5);
    expect(progressLine(p, { spentUsd: 0.5, maxUsd: 20 })).toMatchInlineSnapshot(`"[##########----------]  50% ep 0.05 step 20 loss 0.4400 L0 32.0 EV 0.600 81.0k tok/s ETA 48s $0.50/$20"`);
    // After training, the probe step: the SAE's numbers stay and the line says what runs now.
    expect(progressLine(p, { spentUsd: 0.5, maxUsd: 20 }, "training and scoring the PII probe…")).toContain("EV 0.600 81.0k tok/s ETA 48s · training and scoring the PII probe… $0.50/$20");
  });
});

describe("detectors", () => {
  it("finds a non-finite loss", () => {
    const p = new JobProgress();
    p.apply(new MetricsReader(join(dir, "none")).read().lines);
    expect(detectNonfinite(p)).toBeUndefined();
    const f = join(dir, "d.jsonl");
    writeFileSync(f, train(10, 0.5) + train(20, null, { nonfinite: ["loss", "mse"] }));
    p.apply(new MetricsReader(f).read().lines);
    expect(detectNonfinite(p)).toMatchObject({ kind: "nonfinite", step: 20 });
  });

  it("finds a stall only after the threshold", () => {
    const p = new JobProgress();
    const f = join(dir, "e.jsonl");
    writeFileSync(f, train(10, 0.5));
    p.apply(new MetricsReader(f).read().lines);
    const last = 1764349200_000;
    expect(detectStall(p, last + 59_000, 0, { stallMs: 60_000 })).toBeUndefined();
    expect(detectStall(p, last + 61_000, 0, { stallMs: 60_000 })?.kind).toBe("stall");
  });

  it("finds a plateau but not a falling loss", () => {
    const falling = new JobProgress();
    const flat = new JobProgress();
    const f1 = join(dir, "f1.jsonl");
    const f2 = join(dir, "f2.jsonl");
    writeFileSync(f1, Array.from({ length: 40 }, (_, i) => train(i, 1 / (i + 1))).join(""));
    writeFileSync(f2, Array.from({ length: 40 }, (_, i) => train(i, 0.3 + (i % 2) * 1e-5)).join(""));
    falling.apply(new MetricsReader(f1).read().lines);
    flat.apply(new MetricsReader(f2).read().lines);
    const opts = { plateauWindow: 10, plateauMinImprovement: 0.001 };
    expect(detectPlateau(falling, opts)).toBeUndefined();
    expect(detectPlateau(flat, opts)?.kind).toBe("plateau");
  });
});
