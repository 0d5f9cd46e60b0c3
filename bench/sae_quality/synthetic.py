"""Planted sparse features: activations with a known sparse structure, for widths d no packaged model has.

A fixed dictionary of ``n_feats`` random unit directions (seeded once, shared by every split), ``active`` of
them on per token with uniform [0, 1) coefficients, plus 5 % Gaussian noise per element. An SAE that finds the
dictionary explains most of the variance, so a learning rate that stalls or overshoots shows up in EV. Used by
lr_sweep.py (the d-dependence of the rule) and bench/gpu_reference_job.py (the quality check at d=4096).
"""
from __future__ import annotations

import torch


def planted_features(tokens: int, d: int, seed: int, n_feats: int = 4096, active: int = 16,
                     device: str | torch.device = "cpu") -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(1234)  # the dictionary is shared by train and held-out
    feats = torch.nn.functional.normalize(torch.randn(n_feats, d, generator=g, device=device), dim=1)
    g.manual_seed(seed)
    out = torch.empty(tokens, d, device=device)
    for s in range(0, tokens, 8192):
        e = min(s + 8192, tokens)
        idx = torch.rand(e - s, n_feats, generator=g, device=device).topk(active, dim=1).indices
        codes = torch.zeros(e - s, n_feats, device=device).scatter_(1, idx, torch.rand(e - s, active, generator=g, device=device))
        out[s:e] = codes @ feats + 0.05 * torch.randn(e - s, d, generator=g, device=device)
    return out
