"""One evaluation for every SAE, whichever library trained it: the same held-out tokens, the same formulas.

Each library hands in ``encode_decode(raw [N, d]) -> (recon_raw [N, d], active [N, n] bool | (values, indices))``
working on *raw* activations (its own input scaling applied and undone inside), so nobody's scaling
convention leaks into the score. Formulas (float64, over all held-out tokens):

- FVU = Σ‖x − x̂‖² / Σ‖x − x̄‖² (x̄ the per-dimension mean of the held-out set); EV = 1 − FVU.
- normalised MSE = Σ‖x − x̂‖² / Σ‖x‖².
- L0 = mean number of non-zero latents per token.
- dead fraction = share of latents that are non-zero on no held-out token (window = the held-out set).
FVU is scale-invariant, so raw-space and scaled-space EV agree; we score in raw space to be explicit.
"""
from __future__ import annotations

from typing import Callable

import torch

EncodeDecode = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def score(encode_decode: EncodeDecode, heldout: torch.Tensor, n_latents: int, batch: int = 8192,
          device: str | torch.device = "cpu") -> dict:
    sq_err = sq_x = 0.0
    sum_x = torch.zeros(heldout.shape[1], dtype=torch.float64)
    l0_sum = 0.0
    fired = torch.zeros(n_latents, dtype=torch.bool)
    for s in range(0, heldout.shape[0], batch):
        x = heldout[s:s + batch].to(device).float()
        recon, active = encode_decode(x)
        recon, active, x = recon.float().cpu(), active.cpu(), x.cpu()
        sq_err += float((recon.double() - x.double()).pow(2).sum())
        sq_x += float(x.double().pow(2).sum())
        sum_x += x.double().sum(0)
        l0_sum += float(active.sum())
        fired |= active.any(0)
    n = heldout.shape[0]
    total_var = sq_x - float(sum_x.pow(2).sum()) / n
    fvu = sq_err / total_var
    return {"explained_variance": 1.0 - fvu, "fvu": fvu, "normalized_mse": sq_err / sq_x, "l0": l0_sum / n,
            "dead_fraction": 1.0 - float(fired.float().mean()), "heldout_tokens": n}
