import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Ledger } from "../../store/index.js";
import type { RunFile } from "../job/run-file.js";
import { writeJobReport } from "./index.js";
import { lineChart, niceTicks, tickLabel } from "./svg.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-report-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHROMIUM = "/usr/bin/chromium";

function fixture(): { ledger: Ledger; run: RunFile } {
  const jobDir = join(dir, "job");
  mkdirSync(join(jobDir, "outputs", "sae"), { recursive: true });
  mkdirSync(join(jobDir, "outputs", "probe"), { recursive: true });
  const line = (o: object) => `${JSON.stringify({ v: 1, ts: 1764349200, ...o })}\n`;
  let sae = line({ kind: "start", phase: "train", resumed: false, step: 0, total_tokens: 102400 });
  for (let s = 1; s <= 100; s++) sae += line({ kind: "train", step: s, epoch: s / 100, tokens: s * 1024, loss: 1 / s, l0: 32, explained_variance: 1 - 1 / s, dead_fraction: 0.01 });
  sae += line({ kind: "eval", step: 50, tokens: 51200, split: "val", loss: 0.03, l0: 31.5, explained_variance: 0.96 });
  sae += line({ kind: "done", phase: "train", step: 100, tokens: 102400, reason: "completed" });
  writeFileSync(join(jobDir, "outputs", "sae", "metrics.jsonl"), sae);
  const prf = (p: number, r: number) => ({ precision: p, recall: r, f1: (2 * p * r) / (p + r), support: 10 });
  writeFileSync(join(jobDir, "outputs", "probe", "metrics.jsonl"), line({ kind: "probe_eval", system: "sae_probe", split: "test", match: "exact", micro: prf(0.9, 0.8), per_label: { EMAIL: prf(0.95, 0.9), PHONE: prf(0.8, 0.7) } }));
  const ledger = Ledger.open(":memory:", { clock: () => "2026-11-28T10:00:00.000Z" });
  ledger.createJob({ id: "j1", name: "demo", kind: "sae-pii", specYaml: "x", jobDir, planReason: "local GPU fits" });
  const a = ledger.startAttempt("j1", "local");
  const m = ledger.recordMachineIntent({ intentId: "j1-a1", jobId: "j1", attemptId: a.id, provider: "local", offer: {}, pricePerHour: 3.6 });
  ledger.markMachineLaunched(m.id, "local-j1-a1", "running", "2026-11-28T10:00:00.000Z");
  ledger.markMachineTerminated(m.id, "done", "2026-11-28T10:00:10.000Z");
  ledger.recordArtifact({ jobId: "j1", path: join(jobDir, "outputs", "sae", "sae.safetensors"), size: 1024, sha256: "ab".repeat(32), role: "sae", verified: true });
  ledger.transitionJob("j1", "succeeded", "completed");
  const step = (name: string) => ({ name, argv: ["x"], cwd: jobDir, env: {}, metrics: join(jobDir, "outputs", name, "metrics.jsonl"), outputDir: join(jobDir, "outputs", name) });
  const run: RunFile = {
    version: 1, jobId: "j1", jobName: "demo", kind: "sae-pii", ledgerPath: ":memory:", jobDir, provider: "local", pricePerHour: 3.6,
    machine: { gpu: "RTX-4090", gpuCount: 1, vramGb: 24 }, planReason: "local GPU fits", steps: [step("sae"), step("probe")],
    budget: { maxUsd: 1, alertFractions: [0.5] }, alerts: { on: [] }, monitor: { tickMs: 1000, stallMs: 60000, plateauWindow: 20, plateauMinImprovement: 0.001 }, stopGraceMs: 1000,
  };
  return { ledger, run };
}

describe("report", () => {
  it("puts every evaluation set's overlap F1 in one table, per-label tables for the test split only", () => {
    const { ledger, run } = fixture();
    const line = (o: object) => `${JSON.stringify({ v: 1, ts: 1764349200, kind: "probe_eval", ...o })}\n`;
    const prf = (f1: number) => ({ precision: f1, recall: f1, f1, support: 10 });
    let probe = "";
    for (const [system, scores] of [["sae_probe", [0.77, 0.57, 0.7]], ["presidio", [0.5, 0.5, 0.54]]] as const) {
      for (const [i, split] of ["test", "presidio_evaluator", "dev"].entries()) {
        for (const match of ["exact", "overlap"]) probe += line({ system, split, match, micro: prf(match === "overlap" ? scores[i]! : 0.1), per_label: { EMAIL: prf(0.9) } });
      }
    }
    writeFileSync(join(run.jobDir, "outputs", "probe", "metrics.jsonl"), probe);
    const md = writeJobReport(ledger, "j1", run, Date.parse("2026-11-28T11:00:00Z")).markdown;
    expect(md).toContain("## PII detector: overlap micro-F1 by evaluation set");
    expect(md).toContain("| system | test | presidio_evaluator | dev |");
    expect(md).toContain("| sae_probe | 0.770 | 0.570 | 0.700 |");
    expect(md).toContain("| presidio | 0.500 | 0.500 | 0.540 |");
    expect(md).toContain("## PII detector: sae_probe (test, overlap match)");
    expect(md).not.toContain("(dev, overlap match)");
  });

  it("writes markdown, html and plots with where/why, metrics, PII scores, cost, artifacts, timeline", () => {
    const { ledger, run } = fixture();
    const r = writeJobReport(ledger, "j1", run, Date.parse("2026-11-28T11:00:00Z"));
    const md = r.markdown;
    expect(md).toContain("Ran on **local** (1× RTX-4090, 24 GB) at $3.60/h.");
    expect(md).toContain("Why: local GPU fits");
    expect(md).toContain("| train (last log) | 100 | 102400 | 0.0100 | 32.0 | 0.990 | 0.010 |");
    expect(md).toContain("| validation (last) | 50 | 51200 | 0.0300 | 31.5 | 0.960 | — |");
    expect(md).toContain("## PII detector: sae_probe (test, exact match)");
    expect(md).toContain("| EMAIL | 0.950 | 0.900 | 0.924 | 10 |");
    expect(md).toContain("Total: **$0.01** of a $1.00 budget.");
    expect(md).toMatch(/\| outputs\/sae\/sae\.safetensors \| sae \| 1024 \| (ab){32} \| yes \|/);
    expect(md).toContain("| 2026-11-28 10:00:00.000 | job_state: created → succeeded | completed |");
    expect(md).toContain("![Loss](plots/loss.svg)");
    for (const f of ["plots/loss.svg", "plots/l0.svg", "plots/explained_variance.svg"]) expect(existsSync(join(run.jobDir, f))).toBe(true);
    const html = readFileSync(r.htmlPath, "utf8");
    expect(html.match(/<svg /g)?.length).toBe(3);
    expect(html).toContain("<td>EMAIL</td>");
  });

  it("chooses readable ticks and labels", () => {
    expect(niceTicks(0, 102400)).toEqual([0, 20000, 40000, 60000, 80000, 100000, 120000]);
    expect(niceTicks(0.013, 0.98)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(32, 32)).toEqual([28, 29, 30, 31, 32, 33, 34, 35, 36]);
    expect([0, 0.25, 1500, 20000, 3_500_000].map(tickLabel)).toEqual(["0", "0.25", "1500", "20k", "3.5M"]);
    const svg = lineChart({ title: "Loss over tokens", xLabel: "tokens", yLabel: "loss", series: [{ name: "train", points: [[0, 1], [10, 0.5]] }] });
    expect(svg).toContain(">tokens</text>");
    expect(svg).toContain(">Loss over tokens</text>");
    expect(lineChart({ title: "t", xLabel: "x", yLabel: "y", series: [] })).toContain("no data");
  });

  it.skipIf(!existsSync(CHROMIUM))("renders in headless Chromium with non-empty plots (skipped: no /usr/bin/chromium here)", async () => {
    const { ledger, run } = fixture();
    const r = writeJobReport(ledger, "j1", run);
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(`file://${r.htmlPath}`);
      const boxes = await page.$$eval("svg", (els) => els.map((e) => e.getBoundingClientRect()).map((b) => [b.width, b.height]));
      expect(boxes).toEqual([
        [640, 320],
        [640, 320],
        [640, 320],
      ]);
      const polylines = await page.$$eval("polyline", (els) => els.map((e) => (e as unknown as { getBBox(): { width: number } }).getBBox().width));
      expect(polylines.every((w) => w > 100)).toBe(true);
      if (process.env["KILN_REPORT_SCREENSHOT"]) await page.screenshot({ path: process.env["KILN_REPORT_SCREENSHOT"], fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
