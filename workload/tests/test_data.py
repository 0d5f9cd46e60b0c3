"""Dataset readers: LMSYS chat JSONL/Parquet, JSONL text field, plain text; dedupe, subset, split, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln_sae.chat import render_conversation
from kiln_sae.data import is_val, load_texts, normalised_hash, read_texts
from kiln_sae.errors import ConfigError, DataError


def test_conversation_renders_roles_in_stated_format() -> None:
    conv = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "   "}]
    assert render_conversation(conv, "x:1") == "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!"


def test_lmsys_jsonl_dedupes_normalised_whitespace(chat_jsonl: str) -> None:
    data = load_texts({"path": chat_jsonl, "val_fraction": 0.0})
    assert data.report.read == 5 and data.report.duplicates == 1  # chat 4 = chat 2 with extra spaces
    assert len(data.train) == 4 and data.val == []
    assert data.train[0].startswith("User: Hi, my name is John")


def test_pii_filter_keeps_only_pii_conversations_and_counts(chat_jsonl: str) -> None:
    data = load_texts({"path": chat_jsonl, "pii_filter": True, "val_fraction": 0.0})
    assert len(data.train) == 2
    pii = data.report.pii_filter
    assert pii is not None and pii["scanned"] == 4 and pii["kept"] == 2
    assert pii["per_pattern"]["ssn"] == 1 and pii["per_pattern"]["email"] == 1
    assert pii["per_pattern"]["name_intro"] == 1


def test_subset_size_stops_reading(chat_jsonl: str) -> None:
    data = load_texts({"path": chat_jsonl, "subset_size": 2, "val_fraction": 0.0})
    assert len(data.train) == 2 and data.report.read == 2 and data.report.subset_reached


def test_split_is_deterministic_by_hash(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"body": f"document number {i}"}) + "\n" for i in range(400)))
    a = load_texts({"path": str(path), "text_field": "body", "val_fraction": 0.25})
    b = load_texts({"path": str(path), "text_field": "body", "val_fraction": 0.25})
    assert a.val == b.val and 60 < len(a.val) < 140  # ≈ 100 expected
    assert all(is_val(normalised_hash(t), 0.25) for t in a.val)
    assert not set(a.val) & set(a.train)


def test_plain_text_lines_and_blocks(tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("first doc\nsecond doc\n")
    assert [t for t, _ in read_texts(str(lines))] == ["first doc", "second doc"]
    blocks = tmp_path / "blocks.txt"
    blocks.write_text("para one\nstill one\n\npara two\n")
    assert [(t, w.rsplit(":", 1)[1]) for t, w in read_texts(str(blocks))] == [
        ("para one\nstill one", "1"), ("para two", "4")]


def test_parquet_lmsys_and_directory(tmp_path: Path) -> None:
    rows = [{"conversation": [{"role": "user", "content": f"question {i}"},
                              {"role": "assistant", "content": "answer"}]} for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "part-0.parquet")
    (tmp_path / "extra.jsonl").write_text(json.dumps({"text": "a plain jsonl doc"}) + "\n")
    texts = [t for t, _ in read_texts(str(tmp_path))]
    assert texts == ["a plain jsonl doc"] + [f"User: question {i}\n\nAssistant: answer" for i in range(3)]


def test_bad_input_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid JSON"):
        load_texts({"path": str(bad)})
    conv = tmp_path / "conv.jsonl"
    conv.write_text('{"conversation": [{"role": "user"}]}\n')
    with pytest.raises(DataError, match=r"conv\.jsonl:1: conversation\[0\] needs string 'role' and 'content'"):
        load_texts({"path": str(conv)})
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text('{"body": "x"}\n')
    with pytest.raises(DataError, match=r"nofield\.jsonl:1: field 'text' missing.*set dataset.text_field"):
        load_texts({"path": str(nofield)})
    with pytest.raises(DataError, match="no such file"):
        load_texts({"path": str(tmp_path / "missing.jsonl")})
    with pytest.raises(ConfigError, match="exactly one of 'path'"):
        load_texts({})


def test_everything_filtered_out_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "clean.txt"
    path.write_text("nothing personal here\nor here\n")
    with pytest.raises(DataError, match="no training texts left.*pii kept 0"):
        load_texts({"path": str(path), "pii_filter": True})


def test_dataset_name_without_datasets_package_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_datasets(name: str, *a, **kw):  # the package may or may not be installed here; make it absent
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(DataError, match=r"needs the 'datasets' package: pip install 'kiln-sae\[data\]'"):
        load_texts({"name": "lmsys/lmsys-chat-1m"})
