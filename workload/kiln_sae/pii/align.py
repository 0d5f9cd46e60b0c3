"""Character spans <-> per-token BIO tags, using the tokenizer's character offsets.

Tokens are matched to spans by overlap, so sub-word pieces, emoji, CJK and combining marks (which a fast
tokenizer may merge, split or map to [UNK]) all take the label of the characters they cover. Decoding goes
the other way: consecutive tagged tokens become one span, a word split into sub-words is kept whole, and
surrounding whitespace and punctuation are trimmed.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from kiln_sae.pii.escape import shown_line_breaks
from kiln_sae.pii.labels import LABELS, OUTSIDE, TAGS, Span, begin_tag, inside_tag, is_begin

IGNORE = -100  # special and zero-width tokens: no label, excluded from the loss
_TRIM = " \t\r\n\u00a0,;:!?\"'`()[]{}<>|*"


def bio_tags(offsets: np.ndarray, valid: np.ndarray, spans: Sequence[Span],
             ignore: Sequence[Span] = ()) -> np.ndarray:
    """``[T]`` int tags. ``offsets`` is ``[T, 2]`` char ranges, ``valid`` is ``[T]`` bool (False for special
    tokens and padding). A token overlapping span S is B-S if it is the first such token, else I-S. Tokens
    inside an ``ignore`` region (and not in a span) get IGNORE: no training signal either way."""
    tags = np.full(len(offsets), OUTSIDE, dtype=np.int64)
    tags[~valid] = IGNORE
    tags[(offsets[:, 1] <= offsets[:, 0]) & valid] = IGNORE
    for region in ignore:
        tags[(offsets[:, 0] < region.end) & (offsets[:, 1] > region.start)] = IGNORE
    for span in sorted(spans):
        hit = np.nonzero(valid & (offsets[:, 0] < span.end) & (offsets[:, 1] > span.start)
                         & (offsets[:, 1] > offsets[:, 0]))[0]
        if len(hit) == 0:
            continue
        tags[hit] = inside_tag(span.label)
        tags[hit[0]] = begin_tag(span.label)
    return tags


def trim_edges(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return start, end


_ESCAPE_LETTERS = "ntr"
_KEEP_BACKSLASHES = frozenset(("USERNAME", "PASSWORD"))  # C:\Users\nina; a secret may hold any character


def _escape_at(text: str, i: int) -> bool:
    """Whether ``text[i:i + 2]`` is an escaped line break or tab (``\\n``, ``\\t``, ``\\r`` written out): a
    backslash that is not itself escaped (an odd run of them), then the letter."""
    if not (0 <= i < len(text) - 1 and text[i] == "\\" and text[i + 1] in _ESCAPE_LETTERS):
        return False
    run = 0
    while i - run >= 0 and text[i - run] == "\\":
        run += 1
    return run % 2 == 1


def _unescape_edges(text: str, start: int, end: int) -> tuple[int, int]:
    r"""Cut escaped line breaks (``\n``, ``\t``, ``\r`` written out, as in a JSON string) off a span's edges.
    MiniLM's tokenizer glues the escape's letter to the next word ("\nImmune" -> "\", "ni", ...), so a span
    decoded from whole tokens starts with it, and "n723 813 266" is no phone to the validator. An escaped
    backslash is data ("C:\\new" is a backslash, then "new")."""
    while True:
        s0, e0 = start, end
        if end - start > 2 and _escape_at(text, start):
            start, end = trim_edges(text, start + 2, end)
        elif end - start > 1 and _escape_at(text, start - 1):
            start, end = trim_edges(text, start + 1, end)
        if end - start > 2 and _escape_at(text, end - 2):
            start, end = trim_edges(text, start, end - 2)
        elif end - start > 1 and _escape_at(text, end - 1):
            start, end = trim_edges(text, start, end - 1)
        if (start, end) == (s0, e0):
            return start, end


def _glued(text: str, left_end: int, right_start: int, grow_right: bool) -> bool:
    """An untagged neighbour belongs to the span when nothing separates them, the neighbour starts (or
    ends) with a letter or digit, and the span's edge is not a delimiter: "john@x." + "io", "Müll" + "er"."""
    if left_end != right_start or not 0 < left_end < len(text):
        return False
    inner, outer = (text[left_end - 1], text[right_start]) if grow_right else (text[right_start], text[left_end - 1])
    return outer.isalnum() and inner not in _TRIM


_MULTILINE = LABELS.index("ADDRESS")  # the one label whose values span lines ("12 High St\nLeeds")


def _word_end(text: str, offsets: np.ndarray, toks: list[int]) -> int:
    """End of the last segment token that holds a letter or digit (trailing punctuation counts as gap)."""
    for t in reversed(toks):
        if any(c.isalnum() for c in text[int(offsets[t, 0]):int(offsets[t, 1])]):
            return int(offsets[t, 1])
    return int(offsets[toks[-1], 1])


_LIST_SEPARATORS = (",", ";", "|")
_NO_SPLIT = {frozenset(("ADDRESS", "LOCATION"))}  # a city inside an address is part of it (docs/pii-labels.md)
_SHAPES = (
    ("EMAIL", re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("URL_PERSONAL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"'|,;]+")),
    ("IP_ADDRESS", re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")),
)
SPLIT_SHARE = 0.6  # a word's own label needs this share of its entity mass to split a segment


def _breaks(gap: str, seg_mass: np.ndarray, tok_mass: np.ndarray, split: bool = False) -> bool:
    """Whether a token after a gap starts a new segment even though it is tagged I-: a tab or a line break
    ("Jane Doe\t0171 ...", a CSV row, a signature) unless both sides are ADDRESS across a line break, or a
    different label across punctuation ("Jane Doe, jane@x.org"). Splitting on any label change between
    words was worse on val: sub-word labels are too noisy."""
    seg, tok = int(np.argmax(seg_mass)), int(np.argmax(tok_mass))
    if "\t" in gap or ("\n" in gap and not seg == tok == _MULTILINE):
        return True
    if split and seg == _MULTILINE and frozenset((LABELS[seg], LABELS[tok])) in _NO_SPLIT:
        return False  # "12 High Street, Leeds": the city ends the address (docs/pii-labels.md)
    if split and seg != _MULTILINE and any(c in gap for c in _LIST_SEPARATORS):
        return True  # "Anna Roth, Ben Ode" / "a@x.org; b@y.org": a list is several entities
    return seg != tok and gap.strip() != ""


def _words(text: str, offsets: np.ndarray, toks: list[int]) -> list[list[int]]:
    """Tokens grouped into words: consecutive tokens with no gap between them."""
    words: list[list[int]] = []
    for t in toks:
        if words and int(offsets[words[-1][-1], 1]) == int(offsets[t, 0]):
            words[-1].append(t)
        else:
            words.append([t])
    return words


def split_run_on(text: str, offsets: np.ndarray, toks: list[int], label_mass: np.ndarray) -> list[list[int]]:
    """Cut one decoded segment where one entity ends and the next begins (a run-on span: "Jane Roe
    jane@roe.net", "Tom Ek 0171 555 2020"). Two signals: (1) a value shape (e-mail, URL, IPv4) that covers
    only part of the segment is its own piece; (2) between two words, where the next word's own label
    (its tokens' summed mass, at least ``SPLIT_SHARE`` of it) differs from the piece so far, also
    confidently labelled — except ADDRESS next to LOCATION, which the label rules join."""
    lo, hi = int(offsets[toks[0], 0]), int(offsets[toks[-1], 1])
    seg = text[lo:hi]
    cuts: list[tuple[int, int]] = []
    for _label, rx in _SHAPES:
        for m in rx.finditer(seg):
            a, b = lo + m.start(), lo + m.end()
            while b > a and text[b - 1] in ".,;:":
                b -= 1
            if any(c.isalnum() for c in text[lo:a]) or any(c.isalnum() for c in text[b:hi]):
                cuts.append((a, b))
    if cuts:
        groups: list[list[int]] = []
        key_prev = None
        for t in toks:
            s0 = int(offsets[t, 0])
            key = next((i for i, (a, b) in enumerate(cuts) if a <= s0 < b), None)
            if not groups or key != key_prev:
                groups.append([t])
            else:
                groups[-1].append(t)
            key_prev = key
        return [p for g in groups for p in split_run_on_words(text, offsets, g, label_mass)]
    return split_run_on_words(text, offsets, toks, label_mass)


def split_run_on_words(text: str, offsets: np.ndarray, toks: list[int], label_mass: np.ndarray) -> list[list[int]]:
    words = _words(text, offsets, toks)
    pieces: list[list[int]] = [list(words[0])]
    for w in words[1:]:
        piece_mass = label_mass[pieces[-1]].sum(0)
        word_mass = label_mass[w].sum(0)
        a, b = int(np.argmax(piece_mass)), int(np.argmax(word_mass))
        confident = (word_mass[b] >= SPLIT_SHARE * word_mass.sum() and
                     piece_mass[a] >= SPLIT_SHARE * piece_mass.sum())
        if a != b and confident and frozenset((LABELS[a], LABELS[b])) not in _NO_SPLIT:
            pieces.append(list(w))
        else:
            pieces[-1].extend(w)
    return pieces


def decode_spans(text: str, offsets: np.ndarray, valid: np.ndarray, probs: np.ndarray,
                 threshold: float = 0.5,
                 resolver: Callable[[str, list[str]], str | None] | None = None,
                 extend: float | None = None, split: bool = False,
                 label_seeds: dict[str, float] | None = None,
                 core: Callable[[str, str], tuple[int, int] | None] | None = None) -> list[tuple[Span, float]]:
    """Token tag probabilities ``[T, n_tags]`` -> character spans with a score.

    ``resolver(span_text, ranked_labels)`` (e.g. ``validate.resolve``) may relabel or drop a span; before it,
    ``core(span_text, top_label)`` (e.g. ``validate.value_core``) may narrow the span to the value inside it.

    Two steps, because a linear probe is good at "this token is PII" but noisy about *which* PII on each
    sub-word: (1) tokens with P(not O) >= threshold form segments; a segment continues over a token glued to
    it (no gap) or tagged I-, and a B- token after a gap starts a new one; (2) each segment takes the label
    with the most probability mass over its tokens (B- and I- summed), and its score is the mean P(not O).
    Words are kept whole (untagged sub-word neighbours are pulled in), edges are trimmed.

    ``extend`` (< threshold) adds hysteresis: a segment is any run of tokens with P(not O) >= extend that
    holds at least one token >= threshold, so the weaker half of "Michael Bennett" joins the stronger.

    ``split`` breaks run-on segments at entity boundaries (``split_run_on``) and at list separators.

    ``label_seeds`` (label -> seed threshold, normally below ``threshold``) decodes some labels more
    leniently: a segment needs one token >= the lowest seed in play, and each span it yields is kept only if
    the segment's strongest token reaches its own label's seed (``threshold`` for labels not listed). Without
    it (or with every seed equal to ``threshold``) decoding is exactly as before."""
    out: list[tuple[Span, float]] = []
    idx = [i for i in range(len(probs)) if valid[i] and offsets[i, 1] > offsets[i, 0]]
    entity = 1.0 - probs[:, OUTSIDE]
    label_mass = probs[:, 1::2] + probs[:, 2::2]  # [T, n_labels]
    cur: list[int] = []

    seeds = {k: float(v) for k, v in (label_seeds or {}).items() if float(v) != threshold}
    gate = min([threshold, *seeds.values()])  # a segment needs one token at least this strong
    low = gate if extend is None else min(extend, gate)

    def close() -> None:
        nonlocal cur
        if not cur or max(entity[cur]) < gate:
            cur = []
            return
        toks = list(cur)
        # Keep words whole: pull in untagged sub-word neighbours glued to the span's ends.
        pos = idx.index(toks[0])
        while pos > 0 and _glued(text, int(offsets[idx[pos - 1], 1]), int(offsets[toks[0], 0]), False):
            pos -= 1
            toks.insert(0, idx[pos])
        pos = idx.index(toks[-1])
        while pos + 1 < len(idx) and _glued(text, int(offsets[toks[-1], 1]), int(offsets[idx[pos + 1], 0]), True):
            pos += 1
            toks.append(idx[pos])
        pieces = split_run_on(text, offsets, toks, label_mass) if split else [toks]
        tagged = set(cur)
        for piece in pieces:
            start, end = trim_edges(text, int(offsets[piece[0], 0]), int(offsets[piece[-1], 1]))
            if end <= start:
                continue
            own = [t for t in piece if t in tagged] or piece
            mass = label_mass[own].sum(axis=0)
            order = np.argsort(-mass)
            label: str | None = LABELS[int(order[0])]
            # Escapes are cut off before the resolver sees the value ("n723 813 266" is no phone), and put back
            # when the label decided on is one whose values may hold backslashes.
            cut = _unescape_edges(text, start, end)
            if cut[1] <= cut[0]:  # nothing but escapes: not a value
                continue
            if resolver is not None:
                # Runners-up count only with at least a quarter of the winner's mass.
                ranked = [LABELS[int(j)] for j in order[:3] if mass[j] >= 0.25 * mass[order[0]]]
                inner = core(text[cut[0]:cut[1]], ranked[0]) if core is not None else None
                if inner is not None:  # the label is decided on the narrowed value, so that is the span
                    cut = start, end = (cut[0] + inner[0], cut[0] + inner[1])
                label = resolver(text[cut[0]:cut[1]], ranked)
            if label not in _KEEP_BACKSLASHES:
                start, end = cut
            if end <= start:
                continue
            if label is not None and seeds and max(entity[cur]) < seeds.get(label, threshold):
                label = None  # this label's own seed threshold is not reached
            if label is not None:
                out.append((Span(start, end, label), float(np.mean(entity[own]))))
        cur = []

    for i in idx:
        if entity[i] < low:
            close()
            continue
        best = int(np.argmax(probs[i, 1:])) + 1
        if cur and int(offsets[cur[-1], 1]) != int(offsets[i, 0]) and (
                is_begin(best) or _breaks(text[_word_end(text, offsets, cur):int(offsets[i, 0])],
                                          label_mass[cur].sum(0), label_mass[i], split)):
            close()
        cur.append(i)
    close()
    return dedupe_spans(out)


def tags_to_probs(tags: np.ndarray) -> np.ndarray:
    """One-hot ``[T, n_tags]`` from hard tags (IGNORE -> O): decodes gold tags, e.g. in round-trip tests."""
    probs = np.zeros((len(tags), len(TAGS)), dtype=np.float32)
    probs[np.arange(len(tags)), np.where(tags == IGNORE, OUTSIDE, tags)] = 1.0
    return probs


def dedupe_spans(spans: list[tuple[Span, float]]) -> list[tuple[Span, float]]:
    """Word-completion can make neighbouring spans overlap; keep the first of any overlapping pair, extended."""
    out: list[tuple[Span, float]] = []
    for span, score in sorted(spans, key=lambda p: p[0]):
        if out and span.start < out[-1][0].end:
            prev, prev_score = out[-1]
            if prev.label == span.label:
                out[-1] = (Span(prev.start, max(prev.end, span.end), prev.label), max(prev_score, score))
            continue
        out.append((span, score))
    return out


def _address_gap(gap: str) -> bool:
    """Only what separates the parts of one address: spaces, commas, real or escaped line breaks."""
    return shown_line_breaks(gap).strip(" ,\n\t\r") == ""


def _own_line(text: str, span: Span, before: Span, after: Span) -> bool:
    """``span`` fills its line between two neighbours: a line break (real or escaped) on each side."""
    return all(_address_gap(g) and "\n" in shown_line_breaks(g)
               for g in (text[before.end:span.start], text[span.end:after.start]))


def join_address_parts(text: str, spans: list[tuple[Span, float]]) -> list[tuple[Span, float]]:
    """Apply the one-span ADDRESS rule (docs/pii-labels.md) to decoded spans: an ADDRESS and the ADDRESS or
    LOCATION parts that follow it, separated only by spaces, commas or line breaks, are one ADDRESS; so is a
    name-like line sandwiched between two of its lines ("Apt. 079\\n Svratka\\n Czech Republic 45098": a town
    alone on its line reads like a surname to the probe). A multi-line address is one entity, and the probe
    tags its lines one by one."""
    out: list[tuple[Span, float]] = []
    items = sorted(spans, key=lambda p: p[0])
    i = 0
    while i < len(items):
        span, score = items[i]
        if out and out[-1][0].label == "ADDRESS" and _address_gap(text[out[-1][0].end:span.start]):
            prev, prev_score = out[-1]
            nxt = items[i + 1][0] if i + 1 < len(items) else None
            joins = span.label in ("ADDRESS", "LOCATION") or (
                span.label == "PERSON" and nxt is not None and nxt.label in ("ADDRESS", "LOCATION")
                and not any(c.isdigit() for c in text[span.start:span.end]) and _own_line(text, span, prev, nxt))
            if joins:
                out[-1] = (Span(prev.start, span.end, "ADDRESS"), max(prev_score, score))
                i += 1
                continue
        out.append((span, score))
        i += 1
    return out
