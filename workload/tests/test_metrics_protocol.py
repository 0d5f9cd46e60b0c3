"""docs/metrics-protocol.schema.json against what the workload really writes.

Real ``python -m kiln_sae train`` and ``probe`` runs at tiny sizes: every line of their metrics.jsonl must
validate. A static pass over kiln_sae's source checks every ``emit("kind", field=...)`` call against the
schema (known kind, known field names, enum values), and the doc's table against both, so the three cannot
drift apart without a test failing.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from jsonschema import Draft202012Validator
from safetensors.torch import save_file

from kiln_sae.metrics import MetricsWriter
from test_train_cli import read_metrics, run_train, train_env, write_activations, write_config

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "docs" / "metrics-protocol.schema.json"
DOC_PATH = REPO / "docs" / "metrics-protocol.md"
PACKAGE = REPO / "workload" / "kiln_sae"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)
KIND_DEFS = {d["properties"]["kind"]["const"]: d for d in SCHEMA["$defs"].values()
             if "const" in d.get("properties", {}).get("kind", {})}


def problems(line: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(line)'}: {e.message}"
            for e in VALIDATOR.iter_errors(line)]


def assert_all_valid(lines: list[dict]) -> None:
    bad = {i: problems(m) for i, m in enumerate(lines)}
    assert not {i: p for i, p in bad.items() if p}, json.dumps({i: (lines[i], p) for i, p in bad.items() if p})
    # The schema lets unknown kinds through (readers ignore them); a writer of this version must not invent any.
    assert {m["kind"] for m in lines} <= set(KIND_DEFS)


@pytest.fixture(scope="module")
def train_lines(tmp_path_factory) -> list[dict]:
    """One real train run that ends by early stopping: start, train, eval, checkpoint_saved, early_stop,
    artifact and done. delta 0.99 counts only a 99% drop as an improvement, so patience 1 stops after epoch 2."""
    root = tmp_path_factory.mktemp("protocol-train")
    acts = write_activations(root / "acts.safetensors", n_train=1024, n_val=128)
    out = root / "out"
    cfg = write_config(root / "c.yaml", out, epochs=10,
                       early_stopping={"min_epochs": 1, "patience": 1, "delta": 0.99})
    proc = run_train(cfg, acts, "--quiet", timeout=120)
    assert proc.returncode == 0, proc.stderr
    return read_metrics(out)


def test_schema_is_valid_draft_2020_12_and_names_the_kinds_the_doc_lists():
    Draft202012Validator.check_schema(SCHEMA)
    doc = DOC_PATH.read_text(encoding="utf-8")
    table = re.findall(r"^\| `([a-z_]+)` \|", doc, flags=re.MULTILINE)
    assert set(table) == set(KIND_DEFS) and len(table) == len(KIND_DEFS)
    assert "metrics-protocol.schema.json" in doc


def test_every_line_of_a_real_train_run_validates(train_lines):
    assert_all_valid(train_lines)
    kinds = [m["kind"] for m in train_lines]
    assert set(kinds) == {"start", "train", "eval", "checkpoint_saved", "early_stop", "artifact", "done"}
    assert kinds[0] == "start" and kinds[-1] == "done" and train_lines[-1]["reason"] == "early_stop"


def test_an_error_line_from_a_real_failed_run_validates(tmp_path):
    out = tmp_path / "out"
    no_train_tensor = tmp_path / "acts.safetensors"
    save_file({"val": torch.zeros(4, 16)}, str(no_train_tensor))
    proc = run_train(write_config(tmp_path / "c.yaml", out), no_train_tensor, "--quiet", timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = read_metrics(out)
    assert [m["kind"] for m in lines] == ["error"]
    assert_all_valid(lines)


def test_nonfinite_values_are_null_named_and_valid(tmp_path):
    with MetricsWriter(tmp_path / "metrics.jsonl", echo=False) as w:
        w.emit("train", step=3, epoch=0.5, tokens=384, loss=float("nan"), mse=float("inf"), l0=4.0, l1=None,
               explained_variance=float("-inf"), dead_fraction=0.0, lr=1e-3, tokens_per_s=1.0, gpu_mem_gb=None,
               eta_s=None)
    (line,) = read_metrics(tmp_path)
    assert (line["loss"], line["nonfinite"]) == (None, ["loss", "mse", "explained_variance"])
    assert_all_valid([line])


@pytest.mark.parametrize("change, where", [
    ({"loss": "0.5"}, "loss"),
    ({"step": 1.5}, "step"),
    ({"kind": "train", "v": 2}, "v"),
    ({"gpu_mem_gb": "n/a"}, "gpu_mem_gb"),
])
def test_the_schema_rejects_mistyped_known_fields(train_lines, change, where):
    line = {**next(m for m in train_lines if m["kind"] == "train"), **change}
    assert problems(line)
    # oneOf only says "no branch matched"; the train branch itself names the field.
    branch = Draft202012Validator({**KIND_DEFS["train"], "$defs": SCHEMA["$defs"]})
    top = Draft202012Validator({k: v for k, v in SCHEMA.items() if k != "oneOf"})
    assert [e.path[0] for e in [*branch.iter_errors(line), *top.iter_errors(line)]] == [where]


def test_the_schema_rejects_missing_required_fields_and_unknown_enum_values(train_lines):
    train = next(m for m in train_lines if m["kind"] == "train")
    done = train_lines[-1]
    assert problems({k: v for k, v in train.items() if k != "explained_variance"})
    assert problems({**done, "reason": "finished"})
    assert problems({"v": 1, "ts": 1.0})
    # Unknown kinds and unknown fields pass: readers ignore them.
    assert not problems({"v": 1, "ts": 1.0, "kind": "gpu_temp", "celsius": 80})
    assert not problems({**train, "future_field": [1, 2]})


def _emit_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                calls.append((f"{path.relative_to(PACKAGE)}:{node.lineno}", node))
    return calls


def test_every_emit_call_in_the_code_matches_the_schema():
    """Fields passed by name must be known to the schema, constant values must be allowed by it; the
    runtime tests above cover the ``**fields`` calls."""
    calls = _emit_calls()
    emitted = {c.args[0].value for _, c in calls}
    assert emitted == set(KIND_DEFS), f"code emits {sorted(emitted)}, schema defines {sorted(KIND_DEFS)}"
    wrong = []
    for where, call in calls:
        props = KIND_DEFS[call.args[0].value]["properties"]
        named = {kw.arg for kw in call.keywords if kw.arg is not None}
        spread = any(kw.arg is None for kw in call.keywords)
        missing = [] if spread else sorted(set(KIND_DEFS[call.args[0].value]["required"]) - {"kind"} - named)
        unknown = sorted(named - set(props))
        bad_values = [f"{kw.arg}={kw.value.value!r}" for kw in call.keywords
                      if kw.arg in props and isinstance(kw.value, ast.Constant) and "enum" in props[kw.arg]
                      and kw.value.value not in props[kw.arg]["enum"]]
        if missing or unknown or bad_values:
            wrong.append(f"{where} emit({call.args[0].value!r}): missing {missing}, unknown {unknown}, "
                         f"values {bad_values}")
    assert not wrong, "\n".join(wrong)


def test_every_line_of_a_real_probe_run_validates(tmp_path):
    """A tiny probe (random TopK SAE on MiniLM layer 1, 24 training sentences, 2 epochs): ~13 s on 2 cores.
    The SAE's quality does not matter, only the lines the real command writes."""
    from kiln_sae.checkpoint import save_final_sae
    from kiln_sae.sae import SparseAutoencoder

    sae = SparseAutoencoder(384, 256, k=8, generator=torch.Generator().manual_seed(0))
    save_final_sae(tmp_path / "sae_run", sae, {"base_model": "minilm", "layer": 1, "hook": "resid_post",
                                               "act_scale": 0.5, "d_in": 384, "n_latents": 256, "k": 8,
                                               "architecture": "topk", "context_size": 32})
    cfg = {"sae": str(tmp_path / "sae_run" / "sae"), "output_dir": str(tmp_path / "out"), "context_size": 32,
           "data": {"seed": 0, "train": 24, "val": 8, "test": 8}, "epochs": 2, "lr": 0.02,
           "systems": ["raw", "sae"], "detector": "sae", "context": 0}
    (tmp_path / "probe.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "kiln_sae", "probe", "--config", str(tmp_path / "probe.yaml")],
                          capture_output=True, text=True, timeout=180, env={**train_env(), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = read_metrics(tmp_path / "out")
    assert_all_valid(lines)
    kinds = [m["kind"] for m in lines]
    assert (kinds[0], kinds[-1], kinds.count("probe_eval")) == ("start", "done", 4)
    assert {m["role"] for m in lines if m["kind"] == "artifact"} == {"detector", "report"}
