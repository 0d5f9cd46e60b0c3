"""Labelled evaluation sets stored as files: the hand-written dev set and the presidio-evaluator set.

The dev set is written by hand in ``workload/tests/data/pii_dev.txt`` as messages with ``[[LABEL|value]]``
marks (readable, easy to correct), and kept beside it as ``pii_dev.jsonl`` with character offsets; a test
checks the two agree and that every span is canonical under the label rules.

    python -m kiln_sae.pii.devset            # rewrite pii_dev.jsonl from pii_dev.txt

JSONL rows: ``{"id", "text", "spans": [{start, end, label, text}], "ignore": [...]?}``.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from kiln_sae.errors import DataError
from kiln_sae.pii.generate import Example
from kiln_sae.pii.labels import LABELS, Span
from kiln_sae.pii.rules import IGNORE

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
DEV_MARKUP = DATA / "pii_dev.txt"
DEV_JSONL = DATA / "pii_dev.jsonl"
_MARK = re.compile(r"\[\[([A-Z_]+)\|(.*?)\]\]", re.DOTALL)


def parse_markup(source: str) -> list[tuple[str, list[Span]]]:
    """Messages and spans from the ``[[LABEL|value]]`` markup (messages separated by ``====`` lines).
    ``[[IGNORE|value]]`` marks an ignored region (an organisation; docs/pii-labels.md), returned as a span
    labelled IGNORE."""
    chunks = re.split(r"(?m)^====$", source)
    if chunks and all(not ln.strip() or ln.startswith("#") for ln in chunks[0].splitlines()):
        chunks = chunks[1:]  # the comment header
    out = []
    for raw in chunks:
        raw = raw.strip("\n")
        if not raw.strip():
            continue
        text, spans, pos = [], [], 0
        length = 0
        for m in _MARK.finditer(raw):
            text.append(raw[pos:m.start()])
            length += m.start() - pos
            label, value = m.group(1), m.group(2)
            if label not in LABELS and label != IGNORE:
                raise DataError(f"pii_dev.txt: unknown label {label!r} in {raw[:60]!r}")
            spans.append(Span(length, length + len(value), label))
            text.append(value)
            length += len(value)
            pos = m.end()
        text.append(raw[pos:])
        out.append(("".join(text), spans))
    return out


def load_jsonl(path: str | Path, split: str = "dev") -> list[Example]:
    """Examples from a labelled JSONL set; ``ignore`` regions go to ``meta["ignore"]``."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            spans = [Span(int(s["start"]), int(s["end"]), str(s["label"])) for s in row["spans"]]
            ignore = [Span(int(s["start"]), int(s["end"]), IGNORE) for s in row.get("ignore", [])]
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}:{n}: not a labelled message ({e})") from e
        out.append(Example(text=row["text"], spans=sorted(spans), template=str(row.get("template_id", row.get("id", n))),
                           genre=str(row.get("genre", split)), split=split, locale=str(row.get("lang", "en")),
                           meta={"id": row.get("id", n), "ignore": ignore}))
    return out


def write_dev_jsonl(markup: Path = DEV_MARKUP, out: Path = DEV_JSONL) -> int:
    rows = parse_markup(markup.read_text(encoding="utf-8"))
    with out.open("w", encoding="utf-8") as fh:
        for i, (text, spans) in enumerate(rows):
            row: dict[str, object] = {"id": f"dev-{i:03d}", "text": text,
                                      "spans": [s.to_dict(text) for s in spans if s.label != IGNORE]}
            ignore = [s for s in spans if s.label == IGNORE]
            if ignore:
                row["ignore"] = [{"start": s.start, "end": s.end, "text": text[s.start:s.end]} for s in ignore]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


if __name__ == "__main__":
    print(f"wrote {write_dev_jsonl()} messages to {DEV_JSONL}")
    sys.exit(0)
