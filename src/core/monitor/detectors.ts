/**
 * Pure detectors for the things a human watching the run would notice: a diverged loss, a run that
 * stopped reporting, and a loss that stopped improving. Each returns a finding or undefined; the
 * supervisor records findings as ledger events and alerts, once each.
 */
import { formatDuration } from "./format.js";
import type { JobProgress } from "./progress.js";

export interface Finding {
  kind: "nonfinite" | "stall" | "plateau";
  message: string;
  step?: number;
}

export interface DetectorOptions {
  /** No new metric line for this long (while the workload runs) is a stall. */
  stallMs: number;
  /** Compare the mean loss of the last `plateauWindow` train lines with the window before it. */
  plateauWindow: number;
  /** Relative improvement below this between the two windows is a plateau. */
  plateauMinImprovement: number;
}

export const DEFAULT_DETECTORS: DetectorOptions = { stallMs: 10 * 60_000, plateauWindow: 20, plateauMinImprovement: 0.001 };

export function detectNonfinite(p: JobProgress): Finding | undefined {
  const l = p.nonfinite();
  if (!l) return undefined;
  return { kind: "nonfinite", step: l.step ?? undefined, message: `loss is NaN/Inf at step ${l.step ?? "?"}: training diverged (lower the learning rate or resume from an earlier checkpoint)` };
}

/** `sinceMs` is when the workload was started (a run that never wrote a line can stall too). */
export function detectStall(p: JobProgress, nowMs: number, sinceMs: number, opts: Pick<DetectorOptions, "stallMs">): Finding | undefined {
  const last = Math.max(sinceMs, (p.lastTs ?? 0) * 1000);
  const quiet = nowMs - last;
  if (quiet < opts.stallMs) return undefined;
  return { kind: "stall", message: `no new metrics for ${formatDuration(quiet / 1000)} (threshold ${formatDuration(opts.stallMs / 1000)}): the workload may be hung` };
}

export function detectPlateau(p: JobProgress, opts: Pick<DetectorOptions, "plateauWindow" | "plateauMinImprovement">): Finding | undefined {
  const losses = p
    .train()
    .map((t) => t.loss)
    .filter((x): x is number => x !== null && Number.isFinite(x));
  const w = opts.plateauWindow;
  if (w < 2 || losses.length < 2 * w) return undefined;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const prev = mean(losses.slice(-2 * w, -w));
  const last = mean(losses.slice(-w));
  const improvement = prev === 0 ? 0 : (prev - last) / Math.abs(prev);
  if (improvement >= opts.plateauMinImprovement) return undefined;
  const step = p.latestTrain()?.step;
  return { kind: "plateau", step, message: `loss has plateaued: mean of the last ${w} logs improved ${(improvement * 100).toFixed(2)}% (< ${(opts.plateauMinImprovement * 100).toFixed(2)}%)` };
}
