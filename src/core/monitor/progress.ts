/**
 * The job's progress as folded from its metric lines. Resumed runs repeat steps after the last
 * checkpoint; keeping the latest line per step (and per split for evals) makes the curves continuous.
 */
import type { MetricLine, ProbeEval, TrainMetrics } from "./metrics.js";

type LineOf<K extends MetricLine["kind"]> = Extract<MetricLine, { kind: K }>;

export class JobProgress {
  readonly starts: LineOf<"start">[] = [];
  private readonly trainByStep = new Map<number, TrainMetrics>();
  private readonly evalByKey = new Map<string, LineOf<"eval">>();
  private readonly probeByKey = new Map<string, ProbeEval>();
  readonly artifacts = new Map<string, LineOf<"artifact">>();
  readonly checkpoints: LineOf<"checkpoint_saved">[] = [];
  readonly done: LineOf<"done">[] = [];
  readonly errors: LineOf<"error">[] = [];
  earlyStop: LineOf<"early_stop"> | undefined;
  /** ts (Unix seconds) of the newest line of any kind. */
  lastTs: number | undefined;
  lineCount = 0;

  apply(lines: readonly MetricLine[]): void {
    for (const l of lines) {
      this.lineCount++;
      this.lastTs = Math.max(this.lastTs ?? 0, l.ts);
      switch (l.kind) {
        case "start":
          this.starts.push(l);
          break;
        case "train":
          this.trainByStep.set(l.step, l);
          break;
        case "eval":
          this.evalByKey.set(`${l.split}:${l.step}`, l);
          break;
        case "probe_eval":
          this.probeByKey.set(`${l.system}:${l.split}:${l.match ?? ""}`, l);
          break;
        case "artifact":
          this.artifacts.set(l.path, l);
          break;
        case "checkpoint_saved":
          this.checkpoints.push(l);
          break;
        case "done":
          this.done.push(l);
          break;
        case "error":
          this.errors.push(l);
          break;
        case "early_stop":
          this.earlyStop = l;
          break;
        default:
          break;
      }
    }
  }

  /** Train lines, one per step (the latest written), in step order. */
  train(): TrainMetrics[] {
    return [...this.trainByStep.values()].sort((a, b) => a.step - b.step);
  }

  evals(split?: string): LineOf<"eval">[] {
    return [...this.evalByKey.values()].filter((e) => split === undefined || e.split === split).sort((a, b) => (a.step ?? -1) - (b.step ?? -1));
  }

  probeEvals(): ProbeEval[] {
    return [...this.probeByKey.values()];
  }

  latestTrain(): TrainMetrics | undefined {
    const t = this.train();
    return t[t.length - 1];
  }

  /** The newest start line for `phase` (train by default): its totals drive the progress bar. */
  latestStart(phase = "train"): LineOf<"start"> | undefined {
    return this.starts.filter((s) => s.phase === phase).at(-1);
  }

  /** Fraction of the token (or step) budget done, when the workload said what the total is. */
  fraction(): number | undefined {
    const t = this.latestTrain();
    const s = this.latestStart();
    if (!t || !s) return undefined;
    if (s.total_tokens) return Math.min(1, t.tokens / s.total_tokens);
    if (s.total_steps) return Math.min(1, t.step / s.total_steps);
    return undefined;
  }

  lastCheckpoint(): LineOf<"checkpoint_saved"> | undefined {
    return this.checkpoints.at(-1);
  }

  /** First train/eval line whose loss is NaN/Inf (written as null plus `nonfinite`). */
  nonfinite(): TrainMetrics | LineOf<"eval"> | undefined {
    for (const l of [...this.train(), ...this.evals()]) {
      if (l.loss === null || (l.nonfinite ?? []).includes("loss")) return l;
    }
    return undefined;
  }
}
