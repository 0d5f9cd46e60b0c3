/**
 * Line charts as self-contained SVG, drawn by hand so the report and the dashboard need no plotting
 * library and no network: axes with "nice" ticks (1-2-5 steps), tick labels, axis labels with units, a
 * title and a legend. The report (files, inlined HTML) and the dashboard (live pages) draw with this one
 * function. Colours come from an embedded stylesheet that follows the reader's light or dark scheme, so a
 * chart reads the same as a standalone .svg file, an <img> and inline in a page. Long series are
 * downsampled for display (./downsample.ts); `data-points` on the <svg> keeps the first series' real count.
 */
import { downsample } from "./downsample.js";

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** Draw markers only (sparse series such as eval passes). */
  markers?: boolean;
  /** Draw dashed (a projection, not a measurement). */
  dashed?: boolean;
}

/** A horizontal reference line with its label (a budget cap, an alert threshold). */
export interface Rule {
  y: number;
  label: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  rules?: readonly Rule[];
  width?: number;
  height?: number;
  /** Points kept per series for display (default 1200: 300 pixel buckets × first/min/max/last). */
  maxPoints?: number;
  /** The first series' measured point count, when the caller downsampled it already (shown as data-points). */
  pointCount?: number;
  /** Said in place of "no data" when no series has a point (why the value is missing). */
  emptyText?: string;
  /** Extra attributes for the <svg> element (ids for live updates), already safe: names only [a-z-]. */
  attrs?: Readonly<Record<string, string>>;
}

// Light scheme first; the dark one lifts every colour so lines keep ≥ 3:1 contrast on the dark ground.
// Scoped to .kiln-chart: inlined in a page, an SVG <style> applies to the whole document.
const STYLE =
  ".kiln-chart .bg{fill:#fff}.kiln-chart text{fill:#222}.kiln-chart .grid{stroke:#e3e3e3}.kiln-chart .axis{stroke:#444}.kiln-chart .muted{fill:#666}" +
  ".kiln-chart .rule{stroke:#b35900;stroke-dasharray:4 3}.kiln-chart .rule-label{fill:#8a4500}" +
  ".kiln-chart .c0{stroke:#1f63b4;fill:#1f63b4}.kiln-chart .c1{stroke:#c62828;fill:#c62828}.kiln-chart .c2{stroke:#2e7d32;fill:#2e7d32}.kiln-chart .c3{stroke:#7b3fa0;fill:#7b3fa0}" +
  "@media (prefers-color-scheme:dark){.kiln-chart .bg{fill:#16181d}.kiln-chart text{fill:#e6e6e6}.kiln-chart .grid{stroke:#2f333b}.kiln-chart .axis{stroke:#aaa}.kiln-chart .muted{fill:#aaa}" +
  ".kiln-chart .rule{stroke:#ffb060}.kiln-chart .rule-label{fill:#ffb060}" +
  ".kiln-chart .c0{stroke:#6fa8ff;fill:#6fa8ff}.kiln-chart .c1{stroke:#ff7b7b;fill:#ff7b7b}.kiln-chart .c2{stroke:#6fd27a;fill:#6fd27a}.kiln-chart .c3{stroke:#c99bff;fill:#c99bff}}" +
  ".kiln-chart polyline.line{fill:none}.kiln-chart .legend{stroke:none}";

export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (lo === hi) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  // The 1-2-5 step whose tick count is closest to the one asked for.
  const step = [1, 2, 5, 10].map((m) => m * mag).reduce((best, s) => (Math.abs((hi - lo) / s - count) < Math.abs((hi - lo) / best - count) ? s : best));
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1]! < hi) out.push(Number((out[out.length - 1]! + step).toPrecision(12)));
  return out;
}

export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}B`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return "0";
  if (a < 1e-3) return v.toExponential(1);
  return String(+v.toPrecision(3));
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const isPoint = ([x, y]: readonly [number, number]) => Number.isFinite(x) && Number.isFinite(y);

export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 320;
  // The legend sits in its own row under the title, so it never covers the curves.
  const m = { left: 70, right: 20, top: 50, bottom: 52 };
  const raw = o.series.map((s) => s.points.filter(isPoint));
  const shown = raw.map((p) => downsample(p, Math.max(1, Math.floor((o.maxPoints ?? 1200) / 4))));
  const pts = shown.flat();
  const rules = (o.rules ?? []).filter((r) => Number.isFinite(r.y));
  const attrs = Object.entries(o.attrs ?? {})
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join("");
  // The first series is the measured curve; its point count is what a live page watches grow.
  const count = o.pointCount ?? raw[0]?.length ?? 0;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" class="kiln-chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img" aria-label="${esc(o.title)}" data-points="${count}"${attrs}>`;
  const desc = (() => {
    const lastOf = raw[0]?.at(-1);
    return lastOf ? `${o.yLabel}: last ${tickLabel(lastOf[1])} at ${o.xLabel} ${tickLabel(lastOf[0])}; ${count} points` : (o.emptyText ?? "no data");
  })();
  const title = `<title>${esc(o.title)}</title><desc>${esc(desc)}</desc><style>${STYLE}</style><rect class="bg" x="0" y="0" width="${W}" height="${H}"/><text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(o.title)}</text>`;
  if (pts.length === 0) return `${head}${title}<text class="muted" x="${W / 2}" y="${H / 2}" text-anchor="middle">${esc(o.emptyText ?? "no data")}</text></svg>`;
  const ys = [...pts.map((p) => p[1]), ...rules.map((r) => r.y)];
  const xt = niceTicks(Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0])));
  const yt = niceTicks(Math.min(...ys), Math.max(...ys));
  const [x0, x1, y0, y1] = [xt[0]!, xt[xt.length - 1]!, yt[0]!, yt[yt.length - 1]!];
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const f = (n: number) => n.toFixed(1);
  const parts = [head, title];
  for (const t of yt) {
    parts.push(`<line class="grid" x1="${m.left}" x2="${W - m.right}" y1="${f(sy(t))}" y2="${f(sy(t))}"/>`);
    parts.push(`<text x="${m.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`);
  }
  for (const t of xt) {
    parts.push(`<line class="axis" x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${m.top + ph}" y2="${m.top + ph + 5}"/>`);
    parts.push(`<text x="${f(sx(t))}" y="${m.top + ph + 18}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  parts.push(`<line class="axis" x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}"/>`);
  parts.push(`<line class="axis" x1="${m.left}" x2="${W - m.right}" y1="${m.top + ph}" y2="${m.top + ph}"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  for (const r of rules) {
    parts.push(`<line class="rule" x1="${m.left}" x2="${W - m.right}" y1="${f(sy(r.y))}" y2="${f(sy(r.y))}"/>`);
    parts.push(`<text class="rule-label" x="${W - m.right - 4}" y="${f(sy(r.y) - 4)}" text-anchor="end">${esc(r.label)}</text>`);
  }
  o.series.forEach((s, i) => {
    const cls = `c${i % 4}`;
    const ok = shown[i]!;
    if (s.markers) for (const [x, y] of ok) parts.push(`<circle class="${cls}" cx="${f(sx(x))}" cy="${f(sy(y))}" r="3.5"/>`);
    else if (ok.length > 0) parts.push(`<polyline class="${cls} line" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="6 4"' : ""} points="${ok.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(" ")}"/>`);
    const lx = m.left + i * 130;
    parts.push(`<rect class="${cls} legend" x="${lx}" y="32" width="14" height="3"/>`);
    parts.push(`<text x="${lx + 18}" y="37">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}
