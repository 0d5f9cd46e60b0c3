"""The benchmark scripts run end to end at tiny shapes (their numbers mean nothing here; the point is that
the scripts keep working against the engine's API before someone spends GPU time on them)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_train_cli import train_env

ROOT = Path(__file__).resolve().parents[2]


def test_sae_throughput_script_writes_its_json(tmp_path):
    out = tmp_path / "tp.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "sae_throughput" / "run.py"), "--d", "16", "--n", "64",
                           "--k", "4", "--batch", "128", "--steps", "2", "--rounds", "2", "--warmup", "1", "--tokens", "1024",
                           "--skip-saelens", "--out", str(out)], capture_output=True, text=True, timeout=300,
                          env=train_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["shape"] == {"d": 16, "n": 64, "k": 4, "batch_tokens": 128}
    assert result["flops_per_token_2dn_10kd"] == 2 * 16 * 64 + 10 * 4 * 16
    assert result["kiln"]["tokens_per_s"] > 0 and result["sae_lens"] is None
    # Kiln's previous (unfused) step ran interleaved in the same rounds, and learned the same thing.
    before = result["kiln_before"]
    assert len(before["tokens_per_s_per_round"]) == len(result["kiln"]["tokens_per_s_per_round"]) == 2
    assert result["kiln_over_kiln_before"] > 0
    assert abs(before["val_fvu"] - result["kiln"]["val_fvu"]) < 1e-4


def test_gpu_reference_job_small_mode_on_cpu(tmp_path):
    out = tmp_path / "ref.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_reference_job.py"), "--small", "--out", str(out)],
                          capture_output=True, text=True, timeout=400, env=train_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["small"] is True and result["extraction"]["act_shape"] == [8, 32, 64]
    assert result["kiln_sae"]["tokens_per_s"] > 0
    proj = result["projection"]
    assert proj["price_usd_per_gpu_hour"] == 2.99
    expected_min = (proj["extract_s"] + proj["sae_train_s"]) / 60
    assert abs(proj["total_min"] - expected_min) < 0.1
