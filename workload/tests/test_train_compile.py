"""``compile: true`` on CPU: torch.compile (inductor, gcc) runs the SAE forward for a few real steps, through
the AuxK branch too, and trains to the same numbers as eager mode (the hand-written sparse backward stays
eager; Dynamo splits around the AuxK host sync and the sparse-tensor constructors)."""
from __future__ import annotations

import math

from test_train_cli import read_metrics, run_train, write_activations, write_config


def _done(out):
    return [m for m in read_metrics(out) if m["kind"] == "done"][-1]


def test_compile_true_trains_on_cpu_like_eager(tmp_path):
    acts = write_activations(tmp_path / "acts.safetensors", n_train=1024, n_val=128)
    common = {"epochs": 1, "save_every_steps": 100, "dead_tokens_threshold": 128, "latents": 512, "k": 2,
              "log_every": 1}  # 256 slots per step < 512 latents: some are dead, AuxK runs
    eager = run_train(write_config(tmp_path / "eager.yaml", tmp_path / "eager", **common), acts)
    assert eager.returncode == 0, eager.stderr
    compiled = run_train(write_config(tmp_path / "compiled.yaml", tmp_path / "compiled", compile=True, **common),
                         acts, timeout=300)
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    a, b = _done(tmp_path / "eager"), _done(tmp_path / "compiled")
    assert a["step"] == b["step"] == 8 and b["reason"] == "completed"
    trains = [m for m in read_metrics(tmp_path / "compiled") if m["kind"] == "train"]
    assert max(m["dead_fraction"] for m in trains) > 0, "the AuxK branch was not exercised"
    for key in ("loss", "mse", "explained_variance"):
        assert math.isclose(a["final"]["val"][key], b["final"]["val"][key], rel_tol=1e-4), key
