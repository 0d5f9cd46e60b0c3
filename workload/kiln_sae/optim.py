"""Adam with linear warm-up and a constant learning rate afterwards.

eps = 6.25e-10 as OpenAI's sparse_autoencoder uses: normalised activations give tiny per-element gradients
for rarely firing latents, and the usual 1e-8 would dominate their second-moment estimate and stall them.
The schedule is a pure function of the step, so resuming needs only the step number and Adam's state."""
from __future__ import annotations

import torch

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 6.25e-10


def make_optimizer(params, lr: float, device: torch.device) -> torch.optim.Adam:
    # Fused Adam: one kernel per parameter on GPU and (torch >= 2.4) on CPU, instead of ~10 foreach passes
    # over every moment tensor; the update rule is the same.
    fused = device.type in ("cuda", "cpu")
    return torch.optim.Adam(params, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS, fused=fused or None)


def lr_at(step: int, base_lr: float, warmup_steps: int) -> float:
    """Learning rate for optimiser step ``step`` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    return base_lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
