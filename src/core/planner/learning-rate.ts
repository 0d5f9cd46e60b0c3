/**
 * `learning_rate: auto` as the workload will pick it, so `kiln plan` can say which rate a run gets and why.
 *
 * This mirrors kiln_sae/learning_rate.py line for line (the rule, its constants and its bounds); the rule's
 * evidence is docs/learning-rate.md. Both sides are checked against one table of cases,
 * docs/learning-rate.cases.json (test/learning-rate.test.ts here, workload/tests/test_learning_rate.py
 * there), so a change to one side that the other does not follow fails a test.
 *
 * @example
 * autoLearningRate({ dIn: 384, nLatents: 3072, k: 32, totalSteps: 244, batchSize: 4096 }).value // 0.00311
 */
import type { JobSpec } from "../spec/job-spec.js";
import { SAE_DEFAULTS } from "../spec/sae-config.js";
import type { Estimate } from "./estimate.js";

// Fitted on bench/results/lr_sweep.json (Adam on the unit-norm TopK gradient); the same numbers as kiln_sae/learning_rate.py.
/** The EV-optimal rate at the reference cell, and the share auto uses (0.7: 1-10 % dead latents instead of 2-29 %, for 0.0006-0.003 EV). */
export const EV_OPTIMAL_REF = 4.45e-3;
export const DEAD_LATENT_MARGIN = 0.7;
export const LR_REF = EV_OPTIMAL_REF * DEAD_LATENT_MARGIN;
export const S_REF = 244;
export const M_REF = (4096 * 32) / 3072;
export const D_REF = 384;
export const STEPS_EXP = 0.39;
export const DENSITY_EXP = 0.22;
export const WIDTH_EXP = 0.5;
export const LR_MAX = 1.6e-2;

export interface LearningRateChoice {
  value: number;
  reason: string;
}

/** Gao et al. (2024), Fig. 3: the long-run best Adam rate, 2e-4 at n = 2¹⁴, ∝ 1/√n (the rule's floor). */
export const gaoRate = (nLatents: number): number => 2e-4 / Math.sqrt(nLatents / 2 ** 14);

/** Python's `f"{x:.3g}"` (3 significant digits, exponent form below 1e-4 or from 1e3, trailing zeros dropped), so both sides print the same reason. */
export function g3(x: number): string {
  if (x === 0) return "0";
  const [, e = "0"] = x.toExponential(2).split("e");
  const exp = Number(e);
  const strip = (s: string) => (s.includes(".") ? s.replace(/\.?0+$/, "") : s);
  if (exp < -4 || exp >= 3) {
    const [m = ""] = x.toExponential(2).split("e");
    return `${strip(m)}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return strip(x.toFixed(Math.max(0, 2 - exp)));
}

/** The rate `learning_rate: auto` picks; `k` null for ReLU SAEs (outside the sweep: Gao et al.'s rule). */
export function autoLearningRate(p: { dIn: number; nLatents: number; k: number | null; totalSteps: number; batchSize: number }): LearningRateChoice {
  if (p.k === null) {
    const value = gaoRate(p.nLatents);
    return { value, reason: `auto: ${g3(value)} = 2e-4/sqrt(n/2^14) (Gao et al.; the calibrated rule covers topk only), n=${p.nLatents}` };
  }
  const steps = Math.max(1, p.totalSteps);
  // m = B·k/n: tokens each latent's gradient averages per step (docs/learning-rate.md, the scaling argument).
  const m = (p.batchSize * p.k) / p.nLatents;
  const fitted = LR_REF * (steps / S_REF) ** -STEPS_EXP * (m / M_REF) ** DENSITY_EXP * (p.dIn / D_REF) ** -WIDTH_EXP;
  const floor = gaoRate(p.nLatents);
  let value = fitted;
  let bound = "";
  if (fitted < floor) {
    value = floor;
    bound = `; raised to the long-run floor 2e-4/sqrt(n/2^14) = ${g3(floor)}`;
  } else if (fitted > LR_MAX) {
    value = LR_MAX;
    bound = `; capped at ${LR_MAX}`;
  }
  return {
    value,
    reason: `auto: ${g3(value)} for ${steps} steps of ${p.batchSize} tokens, n=${p.nLatents}, k=${p.k}, d=${p.dIn} (calibrated rule ${g3(fitted)}, docs/learning-rate.md${bound})`,
  };
}

/** The `kiln plan` line: the rate the SAE run will use and why (steps from the planner's token estimate). */
export function learningRateLine(spec: JobSpec, e: Estimate): string {
  if (spec.workload.type !== "sae-pii") return "";
  const sae = spec.workload.sae;
  if (sae.learning_rate !== undefined && sae.learning_rate !== "auto") return `Learning rate: ${sae.learning_rate} (set in workload.sae.learning_rate)`;
  const batch = sae.batch_size ?? SAE_DEFAULTS.batch_size;
  const topk = (sae.architecture ?? SAE_DEFAULTS.architecture) === "topk";
  const choice = autoLearningRate({ dIn: e.model.dModel, nLatents: e.nLatents, k: topk ? e.k : null, totalSteps: Math.ceil(e.tokens.total / batch), batchSize: batch });
  return `Learning rate: ${choice.reason}`;
}
