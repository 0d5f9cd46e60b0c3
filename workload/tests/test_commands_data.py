"""``python -m kiln_sae prepare|evaluate|export`` in-process: exit codes, stderr summaries, metrics lines."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from kiln_sae.__main__ import main
from kiln_sae.cache import ActivationCache
from kiln_sae.checkpoint import save_final_sae
from kiln_sae.sae import SparseAutoencoder


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def write_config(tmp_path: Path, **over) -> str:
    cfg = {"base_model": "minilm", "layer": 2, "output_dir": str(tmp_path / "run"), "epochs": 1,
           "context_size": 64, "device": "cpu"}
    cfg.update(over)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.mark.parametrize("cmd", ["prepare", "evaluate", "export"])
def test_help(cmd: str, capsys) -> None:
    assert main([cmd, "--help"]) == 0
    assert f"python -m kiln_sae {cmd}" in capsys.readouterr().out


def test_prepare_counts_only_reports_pii_filter(tmp_path: Path, chat_jsonl: str, capsys) -> None:
    cfg = write_config(tmp_path, dataset={"path": chat_jsonl, "pii_filter": True, "val_fraction": 0.0})
    assert main(["prepare", "--config", cfg, "--counts-only"]) == 0
    out, err = capsys.readouterr()
    assert "read 5 documents: 0 empty, 1 duplicates" in err
    assert "pii filter kept 2 of 4 (email 1, ssn 1, name_intro 1)" in err
    kinds = [r["kind"] for r in lines(out)]
    assert kinds == ["start", "done"]
    done = lines(out)[-1]
    assert done["phase"] == "prepare" and done["final"]["data"]["pii_filter"]["kept"] == 2
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 2


def test_prepare_extracts_and_caches_for_train(tmp_path: Path, text_file: str, capsys) -> None:
    cfg = write_config(tmp_path, dataset={"path": text_file, "val_fraction": 0.3})
    assert main(["prepare", "--config", cfg, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "cached in" in err and "d=384" in err
    train = ActivationCache.open(tmp_path / "run" / "activations" / "train")
    assert train.d == 384 and train.num_tokens > 20 and train.location == "disk"
    record = lines((tmp_path / "run" / "metrics.jsonl").read_text())[-1]
    assert record["kind"] == "done" and record["final"]["train_tokens"] == train.num_tokens


def test_prepare_bad_data_exits_2_with_file_and_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\nnot json\n')
    cfg = write_config(tmp_path, dataset={"path": str(bad)})
    assert main(["prepare", "--config", cfg, "--counts-only"]) == 2
    out, err = capsys.readouterr()
    assert "bad.jsonl:2: not valid JSON" in err
    assert lines(out)[-1]["kind"] == "error" and lines(out)[-1]["type"] == "DataError"


def test_evaluate_and_export_a_causal_sae(tmp_path: Path, tiny_llama_path: str, text_file: str, capsys) -> None:
    torch.manual_seed(0)
    sae = SparseAutoencoder(64, 128, architecture="topk", k=8)
    meta = {"base_model": tiny_llama_path, "layer": 1, "hook": "resid_post", "act_scale": 1.3, "d_in": 64,
            "n_latents": 128, "k": 8, "architecture": "topk", "context_size": 32}
    save_final_sae(tmp_path / "run", sae, meta)
    metrics = tmp_path / "eval.jsonl"
    assert main(["evaluate", "--sae", str(tmp_path / "run"), "--data", text_file, "--device", "cpu",
                 "--metrics", str(metrics), "--out", str(tmp_path / "eval.json")]) == 0
    out, err = capsys.readouterr()
    ev = next(r for r in lines(out) if r["kind"] == "eval")
    assert ev["split"] == "test" and ev["tokens"] > 20 and ev["l0"] <= 8
    assert ev["ce_clean"] < ev["ce_zero"] and ev["ce_loss_recovered"] is not None
    assert "CE clean" in err and json.loads((tmp_path / "eval.json").read_text())["tokens"] == ev["tokens"]
    assert main(["export", "--sae", str(tmp_path / "run" / "sae"), "--out", str(tmp_path / "run" / "saelens"),
                 "--metrics", str(metrics)]) == 0
    artifacts = [r for r in lines(capsys.readouterr().out) if r["kind"] == "artifact"]
    assert sorted(a["path"] for a in artifacts) == ["saelens/cfg.json", "saelens/sae_weights.safetensors"]
    assert all(len(a["sha256"]) == 64 and a["role"] == "saelens_export" for a in artifacts)


def test_evaluate_and_export_missing_sae_exit_2(tmp_path: Path, text_file: str, capsys) -> None:
    assert main(["evaluate", "--sae", str(tmp_path / "nope"), "--data", text_file, "--quiet"]) == 2
    assert "--sae" in capsys.readouterr().err
    assert main(["export", "--sae", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert main(["evaluate", "--sae", str(tmp_path), "--data", text_file, "--quiet"]) == 2
    assert "no sae/ directory and no valid checkpoint" in capsys.readouterr().err
    save_final_sae(tmp_path / "run", SparseAutoencoder(64, 128, k=8), {
        "base_model": "x", "layer": 0, "d_in": 64, "n_latents": 128, "k": 8, "architecture": "topk"})
    assert main(["evaluate", "--sae", str(tmp_path / "run"), "--quiet"]) == 2  # no texts given
    assert "needs eval texts: --data PATH, or --config" in capsys.readouterr().err


def test_train_sources_reuse_the_prepared_cache_without_loading_the_model(tmp_path: Path, text_file: str,
                                                                           monkeypatch, capsys) -> None:
    from kiln_sae import pipeline
    from kiln_sae.config import load_config
    from kiln_sae.distributed import DistContext

    cfg_path = write_config(tmp_path, dataset={"path": text_file, "val_fraction": 0.3})
    assert main(["prepare", "--config", cfg_path, "--quiet"]) == 0
    prepared = ActivationCache.open(tmp_path / "run" / "activations" / "train")

    def no_model(*_a, **_k):
        raise AssertionError("the model was loaded although a complete cache exists")

    monkeypatch.setattr(pipeline, "load_truncated_model", no_model)
    train, val = pipeline.build_sources(load_config(cfg_path), DistContext())
    assert train.num_tokens == prepared.num_tokens and val is not None and val.num_tokens > 0
    idx = torch.arange(train.num_tokens)
    assert torch.equal(train.read(idx), prepared.read(idx))


def test_stream_for_uncached_training_yields_every_token_each_time(tmp_path: Path, text_file: str) -> None:
    from kiln_sae.config import load_config
    from kiln_sae.distributed import DistContext
    from kiln_sae.pipeline import build_stream

    cfg = load_config(write_config(tmp_path, dataset={"path": text_file, "val_fraction": 0.3},
                                   activation_cache="none"))
    stream, tokens, val = build_stream(cfg, DistContext())
    first = torch.cat(list(stream()))
    assert first.shape == (tokens, 384) and val is not None
    assert torch.equal(torch.cat(list(stream())), first)  # re-runnable, same order: resumable skipping works
