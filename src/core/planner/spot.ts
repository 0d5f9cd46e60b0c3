/**
 * Spot, priced honestly (docs/lifecycle.md §5): a spot machine is cheaper per hour but may be reclaimed;
 * each reclaim costs a new machine's boot, the work since the last saved checkpoint, and — when the
 * activation cache lived on the reclaimed machine (RAM or its local disk) — extracting it again. Its
 * expected billed hours are
 *
 *   E[hours] = T + E[restarts] × (boot + lost + rebuild),   E[restarts] = rate × T
 *
 * with T the run's hours, `rate` the reclaims per machine-hour for the GPU class, `boot` the provider's
 * boot and setup of a new machine (./boot.ts), `lost` half a checkpoint interval on average (Kiln pulls
 * each checkpoint as soon as it is written; a cloud that gives notice lets the engine write a final one,
 * so this is the no-notice case) and `rebuild` the extraction hours times the chance that the reclaim
 * lands after the extraction finished (uniform over the run: SAE hours / T). A streamed run has no cache
 * to rebuild. `spot: prefer` takes spot only when this total beats on-demand.
 *
 * The rates are ASSUMPTIONS, not measurements: no provider publishes per-GPU reclaim rates as numbers.
 * AWS's Spot Instance Advisor puts most GPU families in its highest interruption bucket (over 20% of
 * instances interrupted in a month); marketplace "interruptible" GPUs (RunPod community, Vast) are
 * reclaimed whenever a higher bid or an on-demand renter arrives. We take a deliberately pessimistic
 * rate so that spot wins only when it is clearly cheaper; `kiln plan` prints the arithmetic.
 */
export interface SpotArithmetic {
  /** Assumed reclaims per machine-hour. */
  rate: number;
  runHours: number;
  expectedRestarts: number;
  bootHours: number;
  lostHoursPerRestart: number;
  /** Expected hours of re-extracting the activation cache per restart (0 when it streams). */
  rebuildHoursPerRestart: number;
  /** T + E[restarts] × (boot + lost + rebuild). */
  expectedHours: number;
}

/** Reclaims per machine-hour by GPU class: the most demanded GPUs are reclaimed most. */
const RECLAIM_RATE_PER_HOUR: readonly [RegExp, number][] = [
  [/^(H100|H200|B200|GH200)/i, 0.1],
  [/^A100/i, 0.1],
  [/^(L40S|L40|A6000|RTX 6000|A40)/i, 0.05],
  [/^(A10|L4|T4|RTX|V100)/i, 0.03],
];
const DEFAULT_RATE = 0.1;

export const reclaimRateFor = (gpu: string): number => RECLAIM_RATE_PER_HOUR.find(([re]) => re.test(gpu))?.[1] ?? DEFAULT_RATE;

/** The part of a run a restart may have to redo besides the lost checkpoint interval. */
export interface RunSplit {
  extractionHours: number;
  saeHours: number;
  /** Whether the activation cache lives on the machine (memory or its disk) rather than streaming. */
  cached: boolean;
}

/**
 * The expected hours of a spot run of `runHours` on `gpu`, with a checkpoint every `checkpointHours`
 * (at most the run itself), a new machine's boot of `bootHours`, and the run's split when known.
 */
export function spotArithmetic(gpu: string, runHours: number, checkpointHours: number, bootHours: number, split?: RunSplit): SpotArithmetic {
  const rate = reclaimRateFor(gpu);
  const expectedRestarts = rate * runHours;
  const lostHoursPerRestart = Math.min(checkpointHours, runHours) / 2;
  const rebuildHoursPerRestart = split?.cached && runHours > 0 ? split.extractionHours * (split.saeHours / runHours) : 0;
  return {
    rate,
    runHours,
    expectedRestarts,
    bootHours,
    lostHoursPerRestart,
    rebuildHoursPerRestart,
    expectedHours: runHours + expectedRestarts * (bootHours + lostHoursPerRestart + rebuildHoursPerRestart),
  };
}

export function spotArithmeticText(a: SpotArithmetic): string {
  const h = (x: number) => `${x.toFixed(2)} h`;
  const rebuild = a.rebuildHoursPerRestart > 0 ? ` + ${h(a.rebuildHoursPerRestart)} cache rebuild` : "";
  return `E[restarts] = ${a.rate}/h (assumed) × ${h(a.runHours)} = ${a.expectedRestarts.toFixed(2)}; E[hours] = ${h(a.runHours)} + ${a.expectedRestarts.toFixed(2)} × (${h(a.bootHours)} boot + ${h(a.lostHoursPerRestart)} lost${rebuild}) = ${h(a.expectedHours)}`;
}
