"""Dataset readers: LMSYS-style chat (JSONL/Parquet), JSONL with a text field, plain text, or a Hugging Face
dataset by name; then PII-rich filtering, exact de-duplication, ``subset_size`` and a train/val split.

Every choice is deterministic so a restarted run (or another DDP rank) sees the same texts in the same
split:
- de-duplication keys on the SHA-1 of the whitespace-normalised text (``" ".join(text.split())``);
- the split puts a text in ``val`` when the first 8 bytes of that hash, read as a fraction of 2⁶⁴, are
  below ``val_fraction`` — so adding data never moves an existing text across the split;
- ``subset_size`` keeps the first N texts (in file order) that survive filtering and de-duplication, and
  stops reading there.

Plain text: one document per blank-line-separated block when the file contains a blank line, otherwise
one document per line.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kiln_sae.chat import render_conversation
from kiln_sae.errors import ConfigError, DataError
from kiln_sae.pii_filter import PiiRichFilter

FORMATS = ("auto", "lmsys", "jsonl", "text", "parquet")
_JSONL_EXT = (".jsonl", ".json", ".ndjson")
_TEXT_EXT = (".txt", ".text", ".md")
_PARQUET_EXT = (".parquet",)


def cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    """Read a config field from a dict or an attribute object (kiln_sae.config's dataclass)."""
    if isinstance(cfg, Mapping):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def normalised_hash(text: str) -> bytes:
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).digest()


def is_val(text_hash: bytes, val_fraction: float) -> bool:
    return int.from_bytes(text_hash[:8], "big") / 2**64 < val_fraction


def _files_in(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        known = _JSONL_EXT + _TEXT_EXT + _PARQUET_EXT
        files = sorted(os.path.join(root, f) for root, _d, fs in os.walk(path) for f in fs if f.endswith(known))
        if not files:
            raise DataError(f"{path}: directory has no .jsonl/.json/.txt/.parquet files")
        return files
    raise DataError(f"{path}: no such file or directory")


def _record_text(record: Any, fmt: str, text_field: str, where: str) -> str:
    if not isinstance(record, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if fmt == "lmsys" or (fmt == "auto" and "conversation" in record):
        if "conversation" not in record:
            raise DataError(f"{where}: format lmsys needs a 'conversation' field")
        return render_conversation(record["conversation"], where)
    value = record.get(text_field)
    if not isinstance(value, str):
        raise DataError(f"{where}: field {text_field!r} missing or not a string "
                        f"(fields: {', '.join(map(str, list(record)[:8]))}); set dataset.text_field")
    return value


def _read_jsonl(path: str, fmt: str, text_field: str) -> Iterator[tuple[str, str]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from e
            yield _record_text(record, fmt, text_field, where), where


def _read_text(path: str) -> Iterator[tuple[str, str]]:
    try:
        with open(path, encoding="utf-8") as fh:
            content = fh.read()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from e
    lines = content.split("\n")
    blocks = any(not ln.strip() for ln in lines[:-1]) and "\n\n" in content.strip()
    start, buf = 1, []
    for lineno, line in enumerate(lines, 1):
        if not blocks:
            if line.strip():
                yield line, f"{path}:{lineno}"
            continue
        if line.strip():
            if not buf:
                start = lineno
            buf.append(line)
        elif buf:
            yield "\n".join(buf), f"{path}:{start}"
            buf = []
    if buf:
        yield "\n".join(buf), f"{path}:{start}"


def _read_parquet(path: str, fmt: str, text_field: str) -> Iterator[tuple[str, str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install 'kiln-sae[data]'") from e
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError variants for corrupt files
        raise DataError(f"{path}: not a readable Parquet file ({e})") from e
    row = 0
    for batch in pf.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            row += 1
            yield _record_text(record, fmt, text_field, f"{path}:row {row}"), f"{path}:row {row}"


def read_texts(path: str, fmt: str = "auto", text_field: str = "text") -> Iterator[tuple[str, str]]:
    """Yield ``(text, where)`` for every document under ``path`` (a file or a directory, read sorted)."""
    if fmt not in FORMATS:
        raise ConfigError(f"dataset.format: {fmt!r} is not one of {', '.join(FORMATS)}")
    for file in _files_in(path):
        if fmt == "parquet" or (fmt in ("auto", "lmsys") and file.endswith(_PARQUET_EXT)):
            yield from _read_parquet(file, fmt, text_field)
        elif fmt == "text" or (fmt == "auto" and not file.endswith(_JSONL_EXT)):
            yield from _read_text(file)
        else:
            yield from _read_jsonl(file, fmt, text_field)


def read_hf_dataset(name: str, split: str, fmt: str, text_field: str) -> Iterator[tuple[str, str]]:
    """Stream a dataset by name through ``datasets`` (on machines that can reach the Hub)."""
    try:
        import datasets
    except ImportError as e:
        raise DataError(f"dataset.name {name!r} needs the 'datasets' package: pip install 'kiln-sae[data]', "
                        "or download it and set dataset.path") from e
    try:
        stream = datasets.load_dataset(name, split=split, streaming=True)
    except Exception as e:  # hub/network/auth errors come in many classes; the message is what helps
        raise DataError(f"dataset.name {name!r} (split {split!r}) could not be loaded: {e}. Gated datasets such "
                        "as lmsys/lmsys-chat-1m need HF_TOKEN and an accepted licence.") from e
    for i, record in enumerate(stream):
        yield _record_text(record, fmt, text_field, f"{name}[{split}]#{i}"), f"{name}[{split}]#{i}"


@dataclass
class DataReport:
    """Counts printed by ``prepare`` and emitted in its metrics: how many documents went where."""

    read: int = 0
    empty: int = 0
    duplicates: int = 0
    pii_filter: dict[str, Any] | None = None
    subset_reached: bool = False
    train: int = 0
    val: int = 0
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "empty": self.empty, "duplicates": self.duplicates,
                "pii_filter": self.pii_filter, "subset_reached": self.subset_reached,
                "train": self.train, "val": self.val}


@dataclass
class PreparedTexts:
    train: list[str]
    val: list[str]
    report: DataReport


def load_texts(dataset: Any) -> PreparedTexts:
    """Read, filter, de-duplicate, cap and split a ``dataset:`` config section (dict or object)."""
    path, name = cfg_get(dataset, "path"), cfg_get(dataset, "name")
    if (path is None) == (name is None):
        raise ConfigError("dataset: set exactly one of 'path' (local file/dir) or 'name' (HF dataset)")
    fmt = cfg_get(dataset, "format", "auto") or "auto"
    text_field = cfg_get(dataset, "text_field", "text") or "text"
    subset = cfg_get(dataset, "subset_size")
    val_fraction = float(cfg_get(dataset, "val_fraction", 0.05))
    dedupe = bool(cfg_get(dataset, "dedupe", True))
    pii = PiiRichFilter() if cfg_get(dataset, "pii_filter", False) else None
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"dataset.val_fraction: {val_fraction} must be in [0, 1)")
    source = (read_texts(str(path), fmt, text_field) if path is not None
              else read_hf_dataset(str(name), cfg_get(dataset, "split", "train") or "train", fmt, text_field))
    report = DataReport(sources=[str(path or name)])
    seen: set[bytes] = set()
    train: list[str] = []
    val: list[str] = []
    for text, _where in source:
        report.read += 1
        if not text.strip():
            report.empty += 1
            continue
        digest = normalised_hash(text)
        if dedupe:
            if digest in seen:
                report.duplicates += 1
                continue
            seen.add(digest)
        if pii is not None and not pii.keep(text):
            continue
        (val if is_val(digest, val_fraction) else train).append(text)
        if subset is not None and len(train) + len(val) >= int(subset):
            report.subset_reached = True
            break
    report.pii_filter = pii.report.as_dict() if pii is not None else None
    report.train, report.val = len(train), len(val)
    if not train:
        raise DataError(f"{path or name}: no training texts left (read {report.read}, empty {report.empty}, "
                        f"duplicates {report.duplicates}, pii kept "
                        f"{pii.report.kept if pii else 'n/a'})")
    return PreparedTexts(train, val, report)
