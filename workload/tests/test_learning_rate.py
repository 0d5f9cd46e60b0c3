"""``learning_rate: auto`` (kiln_sae.learning_rate): the same rule as the control plane's mirror, and a rate
that actually trains well at more than one shape and budget.

The training test plants a sparse dictionary in synthetic activations and trains Kiln's real Trainer with
``auto`` at two shapes × two budgets; each must reach an explained-variance floor. The floors are set between
what ``auto`` reaches and what a rate 10× too low reaches, and the test runs that rate too and checks it misses,
so the floor really separates a good rate from a mis-scaled one (FLOORS lists the measured values, including
the old default 2e-4/√(n/2¹⁴), 3-5× below ``auto`` here, and a rate 10× too high). Seeded and
single-threaded, so deterministic on one machine; the floors leave 0.014-0.04 of margin for other CPUs' rounding.
No wall-clock thresholds: ~25 s on one shared core.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import torch

from kiln_sae.batches import TensorSource
from kiln_sae.config import load_config
from kiln_sae.distributed import DistContext
from kiln_sae.learning_rate import auto_learning_rate, gao_rate, parity_cases
from kiln_sae.loop import validation_pass
from kiln_sae.trainer import Trainer

CASES = Path(__file__).resolve().parents[2] / "docs" / "learning-rate.cases.json"


def test_the_shared_table_is_what_this_module_computes():
    """docs/learning-rate.cases.json is the table the control plane's mirror is tested against too."""
    assert json.loads(CASES.read_text()) == parity_cases()


def test_auto_falls_with_steps_and_never_below_the_long_run_rate():
    short, long_, huge = (auto_learning_rate(d_in=384, n_latents=3072, k=32, total_steps=s, batch_size=4096).value
                          for s in (100, 10_000, 10**7))
    assert short > long_ > huge
    assert huge == pytest.approx(gao_rate(3072))  # beyond the sweep: the published long-run rate is the floor
    assert "floor" in auto_learning_rate(d_in=384, n_latents=3072, k=32, total_steps=10**7, batch_size=4096).reason


# (d, n, k, steps at batch 256) -> held-out EV floor. Measured on the shared 2-core dev box, 1 thread, with the rule
# of kiln_sae/learning_rate.py refitted for the unit-norm gradient (LR_REF 3.1e-3 = 0.7 of the EV-optimal 4.45e-3,
# steps^-0.39, m^0.22, d^-0.5); the floors are unchanged from the first fit, which they still separate:
#   shape               auto (rate): EV     auto/10    old rule 2e-4/sqrt(n/2^14)    auto x10
#   d64  n512  k8  100   0.00642: 0.531     0.447      0.00113:  0.481                0.353
#   d64  n512  k8  400   0.00374: 0.625     0.496      0.00113:  0.543                0.490
#   d128 n2048 k16 100   0.0039:  0.487     0.325      0.000566: 0.385                0.311
#   d128 n2048 k16 400   0.00227: 0.535     0.464      0.000566: 0.517                0.390
# Each floor sits between auto and every mis-scaled rate listed; a change to the rule that moves auto ~10x off
# in either direction fails here.
FLOORS = {
    (64, 512, 8, 100): 0.495,
    (64, 512, 8, 400): 0.56,
    (128, 2048, 16, 100): 0.45,
    (128, 2048, 16, 400): 0.518,
}
BATCH = 256


def _planted(tokens: int, d: int, seed: int, n_feats: int, active: int) -> torch.Tensor:
    """``active`` of ``n_feats`` fixed random unit directions per token, uniform [0, 1) weights, 2 % noise."""
    g = torch.Generator().manual_seed(1234)
    feats = torch.nn.functional.normalize(torch.randn(n_feats, d, generator=g), dim=1)
    g.manual_seed(seed)
    idx = torch.rand(tokens, n_feats, generator=g).topk(active, dim=1).indices
    codes = torch.zeros(tokens, n_feats).scatter_(1, idx, torch.rand(tokens, active, generator=g))
    return codes @ feats + 0.02 * torch.randn(tokens, d, generator=g)


@pytest.fixture(scope="module")
def planted_data():
    # The dictionary is half as wide as the d=64 SAE and as wide as the d=128 one, 8 / 16 features per token.
    return {64: (_planted(120_000, 64, 1, 512, 8), _planted(8192, 64, 2, 512, 8)),
            128: (_planted(120_000, 128, 1, 1024, 16), _planted(8192, 128, 2, 1024, 16))}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic sums, and the floors were measured this way
    yield
    torch.set_num_threads(before)


def _heldout_ev(data, d: int, n: int, k: int, steps: int, learning_rate) -> tuple[float, float]:
    train, val = data[d]
    with tempfile.TemporaryDirectory() as out:
        cfg = load_config({"base_model": "planted", "layer": 0, "output_dir": out, "latents": n, "k": k,
                           "tokens": steps * BATCH, "batch_size": BATCH, "learning_rate": learning_rate,
                           "device": "cpu", "save_every": None, "log_every": 10**9, "resume_from": "none"})
        trainer = Trainer(cfg, TensorSource(train))
        trainer.run()
        ev = validation_pass(trainer.sae, TensorSource(val), act_scale=trainer.state.act_scale, batch_size=4096,
                             device=torch.device("cpu"), ctx=DistContext())
    return ev["explained_variance"], trainer.base_lr


@pytest.mark.parametrize("shape", list(FLOORS), ids=lambda s: f"d{s[0]}-n{s[1]}-k{s[2]}-{s[3]}steps")
def test_auto_reaches_the_floor_and_a_rate_10x_lower_does_not(planted_data, one_thread, shape):
    d, n, k, steps = shape
    ev_auto, lr = _heldout_ev(planted_data, d, n, k, steps, "auto")
    assert ev_auto >= FLOORS[shape], (shape, lr, ev_auto)
    ev_low, _ = _heldout_ev(planted_data, d, n, k, steps, lr / 10)
    assert ev_low < FLOORS[shape], ("the floor does not separate a 10x-low rate", shape, lr, ev_low)


def test_the_start_line_says_which_rate_and_why(tmp_path, planted_data, one_thread):
    """The run's first metrics line names the rate ``auto`` chose and the inputs it came from."""
    from kiln_sae.metrics import MetricsWriter

    train, _ = planted_data[64]
    cfg = load_config({"base_model": "planted", "layer": 0, "output_dir": str(tmp_path), "latents": 512, "k": 8,
                       "tokens": 4 * BATCH, "batch_size": BATCH, "device": "cpu", "save_every": None,
                       "resume_from": "none"})
    metrics = MetricsWriter(tmp_path / "metrics.jsonl", echo=False)
    Trainer(cfg, TensorSource(train), metrics=metrics).run()
    metrics.close()
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    expected = auto_learning_rate(d_in=64, n_latents=512, k=8, total_steps=4, batch_size=BATCH)
    assert first["kind"] == "start"
    assert first["learning_rate"] == pytest.approx(expected.value)
    assert first["learning_rate_reason"] == expected.reason
    assert "4 steps of 256 tokens, n=512, k=8, d=64" in first["learning_rate_reason"]
