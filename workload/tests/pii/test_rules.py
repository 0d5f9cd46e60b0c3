"""The label rules (docs/pii-labels.md) as the generators, the scorer and the span checks apply them."""
from __future__ import annotations

import pytest

from kiln_sae.pii.evaluate import evaluate
from kiln_sae.pii.labels import Span
from kiln_sae.pii.rules import IGNORE, canonical, is_placeholder, map_presidio_evaluator


def _canon(text: str, value: str, label: str) -> str | None:
    start = text.index(value)
    c = canonical(text, Span(start, start + len(value), label))
    return None if c is None else text[c.start:c.end]


@pytest.mark.parametrize(("text", "value", "label", "expected"), [
    ("Dear Mr. Adebayo, hi", "Mr. Adebayo,", "PERSON", "Adebayo"),
    ("next to Clara's desk", "Clara's", "PERSON", "Clara"),
    ("call (0118) 4960919.", "(0118) 4960919.", "PHONE", "(0118) 4960919"),
    ("live at 12 Main St. now", "12 Main St.", "ADDRESS", "12 Main St."),
    ("mail me at a@b.org.", "a@b.org.", "EMAIL", "a@b.org"),
    ("<mailto:a@b.org>", "mailto:a@b.org", "EMAIL", "a@b.org"),
    ("pw: 'Purple4934*'", "'Purple4934*'", "PASSWORD", "Purple4934*"),
    ("name: \"Jo Li\"", "\"Jo Li\"", "PERSON", "Jo Li"),
])
def test_canonical_trims_to_the_documented_extent(text, value, label, expected):
    assert _canon(text, value, label) == expected


@pytest.mark.parametrize(("value", "label", "placeholder"), [
    ("user@example.com", "EMAIL", True), ("anna@gmail.com", "EMAIL", False),
    ("1-800-555-0199", "PHONE", True), ("+44 20 7946 0958", "PHONE", False),
    ("4111 1111 1111 1111", "CREDIT_CARD", True), ("4539 1488 0343 6467", "CREDIT_CARD", False),
    ("192.168.1.1", "IP_ADDRESS", True), ("10.2.0.8", "IP_ADDRESS", True), ("198.51.100.7", "IP_ADDRESS", True),
    ("83.24.117.201", "IP_ADDRESS", False), ("John Doe", "PERSON", True), ("Jonas Hartmann", "PERSON", False),
])
def test_placeholders_are_never_pii(value, label, placeholder):
    assert is_placeholder(value, label) is placeholder


def test_presidio_evaluator_parts_merge_and_unmapped_types_are_ignored():
    text = "Send it to 22 Elm Road, Springfield for Anna Berg at Acme Corp"
    raw = [{"start": 11, "end": 13, "type": "building_number"}, {"start": 14, "end": 22, "type": "street_name"},
           {"start": 24, "end": 35, "type": "city"}, {"start": 40, "end": 44, "type": "first_name"},
           {"start": 45, "end": 49, "type": "last_name"}, {"start": 53, "end": 62, "type": "organization"}]
    spans, ignore = map_presidio_evaluator(text, raw)
    assert [(text[s.start:s.end], s.label) for s in spans] == [
        ("22 Elm Road, Springfield", "ADDRESS"), ("Anna Berg", "PERSON")]
    assert [text[s.start:s.end] for s in ignore] == ["Acme Corp"] and ignore[0].label == IGNORE
    bare, ignored = map_presidio_evaluator("corner of Elm St. and Oak St.", [{"start": 10, "end": 16, "type": "street_name"}])
    assert bare == [] and len(ignored) == 1
    with pytest.raises(KeyError):
        map_presidio_evaluator("x", [{"start": 0, "end": 1, "type": "brand_new_type"}])


def test_presidio_evaluator_addresses_stay_whole_across_line_breaks():
    """Our rule (docs/pii-labels.md): a street address is one span with the city, region, country and
    postcode after it, even across line breaks; its templates write them as real or escaped (backslash-n)
    breaks. A ``nan`` value (a missing cell of its person table) is not a place."""
    text = "Ann Lee\\n\\n637 Elm Road\\n Suite 26\\n Svratka\\n Czech Republic 45098\\nFrom: nan"
    parts = [("637 Elm Road", "address"), ("Suite 26", "secondary_address"), ("Svratka", "city"),
             ("Czech Republic", "country"), ("45098", "postcode"), ("nan", "city")]
    raw = [{"start": text.index(v), "end": text.index(v) + len(v), "type": t} for v, t in parts]
    spans, ignore = map_presidio_evaluator(text, raw)
    assert [(text[s.start:s.end], s.label) for s in spans] == [
        ("637 Elm Road\\n Suite 26\\n Svratka\\n Czech Republic 45098", "ADDRESS")]
    assert [text[s.start:s.end] for s in ignore] == ["nan"]
    # a real line break joins a city to the street before it; words between them do not
    text2 = "I moved from 5 Oak St\nLeeds to Paris"
    raw2 = [{"start": 13, "end": 21, "type": "address"}, {"start": 22, "end": 27, "type": "city"},
            {"start": 31, "end": 36, "type": "city"}]
    spans2, _ = map_presidio_evaluator(text2, raw2)
    assert [(text2[s.start:s.end], s.label) for s in spans2] == [("5 Oak St\nLeeds", "ADDRESS"), ("Paris", "LOCATION")]
    # a missing state inside an address is skipped over, and one at its end is left out of the span
    text3 = "7584 Höfðastígur 86\\n Bolungarvík\\n nan\\n 415 and Hill Rd 9 GRIMSTAD nan"
    parts3 = [("7584 Höfðastígur 86", "address"), ("Bolungarvík", "city"), ("nan", "state"), ("415", "postcode"),
              ("Hill Rd 9", "address"), ("GRIMSTAD", "city")]
    raw3 = [{"start": text3.index(v), "end": text3.index(v) + len(v), "type": t} for v, t in parts3]
    raw3.append({"start": len(text3) - 3, "end": len(text3), "type": "state"})
    spans3, ignore3 = map_presidio_evaluator(text3, raw3)
    assert [text3[s.start:s.end] for s in spans3] == ["7584 Höfðastígur 86\\n Bolungarvík\\n nan\\n 415",
                                                      "Hill Rd 9 GRIMSTAD"]
    assert [text3[s.start:s.end] for s in ignore3] == ["nan", "nan"]
    # and one at the end of a single address value is cut off too
    text4 = "Send it to 7113 Nedre 238 Apt. 675 GRIMSTAD nan"
    spans4, ignore4 = map_presidio_evaluator(text4, [{"start": 11, "end": len(text4), "type": "address"}])
    assert [text4[s.start:s.end] for s in spans4] == ["7113 Nedre 238 Apt. 675 GRIMSTAD"]
    assert [text4[s.start:s.end] for s in ignore4] == ["nan"]


def test_scorer_canonicalises_ignores_and_scores_label_agnostic():
    text = "Dear Mr. Adebayo, call Acme Corp."
    gold = [[Span(9, 16, "PERSON")]]
    pred = [[Span(5, 17, "PERSON"), Span(23, 32, "LOCATION")]]  # "Mr. Adebayo," and a guess on an ignored org
    ignore = [[Span(23, 32, "IGNORE")]]
    rep = evaluate(gold, pred, match="exact", texts=[text], ignore=ignore)
    assert (rep.micro["tp"], rep.micro["fp"], rep.micro["fn"]) == (1, 0, 0)
    assert evaluate(gold, pred, match="exact").micro["tp"] == 0  # without the rules: an edge miss
    wrong_label = [[Span(9, 16, "USERNAME")]]
    assert evaluate(gold, wrong_label, texts=[text]).micro["f1"] == 0
    assert evaluate(gold, wrong_label, texts=[text], label_agnostic=True).micro["f1"] == 1
