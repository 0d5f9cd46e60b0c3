"""End to end on the real MiniLM: dataset file → per-layer activations (H4b's pipeline) → TopK SAE, through
``python -m kiln_sae train`` with no precomputed activations."""
from __future__ import annotations

import json

from faker import Faker

from kiln_sae.checkpoint import load_sae
from test_train_cli import read_metrics, run_train_plain, write_config

# Measured 0.66 validation EV after 88 steps (45k tokens) on 2 CPU cores; the floor guards regressions.
EV_FLOOR = 0.5


def test_minilm_layer3_reaches_an_explained_variance_floor(tmp_path):
    fake = Faker("en_US")
    Faker.seed(1234)
    data = tmp_path / "chats.jsonl"
    with data.open("w") as fh:
        for _ in range(400):
            fh.write(json.dumps({"text": fake.paragraph(nb_sentences=3)}) + "\n")
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", out, base_model="minilm", layer=3, context_size=64, latents=768, k=16,
                       epochs=8, batch_size=512, learning_rate=0.002, save_every_steps=None, log_every=10,
                       dataset={"path": str(data), "format": "jsonl", "val_fraction": 0.1})
    proc = run_train_plain(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = read_metrics(out)
    evals = [m for m in lines if m["kind"] == "eval"]
    assert len(evals) == 8
    assert evals[-1]["explained_variance"] > EV_FLOOR, evals[-1]
    sae, meta = load_sae(out)
    assert (meta["d_in"], meta["layer"], meta["base_model"]) == (384, 3, "minilm")
    assert abs(meta["act_scale"] - 1.0) > 1e-6  # normalisation measured from MiniLM's activations

