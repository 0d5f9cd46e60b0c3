"""Shared helpers for the engine's subprocess tests, plus end-to-end checks of ``python -m kiln_sae train``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file

from kiln_sae.checkpoint import load_sae


def write_activations(path: Path, n_train: int = 2048, n_val: int = 256, d: int = 16, seed: int = 0) -> Path:
    """Synthetic activations with real sparse structure: sparse non-negative codes over 48 unit features."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.nn.functional.normalize(torch.randn(48, d, generator=g), dim=1)

    def make(n):
        codes = (torch.rand(n, 48, generator=g) < 0.08).float() * (1 + 2 * torch.rand(n, 48, generator=g))
        return codes @ feats + 0.01 * torch.randn(n, d, generator=g) + 0.5

    save_file({"train": make(n_train), "val": make(n_val)}, str(path))
    return path


def write_config(path: Path, output_dir: Path, **overrides) -> Path:
    cfg = {"base_model": "synthetic", "layer": 0, "output_dir": str(output_dir), "latents": 64, "k": 4,
           "epochs": 4, "batch_size": 128, "warmup_steps": 8, "learning_rate": 0.004, "log_every": 4,
           "save_every_steps": 8, "keep_checkpoints": 20, "dead_tokens_threshold": 512, "seed": 7}
    cfg.update(overrides)
    path.write_text(yaml.safe_dump(cfg))
    return path


def train_env() -> dict[str, str]:
    # One thread: identical arithmetic run to run (and no fight for this machine's two cores).
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            "KILN_LOG_LEVEL": "WARNING"}


def run_train(config: Path, acts: Path, *extra: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiln_sae", "train", "--config", str(config), "--activations",
                           str(acts), *extra], capture_output=True, text=True, timeout=timeout, env=train_env())


def run_train_plain(config: Path, *extra: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiln_sae", "train", "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=timeout, env=train_env())


def read_metrics(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


def test_train_end_to_end_writes_protocol_lines_and_a_loadable_sae(tmp_path):
    acts = write_activations(tmp_path / "acts.safetensors")
    out = tmp_path / "out"
    proc = run_train(write_config(tmp_path / "c.yaml", out, epochs=6), acts)
    assert proc.returncode == 0, proc.stderr
    lines = read_metrics(out)
    kinds = [m["kind"] for m in lines]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("eval") == 6
    assert all(m["v"] == 1 and isinstance(m["ts"], float) for m in lines)
    start = lines[0]
    assert (start["phase"], start["resumed"], start["total_steps"], start["total_tokens"]) == ("train", False, 96, 12288)
    train = [m for m in lines if m["kind"] == "train"]
    assert [m["step"] for m in train] == list(range(4, 97, 4))
    assert set(train[0]) >= {"step", "epoch", "tokens", "loss", "mse", "l0", "l1", "explained_variance",
                             "dead_fraction", "lr", "tokens_per_s", "gpu_mem_gb", "eta_s"}
    assert train[0]["l0"] <= 4 and train[0]["l1"] is None and train[0]["gpu_mem_gb"] is None
    evals = [m for m in lines if m["kind"] == "eval"]
    assert evals[-1]["explained_variance"] > 0.6  # measured 0.70 after 96 steps on this synthetic data
    assert evals[-1]["loss"] < evals[0]["loss"]
    done = lines[-1]
    assert done["reason"] == "completed" and done["step"] == 96 and done["final"]["val"]["loss"] == evals[-1]["loss"]
    artifacts = {m["path"]: m for m in lines if m["kind"] == "artifact"}
    assert set(artifacts) == {"sae/sae.safetensors", "sae/meta.json"}
    saves = [m for m in lines if m["kind"] == "checkpoint_saved"]
    assert [m["step"] for m in saves] == list(range(8, 97, 8))
    sae, meta = load_sae(out / "sae")
    assert (meta["d_in"], meta["n_latents"], meta["k"], meta["architecture"]) == (16, 64, 4, "topk")
    assert meta["act_scale"] > 0 and meta["base_model"] == "synthetic" and meta["layer"] == 0
    assert sae.W_dec.shape == (64, 16)


def test_relu_architecture_and_set_overrides(tmp_path):
    acts = write_activations(tmp_path / "acts.safetensors")
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", out, epochs=1)
    text = cfg.read_text().replace("k: 4\n", "")
    cfg.write_text(text)
    proc = run_train(cfg, acts, "--set", "architecture=relu", "--set", "l1_coefficient=0.01", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # --quiet: metrics only in the file
    lines = read_metrics(out)
    train = [m for m in lines if m["kind"] == "train"]
    assert train[-1]["l1"] is not None and train[-1]["l1"] > 0
    assert load_sae(out)[1]["architecture"] == "relu"


def test_bad_inputs_exit_2_with_an_error_line(tmp_path):
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", out)
    proc = run_train(cfg, tmp_path / "missing.safetensors")
    assert proc.returncode == 2 and "--activations" in proc.stderr
    assert read_metrics(out)[-1]["kind"] == "error"
    small = write_activations(tmp_path / "small.safetensors", n_train=100)
    proc = run_train(cfg, small)
    assert proc.returncode == 2 and "batch_size 128" in proc.stderr


def test_a_corrupt_activations_file_exits_2_with_an_error_line(tmp_path):
    """safetensors raises its own SafetensorError (neither OSError nor ValueError) for a bad header or a body
    cut short: both are bad input (exit 2, an error line naming the file), not a crash (exit 1)."""
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", out)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"train\": oops")
    whole = write_activations(tmp_path / "whole.safetensors").read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(whole[: len(whole) // 2])
    for bad in (garbage, truncated):
        proc = run_train(cfg, bad)
        assert proc.returncode == 2, proc.stderr
        assert f"--activations {bad}: cannot read it as safetensors" in proc.stderr
        assert "Traceback" not in proc.stderr
        line = read_metrics(out)[-1]
        assert line["kind"] == "error" and line["type"] == "DataError" and str(bad) in line["message"]


def test_an_invalid_config_with_a_known_output_dir_writes_an_error_line(tmp_path):
    """Kiln's control plane watches <output_dir>/metrics.jsonl: a config rejected before training starts must
    still say why there (train and prepare), not only on stderr."""
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "bad.yaml", out, k=100, batch_size=-1)
    proc = run_train(cfg, tmp_path / "unused.safetensors")
    assert proc.returncode == 2 and "k: must be <= latents (64)" in proc.stderr
    (line,) = read_metrics(out)
    assert line["kind"] == "error" and line["phase"] == "train" and line["type"] == "ConfigError"
    assert "batch_size" in line["message"] and "k: must be <= latents (64)" in line["message"]
    prep = subprocess.run([sys.executable, "-m", "kiln_sae", "prepare", "--config", str(cfg), "--quiet"],
                          capture_output=True, text=True, timeout=120, env=train_env())
    assert prep.returncode == 2
    assert [(m["kind"], m["phase"]) for m in read_metrics(out)] == [("error", "train"), ("error", "prepare")]
    # No output_dir in the config: nothing to write to, stderr only (and no stray directory).
    nodir = tmp_path / "nodir.yaml"
    nodir.write_text(yaml.safe_dump({"base_model": "m", "layer": 0, "epochs": 1}))
    proc = run_train(nodir, tmp_path / "unused.safetensors")
    assert proc.returncode == 2 and "output_dir" in proc.stderr
