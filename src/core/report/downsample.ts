/**
 * Fewer points for display, same picture: a curve of 100k steps drawn into 600 pixels needs at most a few
 * points per pixel column. Each of `buckets` equal-width x ranges keeps its first, lowest, highest and last
 * point (in x order), so spikes (a loss blow-up, a dead-latent jump) survive, unlike every-n-th sampling.
 * O(n), no allocation beyond the output.
 *
 * @example
 *   downsample(points, 300).length  // ≤ 1200, whatever points.length is
 */
export type Point = readonly [number, number];

export function downsample(points: readonly Point[], buckets: number): Point[] {
  if (points.length <= buckets * 4 || buckets < 1) return [...points];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const [x] of points) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const width = (hi - lo) / buckets || 1;
  const out: Point[] = [];
  let bucket = -1;
  // Indices into `points` of the bucket's first, lowest, highest and last point.
  let first = 0;
  let min = 0;
  let max = 0;
  let last = 0;
  const flush = () => {
    if (bucket < 0) return;
    // In their original order, so the polyline never zig-zags backwards.
    for (const i of [...new Set([first, min, max, last])].sort((a, b) => a - b)) out.push(points[i]!);
  };
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    const b = Math.min(buckets - 1, Math.floor((p[0] - lo) / width));
    if (b !== bucket) {
      flush();
      bucket = b;
      first = min = max = last = i;
      continue;
    }
    if (p[1] < points[min]![1]) min = i;
    if (p[1] > points[max]![1]) max = i;
    last = i;
  }
  flush();
  return out;
}

/**
 * The same selection over columns (x[i], y[i]), skipping points whose y is null: a long run kept as flat
 * arrays is downsampled without building a tuple per point first.
 */
export function downsampleColumns(xs: readonly number[], ys: readonly (number | null | undefined)[], buckets: number, scale = 1): Point[] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined || !Number.isFinite(y) || !Number.isFinite(xs[i]!)) continue;
    n++;
    if (xs[i]! < lo) lo = xs[i]!;
    if (xs[i]! > hi) hi = xs[i]!;
  }
  const keepAll = n <= buckets * 4 || buckets < 1;
  const width = (hi - lo) / buckets || 1;
  const out: Point[] = [];
  let bucket = -1;
  let first = 0;
  let min = 0;
  let max = 0;
  let last = 0;
  const flush = () => {
    if (bucket < 0) return;
    for (const i of [...new Set([first, min, max, last])].sort((a, b) => a - b)) out.push([xs[i]!, ys[i]! * scale]);
  };
  for (let i = 0; i < xs.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined || !Number.isFinite(y) || !Number.isFinite(xs[i]!)) continue;
    if (keepAll) {
      out.push([xs[i]!, y * scale]);
      continue;
    }
    const b = Math.min(buckets - 1, Math.floor((xs[i]! - lo) / width));
    if (b !== bucket) {
      flush();
      bucket = b;
      first = min = max = last = i;
      continue;
    }
    if (y < ys[min]!) min = i;
    if (y > ys[max]!) max = i;
    last = i;
  }
  if (!keepAll) flush();
  return out;
}
