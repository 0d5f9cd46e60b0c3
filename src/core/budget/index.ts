/**
 * The budget rule, pure and provider-agnostic: given what was spent and for how long, which alert
 * fractions were newly crossed and whether the job must stop. The supervisor acts on the decision
 * (SIGTERM → checkpoint → stop); cloud lifecycles add termination on top.
 */
export interface Budget {
  maxUsd?: number | undefined;
  maxHours?: number | undefined;
  /** Fractions of maxUsd to alert at, e.g. [0.5, 0.8, 0.95]. */
  alertFractions: readonly number[];
}

export interface BudgetDecision {
  /** Fractions crossed now that were not alerted before (ascending). */
  crossed: number[];
  /** Set when the job must be checkpointed and stopped. */
  stop?: { reason: string };
}

export function evaluateBudget(b: Budget, spentUsd: number, elapsedHours: number, alreadyAlerted: ReadonlySet<number>): BudgetDecision {
  const crossed: number[] = [];
  if (b.maxUsd !== undefined && b.maxUsd > 0) {
    for (const f of [...b.alertFractions].sort((x, y) => x - y)) {
      if (!alreadyAlerted.has(f) && spentUsd >= f * b.maxUsd) crossed.push(f);
    }
  }
  if (b.maxUsd !== undefined && spentUsd >= b.maxUsd) {
    return { crossed, stop: { reason: `budget reached: spent $${spentUsd.toFixed(2)} of max_usd $${b.maxUsd.toFixed(2)}` } };
  }
  if (b.maxHours !== undefined && elapsedHours >= b.maxHours) {
    return { crossed, stop: { reason: `time limit reached: ran ${elapsedHours.toFixed(2)} h of max_hours ${b.maxHours}` } };
  }
  return { crossed };
}
