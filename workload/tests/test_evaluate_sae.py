"""Evaluation: formulas against hand-computed values; CE-loss recovered wired into a real (tiny) Llama."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM

from kiln_sae.activations import ActivationExtractor
from kiln_sae.evaluate import evaluate_causal, evaluate_sae
from kiln_sae.metrics_math import ReconstructionStats, SparsityStats, ce_loss_recovered
from kiln_sae.models import load_full_causal_model
from kiln_sae.sae import SparseAutoencoder

TEXTS = ["The capital of France is Paris.", "Hello, my name is Alice and I live at 221 Baker Street.",
         "Sparse autoencoders find features in the residual stream."]


def test_reconstruction_formulas_match_hand_computation() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x_hat = torch.tensor([[1.0, 1.0], [3.0, 3.0]])
    s = ReconstructionStats()
    s.add(x[:1], x_hat[:1])  # streamed in two batches: same as one
    s.add(x[1:], x_hat[1:])
    # Σ‖x−x̂‖² = 2; x̄ = (2, 3); Σ‖x−x̄‖² = (1+1) + (1+1) = 4; Σ‖x‖² = 30; N·d = 4
    assert s.mse() == pytest.approx(0.5)
    assert s.fvu() == pytest.approx(0.5) and s.explained_variance() == pytest.approx(0.5)
    assert s.normalized_mse() == pytest.approx(2 / 30)
    # A constant offset is penalised (unlike Var(x − x̂)): x̂ = x + 1 leaves FVU = 4/4 = 1.
    b = ReconstructionStats()
    b.add(x, x + 1)
    assert b.fvu() == pytest.approx(1.0)


def test_sparsity_formulas_match_hand_computation() -> None:
    sparse = SparsityStats(4)
    sparse.add_sparse(torch.tensor([[1.0, 0.0], [2.0, 3.0]]), torch.tensor([[0, 1], [0, 2]]))
    assert sparse.l0() == pytest.approx(1.5)  # 1 then 2 active latents (a zero value is not firing)
    assert sparse.dead_fraction() == pytest.approx(0.5)  # latents 1 and 3 never fired
    dense = SparsityStats(4)
    dense.add_dense(torch.tensor([[1.0, 0.0, 0.0, 0.0], [2.0, 0.0, 3.0, 0.0]]))
    assert (dense.l0(), dense.dead_fraction()) == (sparse.l0(), sparse.dead_fraction())


def test_ce_loss_recovered_formula() -> None:
    assert ce_loss_recovered(ce_clean=2.0, ce_sae=2.5, ce_zero=4.0) == pytest.approx(0.75)
    assert math.isnan(ce_loss_recovered(2.0, 2.0, 2.0))


class FixedSae(nn.Module):
    """Test double for the pinned SAE interface: reconstructs x exactly (identity) or as zeros."""

    def __init__(self, d: int, mode: str) -> None:
        super().__init__()
        self.n_latents, self.mode = d, mode
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        recon = x.clone() if self.mode == "identity" else torch.zeros_like(x)
        values, indices = x.abs()[:, :2], torch.zeros(x.shape[0], 2, dtype=torch.long)
        return SimpleNamespace(recon=recon, values=values, indices=indices, pre_acts=None,
                               loss=(recon - x).pow(2).mean())


@pytest.fixture(scope="module")
def full_llama(tiny_llama_path: str) -> ActivationExtractor:
    return ActivationExtractor(load_full_causal_model(tiny_llama_path, 1, "cpu", "fp32"), context_size=32)


# float32 round-off. An identity SAE at act_scale s splices fl(fl(x·s)/s) into block L: each element is within
# 2u of x (u = 2^-24, the unit round-off) and exactly x when s is a power of two. The remaining blocks turn that
# into a relative change of the mean CE of a few u; we allow REL_CE = 16u (≈ 9.5e-7, the rel=1e-6 below).
# CE-recovered divides the CE difference by (ce_zero - ce_clean), which is tiny for a random tiny model (0.006
# here), so its error bound is REL_CE·ce_clean / (ce_zero - ce_clean): about 1e-3 here, and 0.99989 was
# observed with transformers 5.25 (a 1e-5 tolerance assumed a denominator 100x larger).
UNIT_ROUNDOFF = 2.0**-24
REL_CE = 16 * UNIT_ROUNDOFF


def recovered_bound(result: dict) -> float:
    return REL_CE * result["ce_clean"] / (result["ce_zero"] - result["ce_clean"])


def test_ce_recovered_is_one_for_perfect_and_zero_for_ablating_reconstruction(full_llama) -> None:
    perfect = evaluate_causal(FixedSae(64, "identity"), 1.7, full_llama, TEXTS, batch_tokens=256)
    assert perfect["ce_sae"] == pytest.approx(perfect["ce_clean"], rel=REL_CE)
    assert perfect["ce_zero"] > perfect["ce_clean"] + 1e-3  # the splice really reaches the logits
    assert abs(perfect["ce_loss_recovered"] - 1.0) <= recovered_bound(perfect) < 0.01
    assert perfect["explained_variance"] == pytest.approx(1.0) and perfect["mse"] == pytest.approx(0.0)
    ablated = evaluate_causal(FixedSae(64, "zero"), 1.0, full_llama, TEXTS, batch_tokens=256)
    assert ablated["ce_loss_recovered"] == pytest.approx(0.0, abs=1e-5)
    assert ablated["ce_clean"] == pytest.approx(perfect["ce_clean"])
    assert perfect["tokens"] == full_llama.count_tokens(TEXTS) == perfect["dead_window_tokens"]


def test_ce_recovered_is_exactly_one_when_the_scale_round_trips_exactly(full_llama) -> None:
    """With a power-of-two act_scale, x·s/s == x bit for bit: any deviation is a splice bug, not round-off."""
    perfect = evaluate_causal(FixedSae(64, "identity"), 2.0, full_llama, TEXTS, batch_tokens=256)
    assert perfect["ce_sae"] == perfect["ce_clean"]
    assert perfect["ce_loss_recovered"] == 1.0


def test_ce_recovered_moves_when_the_reconstruction_is_off_by_a_scale(full_llama) -> None:
    """A reconstruction that forgot to undo act_scale (returns x·s) must not pass for perfect."""

    class Unscaled(FixedSae):
        def forward(self, x: torch.Tensor) -> SimpleNamespace:
            out = super().forward(x)
            out.recon = x * 1.7  # in the SAE's space this is x·s²; back in raw space x·s
            return out

    wrong = evaluate_causal(Unscaled(64, "identity"), 1.7, full_llama, TEXTS, batch_tokens=256)
    assert abs(wrong["ce_loss_recovered"] - 1.0) > 10 * recovered_bound(wrong)


def test_clean_ce_matches_the_models_own_loss(tiny_llama_path: str, full_llama) -> None:
    text = TEXTS[1]
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_path, dtype=torch.float32).eval()
    enc = full_llama.tok(text, return_tensors="pt")
    with torch.inference_mode():
        want = model(**enc, labels=enc["input_ids"]).loss.item()
    one_window = ActivationExtractor(full_llama.loaded, context_size=128)
    got = evaluate_causal(FixedSae(64, "identity"), 1.0, one_window, [text], batch_tokens=256)["ce_clean"]
    assert got == pytest.approx(want, rel=1e-5)


def test_evaluate_sae_on_minilm_reports_reconstruction_without_ce(minilm_path: str) -> None:
    torch.manual_seed(0)
    sae = SparseAutoencoder(384, 768, architecture="topk", k=8).eval()
    meta = {"base_model": minilm_path, "layer": 2, "context_size": 64, "act_scale": 0.5}
    result = evaluate_sae(sae, meta, TEXTS, batch_tokens=512)
    assert result["ce_loss_recovered"] is None and result["tokens"] > 20
    assert 0 < result["l0"] <= 8 and 0.0 <= result["dead_fraction"] < 1.0
    assert math.isfinite(result["explained_variance"]) and result["mse"] > 0


def test_relu_sae_counts_l0_from_dense_latents(minilm_path: str) -> None:
    from kiln_sae.evaluate import evaluate_reconstruction

    torch.manual_seed(0)
    sae = SparseAutoencoder(384, 512, architecture="relu").eval()
    with torch.no_grad():
        sae.b_enc.fill_(-0.05)  # some latents off, so L0 is strictly between 0 and n
    acts = torch.randn(40, 384)
    result = evaluate_reconstruction(sae, 1.0, [acts[:25], acts[25:]])
    with torch.no_grad():
        dense = sae.encode_dense(acts)
    assert result["tokens"] == 40
    assert result["l0"] == pytest.approx((dense > 0).sum(-1).float().mean().item())
    assert result["dead_fraction"] == pytest.approx(((dense > 0).sum(0) == 0).float().mean().item())
