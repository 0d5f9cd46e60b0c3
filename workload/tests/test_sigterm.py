"""SIGTERM: finish the current step, save a checkpoint, emit done(reason=sigterm), exit 0 within bounded time."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from kiln_sae.checkpoint import find_latest_valid, load_checkpoint
from test_train_cli import read_metrics, train_env, write_activations, write_config


def test_sigterm_saves_a_checkpoint_and_exits_zero(tmp_path):
    acts = write_activations(tmp_path / "acts.safetensors")
    out = tmp_path / "out"
    # Many epochs and no periodic saves: any checkpoint on disk must come from the SIGTERM path.
    cfg = write_config(tmp_path / "c.yaml", out, epochs=500, save_every=None, save_every_steps=None, log_every=1)
    proc = subprocess.Popen([sys.executable, "-m", "kiln_sae", "train", "--config", str(cfg), "--activations",
                             str(acts)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=train_env())
    try:
        for line in proc.stdout:
            if json.loads(line)["kind"] == "train":
                break
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        proc.wait(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 0, proc.stderr.read()
    assert elapsed < 30
    lines = read_metrics(out)
    done = lines[-1]
    assert done["kind"] == "done" and done["reason"] == "sigterm"
    saved = [m for m in lines if m["kind"] == "checkpoint_saved"]
    assert len(saved) == 1 and saved[0]["step"] == done["step"] < 500 * 16
    path = find_latest_valid(out)
    assert path is not None and load_checkpoint(path)["step"] == done["step"]
    assert not (out / "sae").exists()  # an interrupted run does not publish a final SAE
