"""The span evaluator against hand-computed values."""
from __future__ import annotations

import pytest

from kiln_sae.pii.evaluate import evaluate, iou
from kiln_sae.pii.labels import Span


def test_iou():
    assert iou(Span(0, 10, "A"), Span(5, 15, "A")) == pytest.approx(5 / 15)
    assert iou(Span(0, 10, "A"), Span(10, 20, "A")) == 0.0
    assert iou(Span(2, 8, "A"), Span(0, 10, "A")) == pytest.approx(0.6)


def test_exact_and_overlap_with_partial_overlaps_and_duplicates():
    gold = [[Span(0, 10, "PERSON"), Span(20, 30, "EMAIL")], [Span(0, 5, "PHONE")]]
    pred = [
        [Span(0, 10, "PERSON"), Span(0, 10, "PERSON"),  # exact hit + duplicate
         Span(22, 30, "EMAIL")],  # partial: IoU 0.8
        [Span(0, 2, "PHONE"),  # partial: IoU 0.4 < 0.5
         Span(40, 45, "EMAIL")],  # spurious
    ]
    exact = evaluate(gold, pred, match="exact")
    # exact: tp=1 (PERSON), fp=4, fn=2
    assert (exact.micro["tp"], exact.micro["fp"], exact.micro["fn"]) == (1, 4, 2)
    assert exact.micro["precision"] == pytest.approx(1 / 5)
    assert exact.micro["recall"] == pytest.approx(1 / 3)
    assert exact.micro["f1"] == pytest.approx(2 * 0.2 * (1 / 3) / (0.2 + 1 / 3))
    over = evaluate(gold, pred, match="overlap")
    # overlap: PERSON tp1 fp1(dup); EMAIL tp1 fp1(spurious); PHONE fn1 fp1 (IoU 0.4)
    assert (over.micro["tp"], over.micro["fp"], over.micro["fn"]) == (2, 3, 1)
    p, r = 2 / 5, 2 / 3
    assert over.micro["f1"] == pytest.approx(2 * p * r / (p + r))
    assert over.micro["f2"] == pytest.approx(5 * p * r / (4 * p + r))
    assert over.per_label["PERSON"]["precision"] == pytest.approx(0.5)
    assert over.per_label["PHONE"]["recall"] == 0.0
    assert over.per_label["EMAIL"]["f1"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    errors = dict(over.errors)
    assert errors == {"duplicate PERSON": 1, "spurious EMAIL": 1, "boundary PHONE": 1}


def test_wrong_label_counts_as_fp_and_fn_and_is_named():
    rep = evaluate([[Span(0, 16, "CREDIT_CARD")]], [[Span(0, 16, "IBAN")]])
    assert (rep.micro["tp"], rep.micro["fp"], rep.micro["fn"]) == (0, 1, 1)
    assert rep.errors == [("CREDIT_CARD labelled IBAN", 1)]
    assert rep.micro["f1"] == 0.0


def test_matching_is_one_to_one_and_prefers_the_best_iou():
    gold = [[Span(0, 10, "PERSON"), Span(11, 20, "PERSON")]]
    pred = [[Span(0, 20, "PERSON")]]  # IoU 0.5 with the first, 0.45 with the second
    rep = evaluate(gold, pred)
    assert (rep.micro["tp"], rep.micro["fp"], rep.micro["fn"]) == (1, 0, 1)


def test_empty_inputs_and_labels_listed_without_support():
    rep = evaluate([[]], [[]], labels=["PERSON"])
    assert rep.micro["f1"] == 0.0 and rep.per_label["PERSON"]["support"] == 0
    with pytest.raises(ValueError):
        evaluate([[]], [[]], match="fuzzy")
