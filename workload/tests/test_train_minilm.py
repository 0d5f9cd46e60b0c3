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



def test_minilm_streamed_without_a_cache_resumes_to_the_same_sae(tmp_path):
    """activation_cache: none on the real model: train batches come from re-running extraction each epoch
    through the shuffle buffer (only the small val split is cached), and a run resumed from a mid-epoch
    checkpoint ends with the same SAE bytes as the uninterrupted one (CPU, one thread: extraction is
    deterministic, so the regenerated stream and buffer are too)."""
    fake = Faker("en_US")
    Faker.seed(99)
    data = tmp_path / "texts.jsonl"
    with data.open("w") as fh:
        for _ in range(60):
            fh.write(json.dumps({"text": fake.paragraph(nb_sentences=3)}) + "\n")

    def config(name, **extra):
        return write_config(tmp_path / f"{name}.yaml", tmp_path / name, base_model="minilm", layer=3,
                            context_size=64, latents=768, k=16, epochs=2, batch_size=256, learning_rate=0.002,
                            save_every_steps=3, log_every=1, activation_cache="none", shuffle_buffer_tokens=1024,
                            dataset={"path": str(data), "format": "jsonl", "val_fraction": 0.1}, **extra)

    ref = run_train_plain(config("ref"))
    assert ref.returncode == 0, ref.stderr[-3000:]
    ref_out = tmp_path / "ref"
    assert not (ref_out / "activations" / "train").exists()  # nothing of the train split is cached
    evals = [m for m in read_metrics(ref_out) if m["kind"] == "eval"]
    assert len(evals) == 2 and evals[-1]["explained_variance"] > 0.2, evals[-1]

    # The "interrupted" run: the reference's first checkpoint (step 3, mid-epoch 0) copied into a new
    # output dir is where a killed run would resume from.
    import shutil

    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    first = sorted((ref_out / "checkpoints").glob("step-*.pt"))[0]
    for f in (first, first.with_suffix(".json")):  # the checkpoint and its checksum sidecar
        shutil.copy(f, part / "checkpoints" / f.name)
    resumed = run_train_plain(config("part"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = [m for m in read_metrics(part) if m["kind"] == "start"][0]
    assert start["resumed"] and start["step"] == 3
    assert (part / "sae" / "sae.safetensors").read_bytes() == (ref_out / "sae" / "sae.safetensors").read_bytes()
