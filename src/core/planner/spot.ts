/**
 * Spot, priced honestly (docs/lifecycle.md §5): a spot machine is cheaper per hour but may be reclaimed;
 * each reclaim costs a new machine's boot and the work since the last saved checkpoint. Its expected
 * billed hours are
 *
 *   E[hours] = T + E[restarts] × (boot + lost),   E[restarts] = rate × T
 *
 * with T the run's hours, `rate` the reclaims per machine-hour for the GPU class, `boot` the boot,
 * setup and restore of a new machine, and `lost` half a checkpoint interval on average (Kiln pulls each
 * checkpoint as soon as it is written; a cloud that gives notice lets the engine write a final one, so
 * this is the no-notice case). `spot: prefer` takes spot only when this total beats on-demand.
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
  /** T + E[restarts] × (boot + lost). */
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

/**
 * The expected hours of a spot run of `runHours` on `gpu`, with a checkpoint every `checkpointHours`
 * (at most the run itself) and a new machine's boot of `bootHours`.
 */
export function spotArithmetic(gpu: string, runHours: number, checkpointHours: number, bootHours: number): SpotArithmetic {
  const rate = reclaimRateFor(gpu);
  const expectedRestarts = rate * runHours;
  const lostHoursPerRestart = Math.min(checkpointHours, runHours) / 2;
  return { rate, runHours, expectedRestarts, bootHours, lostHoursPerRestart, expectedHours: runHours + expectedRestarts * (bootHours + lostHoursPerRestart) };
}

export function spotArithmeticText(a: SpotArithmetic): string {
  const h = (x: number) => `${x.toFixed(2)} h`;
  return `E[restarts] = ${a.rate}/h (assumed) × ${h(a.runHours)} = ${a.expectedRestarts.toFixed(2)}; E[hours] = ${h(a.runHours)} + ${a.expectedRestarts.toFixed(2)} × (${h(a.bootHours)} boot + ${h(a.lostHoursPerRestart)} lost) = ${h(a.expectedHours)}`;
}
