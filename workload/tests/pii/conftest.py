"""A tiny trained detector, built once per session through the real ``probe`` command (small sizes, CPU)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

LAYER = 2


def run_kiln(*args: str, stdin: bytes | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    return subprocess.run([sys.executable, "-m", "kiln_sae", *args], input=stdin, capture_output=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="session")
def probe_run(tmp_path_factory) -> Path:
    """Runs ``python -m kiln_sae probe`` with an (untrained, random) TopK SAE and the raw baseline; the SAE's
    quality does not matter here, only that the artefact path works end to end."""
    from kiln_sae.checkpoint import save_final_sae
    from kiln_sae.sae import SparseAutoencoder

    root = tmp_path_factory.mktemp("probe")
    sae = SparseAutoencoder(384, 768, k=16, generator=torch.Generator().manual_seed(0))
    meta = {"base_model": "minilm", "layer": LAYER, "hook": "resid_post", "act_scale": 0.5, "d_in": 384,
            "n_latents": 768, "k": 16, "architecture": "topk", "context_size": 128}
    save_final_sae(root / "sae_run", sae, meta)
    cfg = {"sae": str(root / "sae_run" / "sae"), "output_dir": str(root / "out"), "context_size": 128,
           "data": {"seed": 0, "train": 300, "val": 40, "test": 40}, "epochs": 12, "lr": 0.02,
           "systems": ["raw", "sae"], "detector": "raw", "context": 1, "shape": True}
    (root / "probe.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_kiln("probe", "--config", str(root / "probe.yaml"))
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return root / "out"


def metrics_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
