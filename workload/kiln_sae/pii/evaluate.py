"""One span evaluator for every system: precision, recall, F1 and F2 per label and micro-averaged, under
exact match and under overlap (IoU >= 0.5, same label, one-to-one), plus the commonest error kinds.

Matching is one-to-one: each gold span can be matched by at most one prediction, so a duplicated
prediction is one true positive and one false positive.

With ``texts``, gold and predicted spans are first canonicalised by the label rules
(``kiln_sae.pii.rules.canonical``: the same edge rules the generators and docs/pii-labels.md use), so a
trailing period or an honorific never decides a match. ``ignore`` regions (per document) are parts of the
text an external data set marks with a type that has no Kiln label: an unmatched prediction overlapping one
is dropped, neither a hit nor a false positive.

``label_agnostic=True`` scores "is this PII" only: every label is replaced by ``PII`` before matching."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kiln_sae.pii.labels import Span


def iou(a: Span, b: Span) -> float:
    inter = min(a.end, b.end) - max(a.start, b.start)
    if inter <= 0:
        return 0.0
    return inter / (max(a.end, b.end) - min(a.start, b.start))


def _scores(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0

    def f(beta: float) -> float:
        b2 = beta * beta
        return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0

    return {"precision": p, "recall": r, "f1": f(1.0), "f2": f(2.0), "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}


@dataclass
class SpanReport:
    match: str
    micro: dict[str, float | int]
    per_label: dict[str, dict[str, float | int]]
    errors: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"match": self.match, "micro": self.micro, "per_label": self.per_label,
                "errors": [{"error": e, "count": n} for e, n in self.errors]}


def _match(gold: Sequence[Span], pred: Sequence[Span], mode: str, min_iou: float) -> list[tuple[int, int]]:
    if mode == "exact":
        pairs = [(1.0, gi, pi) for gi, g in enumerate(gold) for pi, p in enumerate(pred) if g == p]
    else:
        pairs = [(iou(g, p), gi, pi) for gi, g in enumerate(gold) for pi, p in enumerate(pred)
                 if g.label == p.label and iou(g, p) >= min_iou]
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))  # best IoU first, ties by position: deterministic
    used_g: set[int] = set()
    used_p: set[int] = set()
    matched = []
    for _, gi, pi in pairs:
        if gi not in used_g and pi not in used_p:
            used_g.add(gi)
            used_p.add(pi)
            matched.append((gi, pi))
    return matched


def evaluate(gold_docs: Iterable[Sequence[Span]], pred_docs: Iterable[Sequence[Span]], *, match: str = "overlap",
             min_iou: float = 0.5, labels: Sequence[str] | None = None, top_errors: int = 10,
             texts: Sequence[str] | None = None, ignore: Sequence[Sequence[Span]] | None = None,
             label_agnostic: bool = False) -> SpanReport:
    """Score predicted spans against gold spans, document by document (the iterables are parallel)."""
    if match not in ("exact", "overlap"):
        raise ValueError(f"match must be 'exact' or 'overlap', got {match!r}")
    gold_docs, pred_docs = list(gold_docs), list(pred_docs)
    if texts is not None:
        from kiln_sae.pii.rules import canonical_spans

        gold_docs = [canonical_spans(t, g) for t, g in zip(texts, gold_docs, strict=True)]
        pred_docs = [canonical_spans(t, p) for t, p in zip(texts, pred_docs, strict=True)]
    if label_agnostic:
        gold_docs = [[Span(s.start, s.end, "PII") for s in g] for g in gold_docs]
        pred_docs = [[Span(s.start, s.end, "PII") for s in p] for p in pred_docs]
        labels = ["PII"]
    ignore_docs = list(ignore) if ignore is not None else [[] for _ in gold_docs]
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    seen: set[str] = set(labels or ())
    for gold, pred, skip in zip(gold_docs, pred_docs, ignore_docs, strict=True):
        gold, pred = list(gold), list(pred)
        matched = _match(gold, pred, match, min_iou)
        if skip:
            hit = {pi for _, pi in matched}
            keep = [pi for pi, p in enumerate(pred) if pi in hit or not any(iou(r, p) > 0 for r in skip)]
            pred = [pred[pi] for pi in keep]
            matched = _match(gold, pred, match, min_iou)
        mg = {g for g, _ in matched}
        mp = {p for _, p in matched}
        for gi, _ in matched:
            tp[gold[gi].label] += 1
        for gi, g in enumerate(gold):
            seen.add(g.label)
            if gi not in mg:
                fn[g.label] += 1
                errors[_explain_miss(g, [p for pi, p in enumerate(pred) if pi not in mp])] += 1
        for pi, p in enumerate(pred):
            seen.add(p.label)
            if pi not in mp:
                fp[p.label] += 1
                if not any(iou(g, p) > 0 for g in gold):
                    errors[f"spurious {p.label}"] += 1
                elif any(g == p for g in gold) or any(iou(g, p) > 0 and g.label == p.label and gi in mg
                                                      for gi, g in enumerate(gold)):
                    errors[f"duplicate {p.label}"] += 1
    order = list(labels) if labels else sorted(seen)
    per_label = {lab: _scores(tp[lab], fp[lab], fn[lab]) for lab in order}
    micro = _scores(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return SpanReport(match=match, micro=micro, per_label=per_label, errors=errors.most_common(top_errors))


def _explain_miss(g: Span, unmatched_preds: list[Span]) -> str:
    overlapping = [p for p in unmatched_preds if iou(g, p) > 0]
    if not overlapping:
        return f"missed {g.label}"
    best = max(overlapping, key=lambda p: iou(g, p))
    if best.label != g.label:
        return f"{g.label} labelled {best.label}"
    return f"boundary {g.label}"
