"""The Presidio baseline runs offline with the PyPI spaCy model and maps its entities onto our labels."""
from __future__ import annotations

import pytest

from kiln_sae.pii.labels import LABELS, Span
from kiln_sae.pii.presidio_baseline import ENTITY_MAP, _drop_nested

pytest.importorskip("presidio_analyzer", reason="the 'baseline' extra (presidio-analyzer) is not installed")


def test_entity_map_targets_only_our_labels():
    assert set(ENTITY_MAP.values()) <= set(LABELS)


def test_nested_spans_keep_the_outer_one():
    spans = [Span(0, 20, "EMAIL"), Span(5, 20, "URL_PERSONAL"), Span(25, 30, "PERSON")]
    assert _drop_nested(spans) == [Span(0, 20, "EMAIL"), Span(25, 30, "PERSON")]


def test_presidio_finds_an_email_and_a_card_with_our_labels():
    from kiln_sae.pii.presidio_baseline import PresidioBaseline

    text = "Write to anna.schmidt@gmail.com, card 4111 1111 1111 1111."
    (spans,) = PresidioBaseline().predict([text])
    found = {(text[s.start:s.end], s.label) for s in spans}
    assert ("anna.schmidt@gmail.com", "EMAIL") in found
    assert ("4111 1111 1111 1111", "CREDIT_CARD") in found
