/**
 * The job page's charts, drawn by the report's own chart code (src/core/report/svg.ts): the SAE's health
 * curves over tokens, and the cost burn-down against the budget with its alert thresholds. Each chart
 * carries `data-chart` so the live stream can replace it in place, and `data-points` (set by lineChart)
 * with the number of points measured, before downsampling for display.
 */
import { type Series, lineChart } from "../core/report/index.js";
import type { Curve, JobMetrics } from "./metrics-cache.js";

export interface Chart {
  id: string;
  svg: string;
}

interface CurveSpec {
  id: string;
  curve: Curve;
  title: string;
  yLabel: string;
  scale?: number;
  val?: "loss" | "l0" | "explained_variance" | "dead_fraction";
  /** Said in place of "no data" when the workload never reports the value. */
  missing?: string;
}

const SPECS: readonly CurveSpec[] = [
  { id: "loss", curve: "loss", title: "Loss", yLabel: "loss (normalised MSE)", val: "loss" },
  { id: "l0", curve: "l0", title: "L0", yLabel: "L0 (active latents per token)", val: "l0" },
  { id: "ev", curve: "explained_variance", title: "Explained variance", yLabel: "explained variance (fraction)", val: "explained_variance" },
  { id: "dead", curve: "dead_fraction", title: "Dead latents", yLabel: "dead latents (%)", scale: 100, val: "dead_fraction" },
  { id: "tps", curve: "tokens_per_s", title: "Throughput", yLabel: "tokens/s" },
  { id: "gpu-util", curve: "gpu_util", title: "GPU utilisation", yLabel: "GPU utilisation (%)", missing: "not reported (a CPU run, or a machine without NVML)" },
  { id: "gpu-mem", curve: "gpu_mem_gb", title: "GPU memory", yLabel: "GPU memory (GB)", missing: "not reported (a CPU run has no GPU memory)" },
];

const WIDTH = 460;
const HEIGHT = 260;

// Drawing 100k-point curves costs far more than serving them: a job's charts are drawn again only when
// new metric lines arrived (or the job began reporting), else the last drawing is served.
const drawn = new WeakMap<JobMetrics, { lines: number; started: boolean; charts: Chart[] }>();

export function curveCharts(m: JobMetrics): Chart[] {
  const hit = drawn.get(m);
  if (hit && hit.lines === m.lineCount && hit.started === (m.latest !== undefined)) return hit.charts;
  const charts = draw(m);
  drawn.set(m, { lines: m.lineCount, started: m.latest !== undefined, charts });
  return charts;
}

function draw(m: JobMetrics): Chart[] {
  return SPECS.map((s) => {
    const k = s.scale ?? 1;
    // Downsampled straight from the columns (300 buckets, as lineChart would): no tuple per step for a 100k-step run.
    const series: Series[] = [{ name: "train", points: m.displayPoints(s.curve, 300, k) }];
    if (s.val) {
      const val = m.evalPoints(s.val).map(([x, y]) => [x, y * k] as const);
      if (val.length > 0) series.push({ name: "validation", markers: true, points: val });
    }
    // Once training has reported, a chart still empty is one the workload does not feed: say why.
    const emptyText = m.latest ? (s.missing ?? "no data") : "waiting for the first metrics";
    return { id: s.id, svg: lineChart({ title: s.title, xLabel: "tokens", yLabel: s.yLabel, series, width: WIDTH, height: HEIGHT, emptyText, pointCount: m.count(s.curve), attrs: { "data-chart": s.id } }) };
  });
}

/**
 * Remaining budget over minutes since the job was created: measured (solid) and projected to the ETA
 * (dashed), with a line where each alert fires. A job without a cap shows its spend instead.
 */
export function burnDownChart(spend: readonly [number, number][], o: { capUsd: number | undefined; alertFractions: readonly number[]; projectedUsd: number | undefined; etaS: number | undefined }): Chart {
  const last = spend.at(-1);
  const cap = o.capUsd;
  const attrs = { "data-chart": "cost" };
  if (cap === undefined) {
    return { id: "cost", svg: lineChart({ title: "Spend (no budget cap)", xLabel: "minutes since the job was created", yLabel: "spent (USD)", series: [{ name: "spent", points: spend }], width: WIDTH * 2, height: HEIGHT, attrs }) };
  }
  const series: Series[] = [{ name: "budget left", points: spend.map(([t, s]) => [t, cap - s] as const) }];
  if (last && o.projectedUsd !== undefined && o.etaS !== undefined && o.etaS > 0) {
    series.push({ name: "projected", dashed: true, points: [[last[0], cap - last[1]], [last[0] + o.etaS / 60, cap - o.projectedUsd]] });
  }
  const rules = [...o.alertFractions.map((f) => ({ y: cap * (1 - f), label: `alert at ${Math.round(f * 100)}% spent` })), { y: 0, label: "cap reached" }];
  return { id: "cost", svg: lineChart({ title: `Budget burn-down ($${cap.toFixed(2)} cap)`, xLabel: "minutes since the job was created", yLabel: "budget left (USD)", series, rules, width: WIDTH * 2, height: HEIGHT, attrs }) };
}
