"""The sparse autoencoder: TopK (default, sparse-aware) with AuxK, or ReLU + decoder-norm-weighted L1.

Weight layout follows SAELens so exports are a rename: ``W_enc [d_in, n]``, ``b_enc [n]``, ``W_dec [n, d_in]``,
``b_dec [d_in]``. Inputs are activations already multiplied by the run's ``act_scale``.

Losses (documented in workload/README.md):
- TopK: ``loss = fvu + aux_k_coefficient · aux``; fvu = Σ‖x−x̂‖² / Σ‖x−mean(x)‖² over the batch; aux = the same
  normalised error of reconstructing the residual x−x̂ from the top ``aux_k`` *dead* latents, scaled by
  min(n_dead/aux_k, 1) (Gao et al. 2024; sparsify).
- ReLU: ``loss = mean_tokens ‖x−x̂‖² + l1_coefficient · mean_tokens Σ_i f_i·‖W_dec,i‖`` (Anthropic, April 2024).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kiln_sae.sparse_ops import encode_at, sparse_decode, topk_autoencode, topk_encode


@torch.compiler.disable
def _count(mask: torch.Tensor) -> int:
    """A host sync by design (AuxK's branch depends on it); outside torch.compile's graph, so compiling the
    forward splits there quietly instead of warning about ``Tensor.item()`` on every step."""
    return int(mask.sum())


@dataclass
class SaeOutput:
    recon: torch.Tensor
    values: torch.Tensor | None  # [N, k] (topk)
    indices: torch.Tensor | None  # [N, k] (topk)
    pre_acts: torch.Tensor | None  # [N, n] without grad (topk, only when AuxK ran) / latents (relu)
    aux_loss: torch.Tensor
    loss: torch.Tensor
    mse: torch.Tensor  # mean squared error per element
    fvu: torch.Tensor  # fraction of variance unexplained (1 - explained variance)
    l0: torch.Tensor
    l1: torch.Tensor | None
    fired: torch.Tensor  # [n] bool: latents active on at least one token of the batch


class SparseAutoencoder(nn.Module):
    def __init__(self, d_in: int, n_latents: int, *, architecture: str = "topk", k: int | None = 32,
                 aux_k: int | None = None, aux_k_coefficient: float = 1 / 32, l1_coefficient: float = 5.0,
                 compute_dtype: torch.dtype | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if architecture not in ("topk", "relu"):
            raise ValueError(f"architecture must be 'topk' or 'relu', got {architecture!r}")
        self.d_in, self.n_latents, self.architecture = d_in, n_latents, architecture
        self.k = k if architecture == "topk" else None
        self.aux_k = aux_k if aux_k is not None else max(1, d_in // 2)
        self.aux_k_coefficient = aux_k_coefficient
        self.l1_coefficient = l1_coefficient
        self.compute_dtype = compute_dtype
        w = torch.randn(n_latents, d_in, generator=generator)
        # Tied init (W_enc = W_decᵀ). TopK: unit-norm rows; ReLU: norm 0.1 (Anthropic's April-update heuristic).
        w = w / w.norm(dim=1, keepdim=True) * (1.0 if architecture == "topk" else 0.1)
        self.W_dec = nn.Parameter(w.clone())
        self.W_enc = nn.Parameter(w.t().contiguous())
        self.b_enc = nn.Parameter(torch.zeros(n_latents))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    # ---- inference API (pinned; used by evaluation, export and the PII probe) ---------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is None:
            raise ValueError("encode() returns top-k (values, indices); a relu SAE has no k: use encode_dense()")
        values, indices, _ = topk_encode(x - self.b_dec, self.W_enc, self.b_enc, self.k, self.compute_dtype)
        return values.float(), indices

    def encode_dense(self, x: torch.Tensor) -> torch.Tensor:
        if self.k is None:
            return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)
        values, indices = self.encode(x)
        dense = torch.zeros(x.shape[0], self.n_latents, dtype=values.dtype, device=values.device)
        return dense.scatter(1, indices, values)

    def decode_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return sparse_decode(values, indices, self.W_dec, self.compute_dtype).float() + self.b_dec

    # ---- training ------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, dead_mask: torch.Tensor | None = None) -> SaeOutput:
        x = x.float()
        # Σ‖x − x̄‖² in one fused pass with no [N, d] temporaries: 6 ms at [4096, 384] on one CPU thread, against
        # 12 ms for sub, pow and sum (and for x.var(0), whose Welford reduction over tokens is not vectorised).
        total_var = F.mse_loss(x, x.mean(0).expand_as(x), reduction="sum").clamp_min(1e-12)
        if self.k is None:
            return self._forward_relu(x, total_var)
        n_dead = 0 if dead_mask is None or self.aux_k_coefficient == 0 else _count(dead_mask)
        # One fused Function: encoder matmul, top-k, sparse decode, and a backward over the k chosen latents.
        # The [N, n] pre-activations are kept only when AuxK needs them (some latent is dead).
        recon, values, indices, pre = topk_autoencode(x, self.W_enc, self.b_enc, self.W_dec, self.b_dec, self.k,
                                                      self.compute_dtype, keep_pre=n_dead > 0)
        # One fused kernel each way (mse_loss and its backward) instead of sub, pow, sum and two muls back.
        sq = F.mse_loss(recon, x, reduction="sum")
        fvu = sq / total_var
        if n_dead:
            aux = self._aux_loss(x, pre, recon, dead_mask, n_dead, total_var)
        else:
            aux, pre = torch.zeros((), device=x.device), None
        active = values > 0
        # index_add_ instead of boolean-mask indexing: no host sync on GPU.
        fired = torch.zeros(self.n_latents, device=x.device).index_add_(
            0, indices.reshape(-1), active.reshape(-1).float()) > 0
        return SaeOutput(recon=recon, values=values, indices=indices, pre_acts=pre, aux_loss=aux,
                         loss=fvu + self.aux_k_coefficient * aux, mse=sq / x.numel(), fvu=fvu,
                         l0=active.sum(-1).float().mean(), l1=None, fired=fired)

    def _aux_loss(self, x: torch.Tensor, pre: torch.Tensor, recon: torch.Tensor, dead_mask: torch.Tensor,
                  n_dead: int, total_var: torch.Tensor) -> torch.Tensor:
        k_aux = min(self.aux_k, n_dead)
        scale = min(n_dead / self.aux_k, 1.0)
        # Only here (some latent is dead) do we pay for the residual, x̃ and the masked [N, n] copy.
        residual = (x - recon).detach()
        xc = x - self.b_dec
        masked = pre.float().masked_fill(~dead_mask, float("-inf"))
        aux_idx = masked.topk(k_aux, dim=-1, sorted=False).indices.sort(dim=-1).values
        aux_vals = torch.relu(encode_at(xc, self.W_enc, self.b_enc, aux_idx, pre, self.compute_dtype))
        e_hat = sparse_decode(aux_vals, aux_idx, self.W_dec, self.compute_dtype).float()
        return scale * (e_hat - residual).pow(2).sum() / total_var

    def _forward_relu(self, x: torch.Tensor, total_var: torch.Tensor) -> SaeOutput:
        dt = self.compute_dtype or torch.float32
        f = torch.relu(((x - self.b_dec).to(dt) @ self.W_enc.to(dt) + self.b_enc.to(dt)).float())
        recon = (f.to(dt) @ self.W_dec.to(dt)).float() + self.b_dec
        err = recon - x
        sq = err.pow(2).sum()
        l1 = (f * self.W_dec.norm(dim=1)).sum(-1).mean()
        loss = sq / x.shape[0] + self.l1_coefficient * l1
        active = f > 0
        return SaeOutput(recon=recon, values=None, indices=None, pre_acts=f, aux_loss=torch.zeros((), device=x.device),
                         loss=loss, mse=sq / err.numel(), fvu=sq / total_var, l0=active.sum(-1).float().mean(),
                         l1=l1, fired=active.any(0))

    # ---- constraints and init ------------------------------------------------------------------------
    @property
    def unit_norm_decoder(self) -> bool:
        return self.architecture == "topk"

    @torch.no_grad()
    def set_decoder_norm_(self) -> None:
        if self.unit_norm_decoder:
            self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def remove_parallel_grad_(self) -> None:
        """Drop the component of ∂W_dec along each (unit) decoder row, so the step moves along the sphere."""
        if not self.unit_norm_decoder or self.W_dec.grad is None:
            return
        g = self.W_dec.grad
        g.sub_((g * self.W_dec).sum(dim=1, keepdim=True) * self.W_dec)

    @torch.no_grad()
    def init_b_dec_(self, sample: torch.Tensor, iters: int = 50) -> None:
        """Pre-bias = geometric median of a data sample (Weiszfeld's algorithm), as OpenAI and
        dictionary_learning do: robust to the heavy-tailed outlier tokens residual streams have."""
        pts = sample.float()
        guess = pts.mean(0)
        for _ in range(iters):
            w = 1.0 / (pts - guess).norm(dim=1).clamp_min(1e-8)
            new = (w[:, None] * pts).sum(0) / w.sum()
            if (new - guess).norm() < 1e-6 * (guess.norm() + 1e-12):
                guess = new
                break
            guess = new
        self.b_dec.copy_(guess)
