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
    assert set(cfg.systems) == {"sae", "raw", "presidio"}
    assert set(cfg.eval_sets) == {"presidio_evaluator", "dev"}
    assert all(Path(p).exists() for p in cfg.eval_sets.values())
    assert Path(cfg.output_dir).resolve() == ROOT / "runs" / "pii-best"


def test_extends_starts_from_a_base_and_a_given_sae_fixes_the_layers(tmp_path):
    job = {"extends": str(BEST), "sae": "/jobs/1/sae", "output_dir": str(tmp_path / "out"), "layer": 3,
           "base_model": "minilm", "data": {"train": 100}}
    cfg = ProbeConfig.from_dict(job, base_dir=tmp_path)
    assert cfg.sae == "/jobs/1/sae" and cfg.layers is None and cfg.sae_build is None  # the job's SAE decides
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
