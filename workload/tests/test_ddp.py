"""Data-parallel training with torchrun over gloo (2 CPU processes): rank 0 alone writes, and a checkpoint
written under world size 2 resumes under world size 1."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys

from test_train_cli import read_metrics, run_train, train_env, write_activations, write_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_ranks_then_resume_on_one(tmp_path):
    acts = write_activations(tmp_path / "acts.safetensors")
    out = tmp_path / "ddp"
    cfg = write_config(tmp_path / "c.yaml", out, epochs=2)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "-m", "kiln_sae",
                           "train", "--config", str(cfg), "--activations", str(acts)],
                          capture_output=True, text=True, timeout=300, env=train_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = read_metrics(out)
    starts = [m for m in lines if m["kind"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2  # rank 1 wrote nothing
    train_steps = [m["step"] for m in lines if m["kind"] == "train"]
    assert train_steps == sorted(set(train_steps)) == list(range(4, 33, 4))
    ddp_eval = [m for m in lines if m["kind"] == "eval"][-1]
    assert ddp_eval["explained_variance"] > 0.3

    # Keep only the step-16 checkpoint (end of epoch 1) and resume it in a single process.
    for path in (out / "checkpoints").iterdir():
        if "00000016" not in path.name:
            path.unlink()
    shutil.rmtree(out / "sae")
    resumed = run_train(cfg, acts)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = [m for m in read_metrics(out) if m["kind"] == "start"][-1]
    assert (start["resumed"], start["step"], start["world_size"]) == (True, 16, 1)
    single_eval = [m for m in read_metrics(out) if m["kind"] == "eval"][-1]
    assert single_eval["step"] == 32 and (out / "sae" / "sae.safetensors").exists()
    # Same global batches either way; only per-rank loss normalisation and reduction order differ.
    assert abs(single_eval["loss"] - ddp_eval["loss"]) < 0.05 * ddp_eval["loss"]


def test_torchrun_two_ranks_streaming_each_its_own_share(tmp_path):
    """activation_cache: none under torchrun: each rank streams its half of the rows through its own shuffle
    buffer (batch_size / 2 rows per step), gradients are averaged as usual, and rank 0 alone writes."""
    acts = write_activations(tmp_path / "acts.safetensors")  # 2048 train rows: 1024 per rank
    out = tmp_path / "ddp"
    cfg = write_config(tmp_path / "c.yaml", out, epochs=2, activation_cache="none", shuffle_buffer_tokens=512)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "-m", "kiln_sae",
                           "train", "--config", str(cfg), "--activations", str(acts)],
                          capture_output=True, text=True, timeout=300, env=train_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = read_metrics(out)
    starts = [m for m in lines if m["kind"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2
    done = [m for m in lines if m["kind"] == "done"][-1]
    assert done["step"] == 32 and done["reason"] == "completed"  # 1024 rows / 64 per rank-step = 16 per epoch
    assert [m for m in lines if m["kind"] == "eval"][-1]["explained_variance"] > 0.3
