/**
 * A job's curves, followed incrementally from its metrics files (docs/metrics-protocol.md) through the
 * control plane's own reader (src/core/monitor: zod per line, partial last line left for later). Each
 * refresh parses only the bytes appended since the last one, so a live page or a Prometheus scrape costs
 * the new lines, not the whole file; a 100k-step run is parsed once.
 *
 * Values are kept per step in flat arrays (not one object per line): a resumed run repeats the steps
 * after its last checkpoint, and the latest value for a step replaces the earlier one in place, as
 * JobProgress does for the report.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { jobLayout, readRunFile } from "../core/job/index.js";
import { downsampleColumns } from "../core/report/index.js";
import type { MetricLine } from "../core/monitor/metrics.js";
import { MetricsReader } from "../core/monitor/reader.js";

/** The train-line fields the dashboard plots, by protocol name. `gpu_util` is not in protocol v1 yet: read when a workload writes it. */
export const CURVES = ["loss", "l0", "explained_variance", "dead_fraction", "tokens_per_s", "gpu_mem_gb", "gpu_util"] as const;
export type Curve = (typeof CURVES)[number];

type Line<K extends MetricLine["kind"]> = Extract<MetricLine, { kind: K }>;

export interface Latest {
  step: number;
  tokens: number;
  values: Record<Curve, number | null>;
  etaS: number | null;
  ts: number;
}

const finiteField = (l: Record<string, unknown>, k: string): number | null => {
  const v = l[k];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
};

export class JobMetrics {
  private readonly readers = new Map<string, MetricsReader>();
  private readonly indexByStep = new Map<number, number>();
  readonly tokens: number[] = [];
  readonly values: Record<Curve, (number | null)[]> = Object.fromEntries(CURVES.map((c) => [c, []])) as unknown as Record<Curve, (number | null)[]>;
  private readonly evalByStep = new Map<string, Line<"eval">>();
  readonly starts: Line<"start">[] = [];
  readonly errors: Line<"error">[] = [];
  readonly done: Line<"done">[] = [];
  // The newest train line, kept as an index (no object per line: a 100k-line file is parsed in one go).
  private latestStep: number | undefined;
  private latestIndex = 0;
  private latestEta: number | null = null;
  private latestTs = 0;
  private latestCache: Latest | undefined;
  invalidLines = 0;
  /** Lines seen so far: grows when anything new arrived. */
  lineCount = 0;

  /** `files` is asked at every refresh: a cloud job's driver pulls a step's folder only once the step has run. */
  constructor(private readonly files: () => readonly string[]) {}

  /** Read what was appended since the last call. Returns whether anything new arrived. */
  refresh(): boolean {
    const before = this.lineCount;
    for (const f of this.files()) if (!this.readers.has(f)) this.readers.set(f, new MetricsReader(f));
    for (const r of this.readers.values()) {
      const batch = r.read();
      this.invalidLines += batch.invalid.length;
      for (const l of batch.lines) this.apply(l);
    }
    return this.lineCount !== before;
  }

  private apply(l: MetricLine): void {
    this.lineCount++;
    switch (l.kind) {
      case "train": {
        const rec = l as unknown as Record<string, unknown>;
        let i = this.indexByStep.get(l.step);
        if (i === undefined) {
          i = this.tokens.length;
          this.indexByStep.set(l.step, i);
        }
        this.tokens[i] = l.tokens;
        for (const c of CURVES) this.values[c][i] = finiteField(rec, c);
        if (this.latestStep === undefined || l.step >= this.latestStep) {
          this.latestStep = l.step;
          this.latestIndex = i;
          this.latestEta = finiteField(rec, "eta_s");
          this.latestTs = l.ts;
          this.latestCache = undefined;
        }
        break;
      }
      case "eval":
        this.evalByStep.set(`${l.split}:${l.step}`, l);
        break;
      case "start":
        this.starts.push(l);
        break;
      case "error":
        this.errors.push(l);
        break;
      case "done":
        this.done.push(l);
        break;
      default:
        break;
    }
  }

  /** The newest train line's values. */
  get latest(): Latest | undefined {
    if (this.latestStep === undefined) return undefined;
    if (!this.latestCache) {
      const i = this.latestIndex;
      const values = Object.fromEntries(CURVES.map((c) => [c, this.values[c][i] ?? null])) as Record<Curve, number | null>;
      this.latestCache = { step: this.latestStep, tokens: this.tokens[i]!, values, etaS: this.latestEta, ts: this.latestTs };
    }
    return this.latestCache;
  }

  /** How many train lines carried a finite value of curve `c`. */
  count(c: Curve): number {
    let n = 0;
    for (const v of this.values[c]) if (v !== null && v !== undefined) n++;
    return n;
  }

  /** Up to 4 × `buckets` (tokens, value × scale) points of one curve for drawing (see downsampleColumns). */
  displayPoints(c: Curve, buckets: number, scale = 1): [number, number][] {
    return downsampleColumns(this.tokens, this.values[c], buckets, scale) as [number, number][];
  }

  /** (tokens, value × scale) points of one curve, in step order; a missing or non-finite value is left out. */
  points(c: Curve, scale = 1): [number, number][] {
    const out: [number, number][] = [];
    const v = this.values[c];
    for (let i = 0; i < this.tokens.length; i++) {
      const y = v[i];
      if (y !== null && y !== undefined) out.push([this.tokens[i]!, y * scale]);
    }
    return out;
  }

  evalPoints(c: "loss" | "l0" | "explained_variance" | "dead_fraction", split = "val"): [number, number][] {
    return [...this.evalByStep.values()]
      .filter((e) => e.split === split)
      .map((e) => [e.tokens, finiteField(e as unknown as Record<string, unknown>, c)] as const)
      .filter((p): p is readonly [number, number] => p[1] !== null)
      .map(([x, y]) => [x, y] as [number, number])
      .sort((a, b) => a[0] - b[0]);
  }

  /** Fraction of the train phase done, when the workload said its total. */
  fraction(): number | undefined {
    const s = this.starts.filter((x) => x.phase === "train").at(-1);
    if (!this.latest || !s) return undefined;
    if (s.total_tokens) return Math.min(1, this.latest.tokens / s.total_tokens);
    if (s.total_steps) return Math.min(1, this.latest.step / s.total_steps);
    return undefined;
  }
}

/** The steps' metrics files from run.json (a local job's steps are fixed when it is submitted); undefined without one. */
function runFileMetrics(jobsDir: string, jobId: string): string[] | undefined {
  const runFile = jobLayout(jobsDir, jobId).runFile;
  if (!existsSync(runFile)) return undefined;
  try {
    return readRunFile(runFile).steps.flatMap((s) => (s.metrics ? [s.metrics] : []));
  } catch {
    // A damaged run.json: the outputs folder holds the same files.
    return undefined;
  }
}

/** Every outputs/<step>/metrics.jsonl the driver pulled from a cloud or ssh machine, in name order. */
function pulledMetrics(jobDir: string): string[] {
  const outputs = join(jobDir, "outputs");
  if (!existsSync(outputs)) return [];
  const subs = readdirSync(outputs, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(outputs, d.name, "metrics.jsonl"))
    .sort();
  return [join(outputs, "metrics.jsonl"), ...subs];
}

/** Followers for recently viewed jobs, least recently used evicted first (each holds its curves in memory). */
export class MetricsCache {
  private readonly byJob = new Map<string, JobMetrics>();

  constructor(
    private readonly jobsDir: string,
    private readonly capacity = 64,
  ) {}

  /** The job's metrics, brought up to date. */
  get(jobId: string, jobDir: string): JobMetrics {
    let m = this.byJob.get(jobId);
    if (m) this.byJob.delete(jobId);
    else {
      const fixed = runFileMetrics(this.jobsDir, jobId);
      m = new JobMetrics(() => fixed ?? pulledMetrics(jobDir));
    }
    this.byJob.set(jobId, m);
    if (this.byJob.size > this.capacity) this.byJob.delete(this.byJob.keys().next().value!);
    m.refresh();
    return m;
  }
}
