"""The learning-rate schedule: linear warm-up, flat, then a linear decay to 0 over the last ``lr_decay_fraction``
of the steps (docs/learning-rate.md, round 4) — its values, its config field, and that a run resumed from a
checkpoint continues the same schedule (it is a pure function of the step and the run's total steps)."""
from __future__ import annotations

import pytest
import torch

from kiln_sae import trainer as trainer_mod
from kiln_sae.batches import TensorSource
from kiln_sae.config import load_config
from kiln_sae.errors import ConfigError
from kiln_sae.optim import lr_at

BASE = {"base_model": "m", "layer": 0, "latents": 32, "k": 4, "epochs": 1, "batch_size": 32}


def test_warm_up_then_flat_then_linear_decay_to_zero_at_the_end():
    base, total, warmup, decay = 4e-3, 100, 5, 20
    lrs = [lr_at(s, base, warmup, total, decay) for s in range(total + 1)]
    assert lrs[:warmup] == pytest.approx([base * (s + 1) / warmup for s in range(warmup)])  # warm-up
    assert lrs[warmup:total - decay + 1] == [base] * (total - decay - warmup + 1)  # flat, decay's first step too
    assert lrs[total - decay:total] == pytest.approx([base * (total - s) / decay for s in range(total - decay, total)])
    assert lrs[total - 1] == pytest.approx(base / decay)  # the last step still moves
    assert lrs[total] == 0.0  # ... and the ramp reaches 0 at the end of the run
    assert all(a > b for a, b in zip(lrs[total - decay:], lrs[total - decay + 1:]))
    # 0 decay steps: constant to the end, as before the field existed
    assert [lr_at(s, base, warmup, total, 0) for s in range(warmup, total)] == [base] * (total - warmup)


def test_the_config_field_default_range_and_decay_steps():
    cfg = load_config({**BASE, "output_dir": "o"})
    assert cfg.lr_decay_fraction == 0.2
    assert cfg.decay_steps_for(245) == 49  # the bench's 1M tokens at batch 4,096: the last 49 of 245 steps
    assert load_config({**BASE, "output_dir": "o", "lr_decay_fraction": 0}).decay_steps_for(245) == 0
    assert load_config({**BASE, "output_dir": "o", "lr_decay_fraction": 1}).decay_steps_for(245) == 245
    for bad in (-0.1, 1.5, "x"):
        with pytest.raises(ConfigError) as err:
            load_config({**BASE, "output_dir": "o", "lr_decay_fraction": bad})
        assert "lr_decay_fraction" in str(err.value)
    # the schedule changes the trained weights, so it is part of the resume hash
    assert (load_config({**BASE, "output_dir": "o"}).config_hash()
            != load_config({**BASE, "output_dir": "o", "lr_decay_fraction": 0}).config_hash())


def _record_lrs(monkeypatch) -> list[float]:
    seen: list[float] = []
    real = trainer_mod.train_step

    def spy(*a, **kw):
        seen.append(kw["lr"])
        return real(*a, **kw)

    monkeypatch.setattr(trainer_mod, "train_step", spy)
    return seen


def test_the_trainer_follows_it_and_a_resumed_run_continues_it(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    src = TensorSource(torch.randn(1280, 8, generator=torch.Generator().manual_seed(0)))  # 40 steps of 32
    cfg = {**BASE, "warmup_steps": 2, "learning_rate": 0.004, "save_every": None, "log_every": 1}

    seen = _record_lrs(monkeypatch)
    whole = trainer_mod.Trainer(load_config({**cfg, "output_dir": str(tmp_path / "whole")}), src)
    assert (whole.total_steps, whole.warmup, whole.decay) == (40, 2, 8)
    whole_result = whole.run()
    expected = [lr_at(s, 0.004, 2, 40, 8) for s in range(40)]
    assert seen == expected
    assert seen[0] == pytest.approx(0.002) and seen[31] == 0.004 and seen[32] == 0.004
    assert seen[39] == pytest.approx(0.004 / 8)

    class StopsAt35(trainer_mod.Trainer):  # interrupted inside the decay (SIGTERM path: saves a checkpoint)
        def _stop_requested(self) -> bool:
            return self.state.step == 35 or super()._stop_requested()

    seen.clear()
    out = str(tmp_path / "resumed")
    first = StopsAt35(load_config({**cfg, "output_dir": out}), src).run()
    assert (first.reason, first.step) == ("sigterm", 35)
    resumed = trainer_mod.Trainer(load_config({**cfg, "output_dir": out}), src)
    assert resumed.state.step == 35 and resumed.state.resumed_from is not None
    resumed_result = resumed.run()
    assert resumed_result.step == 40
    assert seen == expected  # steps 0-34, then 35-39 after the resume: the same rates
    assert torch.equal(resumed_result.sae.W_dec.detach(), whole_result.sae.W_dec.detach())
