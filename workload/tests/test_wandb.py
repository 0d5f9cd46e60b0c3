"""W&B in offline mode mirrors the metrics; metrics.jsonl stays complete and authoritative."""
from __future__ import annotations

import importlib.util

import pytest

from test_train_cli import read_metrics, run_train, write_activations, write_config


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is an optional extra (kiln-sae[wandb])")
def test_wandb_offline_run_is_written_beside_the_metrics(tmp_path):
    acts = write_activations(tmp_path / "acts.safetensors")
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", out, epochs=1,
                       wandb={"project": "kiln-test", "run_name": "offline-check", "mode": "offline"})
    proc = run_train(cfg, acts)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((out / "wandb").rglob("offline-run-*"))
    assert runs, f"no offline run under {out / 'wandb'}"
    assert any(p.suffix == ".wandb" for p in runs[0].iterdir())  # the run's event log
    kinds = [m["kind"] for m in read_metrics(out)]
    assert kinds[0] == "start" and kinds[-1] == "done"


def test_disabled_or_absent_wandb_gives_a_no_op_tracker(tmp_path):
    from kiln_sae.config import WandbConfig
    from kiln_sae.tracking import NullTracker, open_tracker

    assert isinstance(open_tracker(WandbConfig(mode="disabled"), {}, str(tmp_path), resume_id=None), NullTracker)
    assert isinstance(open_tracker(None, {}, str(tmp_path), resume_id=None), NullTracker)
    assert isinstance(open_tracker(WandbConfig(), {}, str(tmp_path), resume_id=None, enabled=False), NullTracker)
    assert not (tmp_path / "wandb").exists()
