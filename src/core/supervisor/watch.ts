/**
 * The supervisor's eyes: reads each step's metrics.jsonl incrementally into one {@link JobProgress},
 * runs the detectors and the budget rule, and reports each finding once. It decides nothing about
 * processes; the supervisor acts on what it returns.
 */
import { type Budget, evaluateBudget } from "../budget/index.js";
import { type DetectorOptions, type Finding, detectNonfinite, detectPlateau, detectStall } from "../monitor/detectors.js";
import { JobProgress } from "../monitor/progress.js";
import { MetricsReader } from "../monitor/reader.js";

export interface WatchResult {
  findings: Finding[];
  invalidLines: { file: string; lineNo: number; error: string }[];
  budgetCrossed: number[];
  stop?: { reason: string };
}

export class JobWatcher {
  readonly progress = new JobProgress();
  private readonly readers = new Map<string, MetricsReader>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly detectors: DetectorOptions,
    private readonly budget: Budget,
    private readonly alertedFractions: Set<number>,
  ) {}

  /** Start reading a metrics file (idempotent); a resumed job re-reads from the start. */
  follow(path: string): void {
    if (!this.readers.has(path)) this.readers.set(path, new MetricsReader(path));
  }

  /** `stepStartedMs`: when the running step began, for stall detection (undefined: nothing running). */
  tick(nowMs: number, spentUsd: number, elapsedHours: number, stepStartedMs: number | undefined): WatchResult {
    const out: WatchResult = { findings: [], invalidLines: [], budgetCrossed: [] };
    for (const [file, r] of this.readers) {
      const b = r.read();
      this.progress.apply(b.lines);
      for (const i of b.invalid) out.invalidLines.push({ file, ...i });
    }
    const candidates = [
      detectNonfinite(this.progress),
      detectPlateau(this.progress, this.detectors),
      stepStartedMs === undefined ? undefined : detectStall(this.progress, nowMs, stepStartedMs, this.detectors),
    ];
    for (const f of candidates) {
      if (!f) continue;
      // A stall can recur after recovery; nonfinite and plateau are reported once per job run.
      const key = f.kind === "stall" ? `stall:${this.progress.lineCount}` : f.kind;
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      out.findings.push(f);
    }
    const d = evaluateBudget(this.budget, spentUsd, elapsedHours, this.alertedFractions);
    for (const f of d.crossed) this.alertedFractions.add(f);
    out.budgetCrossed = d.crossed;
    if (d.stop) out.stop = d.stop;
    return out;
  }
}
