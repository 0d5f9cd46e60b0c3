"""SAE evaluation formulas, streamed over batches in float64. One definition each (workload/README.md):

- MSE = Σ_tokens ‖x − x̂‖² / (N·d): mean squared error per element, in the SAE's input space (activations
  × act_scale), the same quantity as the training ``mse``.
- FVU = Σ_tokens ‖x − x̂‖² / Σ_tokens ‖x − x̄‖², x̄ the per-dimension mean over the *same* eval tokens
  (sparsify's convention); explained variance EV = 1 − FVU. A constant bias in x̂ is penalised, unlike
  dictionary_learning's Var(x − x̂) form. Scale-invariant, so raw and normalised spaces agree.
- normalised MSE = Σ‖x − x̂‖² / Σ‖x‖² (OpenAI's README metric), for comparison only.
- L0 = mean over eval tokens of the number of latents with activation > 0; special and pad tokens are never
  in the eval set (the extractor drops them).
- dead fraction = share of latents with no activation > 0 on any of the ``window_tokens`` eval tokens;
  always reported together with that window, since it depends on it.
- CE loss recovered = (CE_zero − CE_sae) / (CE_zero − CE_clean); delta LM loss = CE_sae − CE_clean.
"""
from __future__ import annotations

import math

import torch


class ReconstructionStats:
    def __init__(self) -> None:
        self.n = 0
        self.sq_err = 0.0
        self.sq_norm = 0.0
        self.sum_x: torch.Tensor | None = None
        self.sum_x2: torch.Tensor | None = None
        self.d = 0

    def add(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        x, x_hat = x.double(), x_hat.double()
        if self.sum_x is None:
            self.d = x.shape[1]
            self.sum_x = torch.zeros(self.d, dtype=torch.float64, device=x.device)
            self.sum_x2 = torch.zeros(self.d, dtype=torch.float64, device=x.device)
        self.n += x.shape[0]
        self.sq_err += (x - x_hat).pow(2).sum().item()
        self.sq_norm += x.pow(2).sum().item()
        self.sum_x += x.sum(0)
        self.sum_x2 += x.pow(2).sum(0)  # type: ignore[operator]

    def total_variance(self) -> float:
        """Σ_tokens ‖x − x̄‖² = Σ_dims (Σx² − (Σx)²/N)."""
        if self.sum_x is None or self.sum_x2 is None:
            return math.nan
        return (self.sum_x2 - self.sum_x.pow(2) / self.n).sum().item()

    def mse(self) -> float:
        return self.sq_err / (self.n * self.d) if self.n else math.nan

    def fvu(self) -> float:
        var = self.total_variance()
        return self.sq_err / var if self.n and var > 0 else math.nan

    def explained_variance(self) -> float:
        return 1.0 - self.fvu()

    def normalized_mse(self) -> float:
        return self.sq_err / self.sq_norm if self.sq_norm > 0 else math.nan


class SparsityStats:
    def __init__(self, n_latents: int) -> None:
        self.n_latents = n_latents
        self.tokens = 0
        self.active_total = 0
        self.fire_counts = torch.zeros(n_latents, dtype=torch.long)

    def add_dense(self, latents: torch.Tensor) -> None:
        """``latents [N, n]``: activation values (> 0 counts as firing)."""
        active = latents > 0
        self.tokens += latents.shape[0]
        self.active_total += int(active.sum().item())
        self.fire_counts += active.sum(0).cpu()

    def add_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> None:
        """TopK ``values/indices [N, k]`` without densifying."""
        active = values > 0
        self.tokens += values.shape[0]
        self.active_total += int(active.sum().item())
        self.fire_counts.index_add_(0, indices[active].reshape(-1).cpu(), torch.ones(int(active.sum()),
                                                                                      dtype=torch.long))

    def l0(self) -> float:
        return self.active_total / self.tokens if self.tokens else math.nan

    def dead_fraction(self) -> float:
        return float((self.fire_counts == 0).float().mean().item())


def ce_loss_recovered(ce_clean: float, ce_sae: float, ce_zero: float) -> float:
    """(CE_zero − CE_sae) / (CE_zero − CE_clean): 1 = as good as the clean model, 0 = as bad as ablation."""
    denom = ce_zero - ce_clean
    return (ce_zero - ce_sae) / denom if denom != 0 else math.nan
