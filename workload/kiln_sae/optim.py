"""Adam with linear warm-up, a constant learning rate, and a linear decay to zero over the run's last steps.

eps = 6.25e-10 as OpenAI's sparse_autoencoder uses: normalised activations give tiny per-element gradients
for rarely firing latents, and the usual 1e-8 would dominate their second-moment estimate and stall them.
The schedule is a pure function of the step (and the run's total steps, fixed by the config), so resuming needs
only the step number and Adam's state.

The decay (``lr_decay_fraction``, default 0.2: the last 20 % of the steps) gained +0.002-0.003 held-out EV at
both MiniLM bench shapes and two seeds at the same dead fraction (a 50 % decay gained less), and is what put
Kiln's best at or above sae-lens's best at equal tokens: docs/learning-rate.md, round 4.

TopK SAEs step Adam on the gradient rescaled to unit global norm (``normalize_grad_``). Without it Adam's
step shrinks as the run goes: the FVU gradient's norm falls ~8x over a 1M-token run (0.08 at the start, 0.01
at the end at n 3072, k 32; bench/results/sae_quality_ablations.json, round2), and with beta2 = 0.999 the
second-moment estimate of a run of a few hundred to a few thousand steps is close to the mean of *all* its
squared gradients, so it stays dominated by the large early ones and every later step is several times
smaller than ``lr``. Normalising keeps each step at ~lr throughout. This is what sae-lens does in effect: its
loss (Σ squared error on raw activations, per token) has a gradient norm far above 1, so its
``clip_grad_norm_(1.0)`` binds on every step. Measured at n 3072, k 32, lr 4e-3, 1M tokens, seed 0:
held-out EV 0.8598 -> 0.8652 (sae-lens at that rate: 0.8654); at n 6144, k 64: 0.8879 -> 0.8974 (sae-lens
0.9004). Of the other differences only sae-lens's free decoder norms (init 0.1, latents rescaled by the norms)
moved EV as much, at n 6144 only (+0.009; -0.0004 at n 3072, with 4-6x the dead latents): not adopted (see
docs/learning-rate.md)."""
from __future__ import annotations

import torch

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 6.25e-10


def make_optimizer(params, lr: float, device: torch.device) -> torch.optim.Adam:
    # Fused Adam: one kernel per parameter on GPU and (torch >= 2.4) on CPU, instead of ~10 foreach passes
    # over every moment tensor; the update rule is the same.
    fused = device.type in ("cuda", "cpu")
    return torch.optim.Adam(params, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS, fused=fused or None)


@torch.no_grad()
def normalize_grad_(params) -> None:
    """Scale the gradients of ``params`` together so their global L2 norm is 1 (in place; one pass for the norm,
    one for the scale, as ``clip_grad_norm_`` does). Adam is invariant to the scale itself; what this changes
    is that every step's gradient has the same weight in Adam's moment estimates."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    torch._foreach_div_(grads, norm.clamp_min(1e-12))


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int = 0, decay_steps: int = 0) -> float:
    """Learning rate for optimiser step ``step`` (0-based): linear warm-up over the first ``warmup_steps``, then
    ``base_lr``, then over the last ``decay_steps`` of ``total_steps`` a linear ramp that reaches 0 at the end of
    the run: step ``total_steps - decay_steps`` takes the full rate, the last step ``base_lr / decay_steps``,
    and ``lr_at(total_steps, ...)`` is 0 (no step is spent at rate 0)."""
    lr = base_lr * (step + 1) / warmup_steps if warmup_steps > 0 and step < warmup_steps else base_lr
    if decay_steps > 0:
        start = total_steps - decay_steps
        if step >= start:
            lr *= max(0, total_steps - step) / decay_steps
    return lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
