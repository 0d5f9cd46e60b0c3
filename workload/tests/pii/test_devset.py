"""The hand-written dev set: the JSONL offsets match the hand-marked source, and every span obeys the rules."""
from __future__ import annotations

import json
from collections import Counter

from kiln_sae.pii.devset import DEV_JSONL, DEV_MARKUP, load_jsonl, parse_markup
from kiln_sae.pii.labels import LABELS, Span
from kiln_sae.pii.rules import canonical, is_placeholder


def test_jsonl_offsets_are_the_hand_marked_spans():
    marked = parse_markup(DEV_MARKUP.read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in DEV_JSONL.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(marked) >= 100
    for row, (text, spans) in zip(rows, marked, strict=True):
        assert row["text"] == text
        assert [(s["start"], s["end"], s["label"]) for s in row["spans"]] == [
            (s.start, s.end, s.label) for s in spans if s.label != "IGNORE"]
        assert [(s["start"], s["end"]) for s in row.get("ignore", [])] == [
            (s.start, s.end) for s in spans if s.label == "IGNORE"]
        for s in row["spans"] + row.get("ignore", []):
            assert row["text"][s["start"]:s["end"]] == s["text"]
    ignored = [s["text"] for row in rows for s in row.get("ignore", [])]
    assert "University of Ghana" in ignored and "Datastack" in ignored  # organisations: scored neither way


def test_every_span_is_canonical_and_not_a_placeholder_and_spans_do_not_overlap():
    for ex in load_jsonl(DEV_JSONL):
        prev = -1
        for s in ex.spans:
            assert canonical(ex.text, s) == s, (ex.meta["id"], s, ex.text[s.start:s.end])
            assert not is_placeholder(ex.text[s.start:s.end], s.label), (ex.meta["id"], s)
            assert s.start >= prev
            prev = s.end


def test_the_set_covers_every_label_and_has_look_alike_negatives():
    examples = load_jsonl(DEV_JSONL)
    counts = Counter(s.label for ex in examples for s in ex.spans)
    assert set(counts) == set(LABELS)
    negatives = [ex for ex in examples if not ex.spans]
    assert 0.12 <= len(negatives) / len(examples) <= 0.35
    assert any("example.com" in ex.text for ex in negatives) and any("4111" in ex.text for ex in negatives)


def test_markup_parser_places_offsets_exactly():
    (text, spans), = parse_markup("====\nhi [[PERSON|Ann Lee]], mail [[EMAIL|a@b.co]]!")
    assert text == "hi Ann Lee, mail a@b.co!"
    assert spans == [Span(3, 10, "PERSON"), Span(17, 23, "EMAIL")]


def test_markup_ignore_marks_are_regions_not_labels():
    (text, spans), = parse_markup("====\nI work at [[IGNORE|Kitzmann GmbH]] with [[PERSON|Ann]]")
    assert text == "I work at Kitzmann GmbH with Ann"
    assert spans == [Span(10, 23, "IGNORE"), Span(29, 32, "PERSON")]
