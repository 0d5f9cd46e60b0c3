/**
 * Line charts as self-contained SVG, drawn by hand so the report needs no plotting library and no
 * network: axes with "nice" ticks (1-2-5 steps), tick labels, axis labels, a title and a legend.
 */
export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** Draw markers only (sparse series such as eval passes). */
  markers?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  width?: number;
  height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

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

export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 320;
  // The legend sits in its own row under the title, so it never covers the curves.
  const m = { left: 70, right: 20, top: 50, bottom: 52 };
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img" aria-label="${esc(o.title)}">`;
  const title = `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(o.title)}</text>`;
  if (pts.length === 0) return `${head}${title}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#777">no data</text></svg>`;
  const xt = niceTicks(Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0])));
  const yt = niceTicks(Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1])));
  const [x0, x1, y0, y1] = [xt[0]!, xt[xt.length - 1]!, yt[0]!, yt[yt.length - 1]!];
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const f = (n: number) => n.toFixed(1);
  const parts = [head, `<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`, title];
  for (const t of yt) {
    parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`);
  }
  for (const t of xt) {
    parts.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="#333"/>`);
    parts.push(`<text x="${f(sx(t))}" y="${m.top + ph + 18}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#333"/>`);
  parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#333"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (s.markers) for (const [x, y] of ok) parts.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3.5" fill="${color}"/>`);
    else if (ok.length > 0) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${ok.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(" ")}"/>`);
    const lx = m.left + i * 110;
    parts.push(`<rect x="${lx}" y="32" width="14" height="3" fill="${color}"/>`);
    parts.push(`<text x="${lx + 18}" y="37">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}
