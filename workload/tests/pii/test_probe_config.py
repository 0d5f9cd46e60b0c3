"""The probe config: the shipped best configuration parses and names files that exist; ``extends`` lets a
job start from it; bad keys are refused with the allowed ones."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kiln_sae.errors import ConfigError
from kiln_sae.pii.experiment import ProbeConfig

ROOT = Path(__file__).resolve().parents[3]
BEST = ROOT / "workload" / "configs" / "pii-best.yaml"


def test_the_best_config_is_complete_and_its_eval_sets_exist():
    cfg = ProbeConfig.from_dict(yaml.safe_load(BEST.read_text()), base_dir=BEST.parent)
    assert cfg.generator == "compose" and len(cfg.layers) >= 2 and cfg.sae is None and cfg.sae_build
    assert cfg.members == 4  # v14: the SAE probe ships as the average of four SAE seeds
    assert set(cfg.systems) == {"sae", "raw", "presidio"}
    assert set(cfg.eval_sets) == {"presidio_evaluator", "dev"}
    assert all(Path(p).exists() for p in cfg.eval_sets.values())
    assert Path(cfg.output_dir).resolve() == ROOT / "runs" / "pii-best"


def test_extends_starts_from_a_base_and_a_given_sae_fixes_the_layers(tmp_path):
    job = {"extends": str(BEST), "sae": "/jobs/1/sae", "output_dir": str(tmp_path / "out"), "layer": 3,
           "base_model": "minilm", "data": {"train": 100}}
    cfg = ProbeConfig.from_dict(job, base_dir=tmp_path)
    assert cfg.sae == "/jobs/1/sae" and cfg.layers is None and cfg.sae_build is None  # the job's SAE decides
    assert cfg.members == 1  # the base ships an ensemble of SAEs it builds; the job's SAE is the one member
    assert cfg.data["train"] == 100 and cfg.input_dropout == 0.3 and cfg.context == 2  # the rest from the base
    assert cfg.epochs == 20  # v8: 20 probe epochs beat 10 on synthetic val (bench/results/pii_quality_v8.json)
    assert all(Path(p).exists() for p in cfg.eval_sets.values())  # resolved against the base's folder


def test_unknown_keys_and_missing_sae_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown keys"):
        ProbeConfig.from_dict({"output_dir": "x", "epoch": 3})
    with pytest.raises(ConfigError, match="sae_build"):
        ProbeConfig.from_dict({"output_dir": "x", "systems": ["sae"], "detector": "sae"})
    with pytest.raises(ConfigError, match="sae_build has unknown keys"):
        ProbeConfig.from_dict({"output_dir": "x", "sae_build": {"width": 3}})


def test_shape_must_be_a_boolean():
    with pytest.raises(ConfigError, match="shape must be true or false"):
        ProbeConfig.from_dict({"output_dir": "x", "systems": ["raw"], "detector": "raw", "shape": "yes"})
    assert ProbeConfig.from_dict({"output_dir": "x", "systems": ["raw"], "detector": "raw", "shape": True}).shape


def test_line_breaks_must_be_a_boolean_and_change_the_features_cache_key():
    from kiln_sae.pii.experiment import features_key

    base = {"output_dir": "x", "systems": ["raw"], "detector": "raw"}
    with pytest.raises(ConfigError, match="line_breaks must be true or false"):
        ProbeConfig.from_dict({**base, "line_breaks": "yes"})
    assert ProbeConfig.from_dict({**base, "line_breaks": True}).line_breaks
    assert not ProbeConfig.from_dict(base).line_breaks
    texts = ["a\\nb"]
    # Features read with line breaks shown are other activations: another cache file, and the key of the
    # features read as written is the one older caches were saved under.
    assert features_key("minilm", [2, 4], 128, texts, True) != features_key("minilm", [2, 4], 128, texts)
    assert features_key("minilm", [2, 4], 128, texts) == features_key("minilm", [2, 4], 128, texts, False)


def test_hidden_must_be_a_small_non_negative_integer():
    base = {"output_dir": "x", "systems": ["raw"], "detector": "raw"}
    for bad in (-1, 1.5, "64", True, 10_000):
        with pytest.raises(ConfigError, match="hidden must be an integer"):
            ProbeConfig.from_dict({**base, "hidden": bad})
    assert ProbeConfig.from_dict({**base, "hidden": 64}).hidden == 64 and ProbeConfig.from_dict(base).hidden == 0


def test_the_built_sae_is_reused_for_the_same_train_texts_and_retrained_when_they_change(tmp_path, capsys):
    """The SAE built by ``probe`` is cached by recipe; the recipe holds the train texts' hash, so a changed
    generator (same name and seed, different texts) trains a new SAE instead of reusing a stale one."""
    import types

    import numpy as np
    import torch

    from kiln_sae.pii.experiment import build_sae
    from kiln_sae.pii.features import TokenFeatures
    from kiln_sae.pii.generate import Example
    from kiln_sae.pii.pipeline import SplitData

    cfg = ProbeConfig.from_dict({"output_dir": str(tmp_path), "sae_build": {"latents": 32, "k": 4, "epochs": 1,
                                                                              "batch_size": 64, "warmup_steps": 1}})
    source = types.SimpleNamespace(loaded=types.SimpleNamespace(name="minilm", layer=2), layers=None)
    g = torch.Generator().manual_seed(0)

    def split(texts: list[str]) -> SplitData:
        feats = [TokenFeatures(torch.randn(200, 16, generator=g), np.zeros((200, 2), dtype=np.int64),
                               np.ones(200, dtype=bool), np.zeros((200, 1), dtype=np.float32)) for _ in texts]
        return SplitData([Example(t, [], "t", "g", "train", "") for t in texts], feats)

    first = build_sae(cfg, split(["a", "b", "c", "d", "e", "f"]), None, source, None)
    stamp = (first / "sae.safetensors").stat().st_mtime_ns
    assert build_sae(cfg, split(["a", "b", "c", "d", "e", "f"]), None, source, None) == first
    assert (first / "sae.safetensors").stat().st_mtime_ns == stamp
    assert "reusing" in capsys.readouterr().err
    build_sae(cfg, split(["a", "b", "c", "d", "e", "g"]), None, source, None)
    assert "reusing" not in capsys.readouterr().err
    assert (first / "sae.safetensors").stat().st_mtime_ns != stamp


def test_the_sae_also_trains_on_the_extra_conversations(tmp_path, capsys):
    """``sae_build.conversations``: that many generated conversations' activations join the train split's
    (written to one file and freed before the trainer runs); the SAE sees both."""
    import types

    import numpy as np
    import torch

    from kiln_sae.pii.experiment import build_sae
    from kiln_sae.pii.features import TokenFeatures
    from kiln_sae.pii.generate import Example
    from kiln_sae.pii.pipeline import SplitData

    g = torch.Generator().manual_seed(0)

    def feats(n_tokens: int) -> TokenFeatures:
        return TokenFeatures(torch.randn(n_tokens, 16, generator=g), np.zeros((n_tokens, 2), dtype=np.int64),
                             np.ones(n_tokens, dtype=bool), np.zeros((n_tokens, 1), dtype=np.float32))

    asked: list[list[str]] = []
    source = types.SimpleNamespace(loaded=types.SimpleNamespace(name="minilm", layer=2), layers=None, context_size=128,
                                   extract=lambda texts: asked.append(texts) or [feats(300) for _ in texts])
    gen = types.SimpleNamespace(conversations=lambda n: [[{"role": "user", "content": f"hi {i}"},
                                                         {"role": "assistant", "content": "ok"}] for i in range(n)])
    cfg = ProbeConfig.from_dict({"output_dir": str(tmp_path), "sae_build": {
        "latents": 32, "k": 4, "epochs": 1, "batch_size": 64, "warmup_steps": 1, "conversations": 5}})
    train = SplitData([Example(t, [], "t", "g", "train", "") for t in "abcd"], [feats(200) for _ in range(4)])
    sae = build_sae(cfg, train, gen, source, None)
    assert (sae / "sae.safetensors").exists() and not (tmp_path / "sae_build" / "acts.safetensors").exists()
    assert sum(len(t) for t in asked) == 5 and asked[0][0] == "hi 0\n\nok"
    total = 4 * 200 + 5 * 300
    assert f"on {total - 1024} tokens × 16" in capsys.readouterr().err
