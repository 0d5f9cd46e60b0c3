"""Config validation: defaults and derived values, every problem reported at once, schema and hash."""
import json
import math
import subprocess
import sys

import pytest

from kiln_sae.config import config_json_schema, load_config
from kiln_sae.errors import ConfigError
from kiln_sae.learning_rate import auto_learning_rate

BASE = {"base_model": "minilm", "layer": 3, "output_dir": "out", "epochs": 1}


def test_defaults_and_derived_values():
    cfg = load_config(BASE)
    assert (cfg.architecture, cfg.k, cfg.batch_size, cfg.resume_from, cfg.hook) == ("topk", 32, 4096, "auto", "resid_post")
    assert cfg.n_latents(384) == 3072  # expansion_factor defaults to 8
    assert cfg.aux_k_for(384) == 192
    auto = cfg.learning_rate_for(d_in=384, n_latents=3072, total_steps=244)
    assert auto.value == pytest.approx(auto_learning_rate(d_in=384, n_latents=3072, k=32, total_steps=244,
                                                       batch_size=4096).value)
    assert auto.reason.startswith("auto: ") and "244 steps" in auto.reason
    relu = load_config({**BASE, "architecture": "relu"}).learning_rate_for(d_in=384, n_latents=2**14, total_steps=10)
    assert relu.value == pytest.approx(2e-4)  # the sweep covered topk only: relu keeps Gao et al.'s rule
    assert cfg.total_steps(100) == 100
    assert cfg.warmup_for(100) == 5  # 1000 capped at 5% of total steps
    tok = load_config({**BASE, "epochs": None, "tokens": 10_000, "batch_size": 4096})
    assert tok.total_steps(1) == math.ceil(10_000 / 4096)
    assert load_config({**BASE, "latents": 1000}).n_latents(384) == 1000
    fixed = load_config({**BASE, "learning_rate": 1e-3}).learning_rate_for(d_in=384, n_latents=10**6, total_steps=1)
    assert fixed.value == 1e-3 and fixed.reason.startswith("set: ")


def test_nested_sections_become_dataclasses():
    cfg = load_config({**BASE, "dataset": {"path": "data.jsonl", "pii_filter": True},
                       "early_stopping": {"patience": 3}, "wandb": {"project": "p", "mode": "offline"}})
    assert cfg.dataset.path == "data.jsonl" and cfg.dataset.pii_filter and cfg.dataset.val_fraction == 0.05
    assert (cfg.early_stopping.min_epochs, cfg.early_stopping.patience, cfg.early_stopping.delta) == (1, 3, 0.0)
    assert cfg.wandb.project == "p"


def test_all_problems_are_reported_at_once_with_key_paths_and_ranges():
    bad = {"base_model": "minilm", "layer": -1, "output_dir": "out", "epochs": 1, "tokens": 5,
           "k": 0, "mixed_precision": "fp16", "batch_sise": 4096,
           "early_stopping": {"patience": 0, "extra": 1}, "dataset": {"path": "a", "name": "b"}}
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    msg = str(err.value)
    for expected in ("layer: must be an integer >= 0, got -1",
                     "k: must be an integer >= 1, got 0",
                     "mixed_precision: must be one of 'auto', 'bf16', 'fp32', got 'fp16'",
                     "batch_sise: unknown key",
                     "early_stopping.patience: must be an integer >= 1, got 0",
                     "early_stopping.extra: unknown key",
                     "epochs, tokens: set exactly one of them",
                     "dataset.path, dataset.name: set exactly one of them"):
        assert expected in msg, expected


def test_missing_required_keys_and_architecture_specific_keys():
    with pytest.raises(ConfigError) as err:
        load_config({"architecture": "relu", "k": 16, "latents": 8, "expansion_factor": 2})
    msg = str(err.value)
    assert "base_model: required" in msg and "layer: required" in msg and "output_dir: required" in msg
    assert "k: only used by architecture 'topk'" in msg
    assert "latents, expansion_factor: set exactly one of them" in msg


def test_booleans_are_not_numbers_and_accumulation_must_divide_batch():
    with pytest.raises(ConfigError) as err:
        load_config({**BASE, "layer": True, "batch_size": 100, "gradient_accumulation_steps": 3})
    assert "layer: must be an integer >= 0, got True" in str(err.value)
    assert "gradient_accumulation_steps: must divide batch_size (100), got 3" in str(err.value)


def test_config_hash_is_stable_and_ignores_operational_keys():
    a = load_config(BASE)
    assert a.config_hash() == load_config(dict(BASE)).config_hash()
    assert a.config_hash() == load_config({**BASE, "output_dir": "elsewhere", "log_every": 1,
                                           "keep_checkpoints": 9}).config_hash()
    assert a.config_hash() != load_config({**BASE, "k": 64}).config_hash()


def test_yaml_file_and_schema(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base_model: minilm\nlayer: 2\noutput_dir: o\ntokens: 1000\n")
    assert load_config(str(path)).tokens == 1000
    schema = config_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"base_model", "layer", "output_dir"}
    assert schema["properties"]["architecture"]["enum"] == ["topk", "relu"]
    assert schema["properties"]["early_stopping"]["anyOf"][0]["properties"]["patience"]["minimum"] == 1


def test_cli_print_schema_and_bad_config_exit_codes(tmp_path):
    out = subprocess.run([sys.executable, "-m", "kiln_sae", "train", "--print-schema"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout)["title"] == "kiln_sae train config"
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("base_model: minilm\nlayer: 1\noutput_dir: o\nepochs: 1\nk: -3\n")
    # cwd=tmp_path: the relative output_dir receives the config error's metrics line, never the repo root.
    out = subprocess.run([sys.executable, "-m", "kiln_sae", "train", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2
    assert "k: must be an integer >= 1, got -3" in out.stderr
    assert (tmp_path / "o" / "metrics.jsonl").exists()
    out = subprocess.run([sys.executable, "-m", "kiln_sae", "train", "--config", str(tmp_path / "nope.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "file not found" in out.stderr
