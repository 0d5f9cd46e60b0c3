"""A run killed with SIGKILL and resumed ends bitwise identical to an uninterrupted run (CPU, fixed seed) —
even when the newest checkpoint was left truncated and has to be skipped."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from test_train_cli import read_metrics, run_train, train_env, write_activations, write_config


def _final(out):
    lines = read_metrics(out)
    evals = [{k: v for k, v in m.items() if k != "ts"} for m in lines if m["kind"] == "eval"]
    done = [m for m in lines if m["kind"] == "done"]
    return (out / "sae" / "sae.safetensors").read_bytes(), evals[-1], done[-1]["final"], done[-1]["step"]


def test_sigkill_then_resume_is_bitwise_identical(tmp_path):
    acts = write_activations(tmp_path / "acts.safetensors")
    ref_out, killed_out = tmp_path / "ref", tmp_path / "killed"
    ref = run_train(write_config(tmp_path / "ref.yaml", ref_out), acts)
    assert ref.returncode == 0, ref.stderr

    cfg = write_config(tmp_path / "killed.yaml", killed_out)
    proc = subprocess.Popen([sys.executable, "-m", "kiln_sae", "train", "--config", str(cfg), "--activations",
                             str(acts)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=train_env())
    try:
        saves = 0
        for line in proc.stdout:  # bounded: the run itself ends within seconds
            if json.loads(line)["kind"] == "checkpoint_saved":
                saves += 1
                if saves == 2:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not any(m["kind"] == "done" for m in read_metrics(killed_out)), "killed too late to test anything"

    # Simulate a crash mid-write of the newest checkpoint: resume must skip it and use the one before.
    ckpts = sorted((killed_out / "checkpoints").glob("step-*.pt"))
    newest = ckpts[-1]
    newest.write_bytes(newest.read_bytes()[:1000])
    resumed = run_train(cfg, acts)
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipping checkpoint {newest}" in resumed.stderr
    starts = [m for m in read_metrics(killed_out) if m["kind"] == "start"]
    assert [s["resumed"] for s in starts] == [False, True]
    assert starts[1]["step"] == int(ckpts[-2].stem.split("-")[1])

    assert _final(killed_out) == _final(ref_out)


def test_resume_refuses_a_checkpoint_from_a_different_config(tmp_path):
    import pytest
    import torch

    from kiln_sae.batches import TensorSource
    from kiln_sae.config import load_config
    from kiln_sae.errors import ConfigError
    from kiln_sae.trainer import Trainer

    src = TensorSource(torch.randn(512, 8, generator=torch.Generator().manual_seed(0)))
    base = {"base_model": "m", "layer": 0, "output_dir": str(tmp_path), "latents": 32, "k": 4, "epochs": 1,
            "batch_size": 128}
    assert Trainer(load_config(base), src).run().reason == "completed"
    with pytest.raises(ConfigError) as err:
        Trainer(load_config({**base, "k": 8}), src)
    assert "written with a different config" in str(err.value) and "resume_from: none" in str(err.value)
    fresh = Trainer(load_config({**base, "k": 8, "resume_from": "none"}), src)
    assert fresh.state.step == 0 and fresh.run().step == 4
