"""``learning_rate: auto`` for TopK SAEs: a rule fitted to a learning-rate sweep, not the long-run 1/√n law alone.

Gao et al.'s rule, 2e-4/√(n/2¹⁴), was tuned at the end of runs of billions of tokens; Kiln's runs are often
10⁵-10⁸ tokens, where it was 4-26× below the EV-optimal rate (bench/results/lr_sweep.json). The rule, with its
evidence and the scaling argument behind its form, is in docs/learning-rate.md:

    lr = LR_REF · (S / S_REF)^-STEPS_EXP · (m / M_REF)^DENSITY_EXP · (d / D_REF)^-WIDTH_EXP,   m = B·k/n

with LR_REF 0.7 of the EV-optimal rate of the fit, because the last 30 % of the EV-optimal rate buys 0.0006-0.003
EV and kills 1.5-3.5x as many latents in runs too short for AuxK to revive them.
S = optimiser steps of the run, B = tokens per step, k/n = the share of tokens a latent fires on (so m is how
many tokens each latent's gradient averages per step), d = input width. Clamped below by Gao et al.'s
long-run rate (the sweep measured S up to ~10³; beyond it we never go under the published value) and above by
LR_MAX. The control plane mirrors this function (src/core/planner/learning-rate.ts) so ``kiln plan`` prints
the rate the run will use; both are tested against docs/learning-rate.cases.json.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# Fitted on bench/results/lr_sweep.json by bench/sae_quality/fit_rule.py (docs/learning-rate.md has the table), with
# Adam on the unit-norm TopK gradient (kiln_sae/optim.py). The first fit, on the raw FVU gradient, was 6.4e-3,
# steps^-0.36, m^0.31 (bench/results/lr_sweep-rawgrad.json).
# The rate that maximised held-out EV at the reference cell (d 384, n 3072, k 32, 244 steps of 4,096 tokens)...
EV_OPTIMAL_REF = 4.45e-3
# ...and the share of it that auto uses. At the EV-optimal rate 2-29 % of the latents ended dead on held-out
# tokens (AuxK only revives a latent after dead_tokens_threshold = 10M tokens, longer than such runs); at 0.7 of
# it 1-10 %, for 0.0006-0.003 less EV (at 0.5: 0-6 % dead, but 0.002-0.01 less EV). Less than half of sae-lens's
# defaults' dead fraction (22-24 %) and below sae-lens's at its best rate (11-16 %).
DEAD_LATENT_MARGIN = 0.7
LR_REF = EV_OPTIMAL_REF * DEAD_LATENT_MARGIN
S_REF = 244
M_REF = 4096 * 32 / 3072
D_REF = 384
STEPS_EXP = 0.39
DENSITY_EXP = 0.22
WIDTH_EXP = 0.5
LR_MAX = 1.6e-2  # the largest rate the sweeps tried: every cell that tried it lost EV there


def gao_rate(n_latents: int) -> float:
    """Gao et al. (2024), Fig. 3: the long-run best Adam rate, 2e-4 at n = 2¹⁴, ∝ 1/√n."""
    return 2e-4 / math.sqrt(n_latents / 2**14)


@dataclass(frozen=True)
class LearningRate:
    value: float
    reason: str


def auto_learning_rate(*, d_in: int, n_latents: int, k: int | None, total_steps: int,
                       batch_size: int) -> LearningRate:
    """The rate ``learning_rate: auto`` picks, and a one-line reason naming the inputs and the bound that won."""
    if k is None:  # ReLU SAEs were not part of the sweep: keep the published rule for them
        value = gao_rate(n_latents)
        return LearningRate(value, f"auto: {value:.3g} = 2e-4/sqrt(n/2^14) (Gao et al.; the calibrated rule covers "
                                   f"topk only), n={n_latents}")
    steps = max(1, total_steps)
    m = batch_size * k / n_latents
    fitted = (LR_REF * (steps / S_REF) ** -STEPS_EXP * (m / M_REF) ** DENSITY_EXP * (d_in / D_REF) ** -WIDTH_EXP)
    floor, value = gao_rate(n_latents), fitted
    bound = ""
    if fitted < floor:
        value, bound = floor, f"; raised to the long-run floor 2e-4/sqrt(n/2^14) = {floor:.3g}"
    elif fitted > LR_MAX:
        value, bound = LR_MAX, f"; capped at {LR_MAX:g}"
    return LearningRate(value, f"auto: {value:.3g} for {steps} steps of {batch_size} tokens, n={n_latents}, k={k}, "
                               f"d={d_in} (calibrated rule {fitted:.3g}, docs/learning-rate.md{bound})")


def parity_cases() -> list[dict]:
    """A grid of inputs across the range Kiln is used for, with the value and reason this module gives: the
    table docs/learning-rate.cases.json that both this module and the control plane's mirror
    (src/core/planner/learning-rate.ts) are tested against. Regenerate after changing the rule:
    ``.venv/bin/python -c "import json; from kiln_sae.learning_rate import parity_cases as c; print(json.dumps(c(), indent=1))" > docs/learning-rate.cases.json``"""
    cases = []
    for d_in, mult, k, steps, batch in [(384, 8, 32, 244, 4096), (384, 16, 64, 244, 4096), (384, 8, 32, 1, 4096),
                                        (384, 8, 32, 61, 1024), (768, 32, 32, 24_414, 4096),
                                        (2048, 16, 64, 2_441, 4096), (4096, 8, 64, 244_141, 4096),
                                        (4096, 32, 128, 24_414, 8192), (4096, 8, 16, 100, 4096),
                                        (64, 8, 8, 50, 256), (512, 8, None, 1000, 4096)]:
        n = d_in * mult
        lr = auto_learning_rate(d_in=d_in, n_latents=n, k=k, total_steps=steps, batch_size=batch)
        cases.append({"d_in": d_in, "n_latents": n, "k": k, "total_steps": steps, "batch_size": batch,
                      "value": lr.value, "reason": lr.reason})
    return cases
