"""BIO alignment round-trips character spans through the real MiniLM tokenizer on adversarial strings."""
from __future__ import annotations

import numpy as np
import pytest

from kiln_sae.models import load_tokenizer, resolve_model_path
from kiln_sae.pii.align import IGNORE, bio_tags, decode_spans, tags_to_probs
from kiln_sae.pii.labels import OUTSIDE, TAGS, Span, begin_tag, inside_tag


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(resolve_model_path("minilm"))


def _encode(tok, text: str) -> tuple[np.ndarray, np.ndarray]:
    enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    valid = ~np.asarray(enc["special_tokens_mask"], dtype=bool)
    return offsets, valid


def _planted(parts: list[tuple[str, str | None]]) -> tuple[str, list[Span]]:
    text, spans = "", []
    for piece, label in parts:
        if label:
            spans.append(Span(len(text), len(text) + len(piece), label))
        text += piece
    return text, spans


ADVERSARIAL = [
    [("Hi ", None), ("José Müller", "PERSON"), (" 😀😀 mail ", None), ("jose.muller@example.de", "EMAIL"), ("!", None)],
    [("東京都に住んでいる ", None), ("山田太郎", "PERSON"), (" です。電話 ", None), ("+81 3-1234-5678", "PHONE")],
    [("name: ", None), ("Zoë Ångström", "PERSON"), (" (combining: e\u0301\u0301\u0301) ", None),
     ("Ame\u0301lie Noe\u0308l", "PERSON")],
    [("token ", None), ("sk-FAKE-" + "x" * 400, "PASSWORD"), (" and ip ", None), ("2001:db8::ff00:42:8329", "IP_ADDRESS")],
    [("🎉", None), (" ", None), ("192.168.10.4", "IP_ADDRESS"), ("\n\n\t", None), ("DE89 3704 0044 0532 0130 00", "IBAN")],
    [("a" * 300 + " ", None), ("Bob", "PERSON")],
]


@pytest.mark.parametrize("parts", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_bio_round_trip(tokenizer, parts):
    text, spans = _planted(parts)
    offsets, valid = _encode(tokenizer, text)
    tags = bio_tags(offsets, valid, spans)
    assert (tags[~valid] == IGNORE).all()
    for span in spans:  # every span's first covered token is B-, the rest I-
        covered = np.nonzero(valid & (offsets[:, 0] < span.end) & (offsets[:, 1] > span.start))[0]
        assert len(covered) > 0
        assert tags[covered[0]] == begin_tag(span.label)
        assert (tags[covered[1:]] == inside_tag(span.label)).all()
    decoded = [s for s, _ in decode_spans(text, offsets, valid, tags_to_probs(tags))]
    assert decoded == spans


def test_adjacent_spans_of_one_label_stay_apart_and_edges_are_trimmed(tokenizer):
    text = "call (Ann Lee), Tom Fox"
    spans = [Span(6, 13, "PERSON"), Span(16, 23, "PERSON")]
    offsets, valid = _encode(tokenizer, text)
    decoded = [s for s, _ in decode_spans(text, offsets, valid, tags_to_probs(bio_tags(offsets, valid, spans)))]
    assert decoded == spans


def test_decoding_keeps_words_whole_and_votes_the_label():
    text = "mail john@x.io now"
    offsets = np.array([[0, 4], [5, 9], [9, 10], [10, 11], [11, 12], [12, 14], [15, 18]])
    valid = np.ones(7, dtype=bool)
    probs = np.zeros((7, len(TAGS)), dtype=np.float32)
    probs[:, OUTSIDE] = 1.0
    # "john@x." tagged EMAIL (one sub-word as PERSON); "io" left untagged but glued to the span
    for i, tag in [(1, begin_tag("EMAIL")), (2, inside_tag("PERSON")), (3, inside_tag("EMAIL")),
                   (4, inside_tag("EMAIL"))]:
        probs[i] = 0.0
        probs[i, tag] = 1.0
    (span, score), = decode_spans(text, offsets, valid, probs, threshold=0.5)
    assert span == Span(5, 14, "EMAIL") and text[span.start:span.end] == "john@x.io"
    assert score == pytest.approx(1.0)


def _word_probs(words: list[tuple[float, str | None]]) -> np.ndarray:
    """[T, n_tags] with P(entity) = p on the given label's I- tag (B- for the first word of a run)."""
    probs = np.zeros((len(words), len(TAGS)), dtype=np.float32)
    prev = None
    for i, (p, label) in enumerate(words):
        probs[i, OUTSIDE] = 1.0 - p
        if label:
            probs[i, begin_tag(label) if label != prev else inside_tag(label)] = p
        prev = label
    return probs


def _offsets(text: str) -> np.ndarray:
    import re

    return np.array([m.span() for m in re.finditer(r"\S+", text)], dtype=np.int64)


def test_hysteresis_pulls_in_a_weak_neighbour_but_never_starts_a_span():
    text = "for me and Michael Bennett today"
    offsets = _offsets(text)
    valid = np.ones(len(offsets), dtype=bool)
    probs = _word_probs([(0, None), (0, None), (0, None), (0.99, "PERSON"), (0.4, "PERSON"), (0.05, None)])
    plain = [s for s, _ in decode_spans(text, offsets, valid, probs, threshold=0.9)]
    extended = [s for s, _ in decode_spans(text, offsets, valid, probs, threshold=0.9, extend=0.3)]
    assert plain == [Span(11, 18, "PERSON")]
    assert extended == [Span(11, 26, "PERSON")]
    weak = _word_probs([(0, None), (0, None), (0, None), (0.6, "PERSON"), (0.4, "PERSON"), (0.05, None)])
    assert decode_spans(text, offsets, valid, weak, threshold=0.9, extend=0.3) == []


def test_segments_break_at_tabs_lines_and_label_changes_across_punctuation():
    text = "Ann Lee\t0171 496 0000\nBo Wu, bo@wu.org"
    offsets = np.array(
        [[0, 3], [4, 7], [8, 12], [13, 16], [17, 21], [22, 24], [25, 27], [27, 28], [29, 38]], dtype=np.int64)
    valid = np.ones(len(offsets), dtype=bool)
    # Every token is tagged I- (no B- to start a new span): only the gap rules can split.
    probs = np.zeros((len(offsets), len(TAGS)), dtype=np.float32)
    for i, label in enumerate(["PERSON", "PERSON", "PHONE", "PHONE", "PHONE", "PERSON", "PERSON", "PERSON",
                               "EMAIL"]):
        probs[i, inside_tag(label)] = 1.0
    spans = [(s.label, text[s.start:s.end]) for s, _ in decode_spans(text, offsets, valid, probs)]
    assert spans == [("PERSON", "Ann Lee"), ("PHONE", "0171 496 0000"), ("PERSON", "Bo Wu"), ("EMAIL", "bo@wu.org")]
    # An address keeps its line breaks.
    addr = "12 High St\nLeeds LS1 4AP"
    offsets = _offsets(addr)
    probs = np.zeros((len(offsets), len(TAGS)), dtype=np.float32)
    probs[:, inside_tag("ADDRESS")] = 1.0
    assert [s for s, _ in decode_spans(addr, offsets, np.ones(len(offsets), dtype=bool), probs)] == [
        Span(0, len(addr), "ADDRESS")]


def _probs_for(offsets: np.ndarray, valid: np.ndarray, text: str, runs: list[tuple[str, str, bool]]) -> np.ndarray:
    """Tag probabilities where each (value, label, begin) run's tokens carry ``label`` with 0.9; ``begin``
    False makes the run's first token an I- tag (the probe failed to mark the boundary)."""
    probs = np.zeros((len(offsets), len(TAGS)), dtype=np.float32)
    probs[:, OUTSIDE] = 1.0
    for value, label, begin in runs:
        a = text.index(value)
        b = a + len(value)
        hit = [i for i in range(len(offsets)) if valid[i] and offsets[i, 0] < b and offsets[i, 1] > a]
        for j, i in enumerate(hit):
            probs[i] = 0.0
            probs[i, OUTSIDE] = 0.1
            probs[i, begin_tag(label) if j == 0 and begin else inside_tag(label)] = 0.9
    return probs


def test_split_breaks_a_run_on_span_at_the_entity_boundary(tokenizer):
    text = "contact Jane Roe jane.roe@mailbox.org 0171 555 2020 today"
    offsets, valid = _encode(tokenizer, text)
    probs = _probs_for(offsets, valid, text, [("Jane Roe", "PERSON", True), ("jane.roe@mailbox.org", "EMAIL", False),
                                              ("0171 555 2020", "PHONE", False)])
    joined = decode_spans(text, offsets, valid, probs, 0.5)
    assert len(joined) < 3  # without splitting the I- tags glue the three entities together
    split = [(text[s.start:s.end], s.label) for s, _ in decode_spans(text, offsets, valid, probs, 0.5, split=True)]
    assert split == [("Jane Roe", "PERSON"), ("jane.roe@mailbox.org", "EMAIL"), ("0171 555 2020", "PHONE")]


def test_split_keeps_an_address_with_its_city_and_breaks_lists(tokenizer):
    text = "at 12 High Street, Leeds and Ana, Bruno"
    offsets, valid = _encode(tokenizer, text)
    probs = _probs_for(offsets, valid, text, [("12 High Street,", "ADDRESS", True), ("Leeds", "LOCATION", False),
                                              ("Ana, Bruno", "PERSON", True)])
    got = [(text[s.start:s.end], s.label) for s, _ in decode_spans(text, offsets, valid, probs, 0.5, split=True)]
    assert got[0] == ("12 High Street, Leeds", "ADDRESS")
    assert got[1:] == [("Ana", "PERSON"), ("Bruno", "PERSON")]


def test_tokens_in_an_ignore_region_get_no_tag_but_spans_inside_win():
    offsets = np.array([[0, 2], [3, 11], [12, 16], [17, 20], [21, 24]])  # "at Kitzmann GmbH for Ann"
    valid = np.ones(5, dtype=bool)
    tags = bio_tags(offsets, valid, [Span(21, 24, "PERSON")], ignore=[Span(3, 16, "IGNORE"), Span(21, 24, "IGNORE")])
    assert tags.tolist() == [OUTSIDE, IGNORE, IGNORE, OUTSIDE, begin_tag("PERSON")]


def test_escaped_line_breaks_are_cut_off_span_edges_but_kept_inside(tokenizer):
    r"""A message pasted as a JSON string: MiniLM glues the ``n`` of ``\n`` to the next word, so whole-token
    decoding would start the name with it and make the phone "n723 813 266", which no validator accepts."""
    text = r'{"body": "Aurora Strømsnes\n475 Lamphey Road\n Apt. 079\nMobile:\n723 813 266\n"}'
    spans = [Span(text.index("Aurora"), text.index(r"\n475"), "PERSON"),
             Span(text.index("475"), text.index(r"\nMobile"), "ADDRESS"),
             Span(text.index("723"), text.index(r'\n"}'), "PHONE")]
    offsets, valid = _encode(tokenizer, text)
    decoded = [s for s, _ in decode_spans(text, offsets, valid, tags_to_probs(bio_tags(offsets, valid, spans)))]
    assert [text[s.start:s.end] for s in decoded] == ["Aurora Strømsnes", r"475 Lamphey Road\n Apt. 079", "723 813 266"]
    assert decoded == spans


def test_a_username_after_a_path_backslash_keeps_its_first_letter(tokenizer):
    text = r"profile at C:\Users\nathan_k\Documents"
    spans = [Span(text.index("nathan_k"), text.index(r"\Documents"), "USERNAME")]
    offsets, valid = _encode(tokenizer, text)
    decoded = [s for s, _ in decode_spans(text, offsets, valid, tags_to_probs(bio_tags(offsets, valid, spans)))]
    assert decoded == spans


def test_escape_edges_a_span_starting_at_the_backslash_and_an_escaped_backslash():
    from kiln_sae.pii.align import _unescape_edges

    text = r'"Phone:\n723 813 266\n"'
    start = text.index(r"\n723")
    assert text[slice(*_unescape_edges(text, start, text.index(r'\n"')))] == "723 813 266"
    # In JSON "C:\\new_reports" is a backslash and then "new_reports": the n is data, not an escape.
    path = r'"C:\\new_reports"'
    at = path.index("new")
    assert _unescape_edges(path, at, path.index('"', at)) == (at, path.index('"', at))


def _decoded(text: str, parts: list[tuple[str, str]]) -> list[tuple[Span, float]]:
    """Decoded spans as the decoder returns them: each (value, label) at its first place in ``text``."""
    return [(Span(text.index(v), text.index(v) + len(v), label), 0.9) for v, label in parts]


def test_join_makes_a_multi_line_address_one_span_as_the_label_rules_do():
    from kiln_sae.pii.align import join_address_parts

    text = "Helena Carlsen\\n637 Strojírenská 1006\\n Suite 026\\n Svratka\\n Czech Republic 45098\nTel 0171 496 0000"

    decoded = _decoded(text, [("Helena Carlsen", "PERSON"), ("637 Strojírenská 1006", "ADDRESS"),
                              ("Suite 026", "ADDRESS"), ("Svratka", "PERSON"), ("Czech Republic", "LOCATION"),
                              ("45098", "ADDRESS"), ("0171 496 0000", "PHONE")])
    got = [(text[s.start:s.end], s.label) for s, _ in join_address_parts(text, decoded)]
    assert got == [("Helena Carlsen", "PERSON"),
                   ("637 Strojírenská 1006\\n Suite 026\\n Svratka\\n Czech Republic 45098", "ADDRESS"),
                   ("0171 496 0000", "PHONE")]


def test_join_leaves_names_before_an_address_and_places_not_glued_to_one():
    from kiln_sae.pii.align import join_address_parts

    text = "Ann Lee\n12 High St, Leeds\nI moved to Paris. Bo Wu\n3 Elm Rd"

    decoded = _decoded(text, [("Ann Lee", "PERSON"), ("12 High St", "ADDRESS"), ("Leeds", "LOCATION"),
                              ("Paris", "LOCATION"), ("Bo Wu", "PERSON"), ("3 Elm Rd", "ADDRESS")])
    got = [(text[s.start:s.end], s.label) for s, _ in join_address_parts(text, decoded)]
    # The name before the address stays a PERSON (only a line between two address lines joins), the city
    # after a comma joins, and a place after words ("I moved to") does not.
    assert got == [("Ann Lee", "PERSON"), ("12 High St, Leeds", "ADDRESS"), ("Paris", "LOCATION"),
                   ("Bo Wu", "PERSON"), ("3 Elm Rd", "ADDRESS")]
    # A name-like line is joined only when it holds no digit and an address part follows it.
    tail = _decoded(text, [("12 High St", "ADDRESS"), ("I moved to Paris. Bo Wu", "PERSON")])
    assert join_address_parts(text, tail) == tail


def test_a_detector_that_reads_line_breaks_decodes_escaped_lines_apart(tokenizer):
    r"""The same message pasted escaped: decoded on the text as the model read it (escapes shown as breaks),
    the phone after the address is its own span and carries no ``n``; spans index the original text."""
    from kiln_sae.pii.escape import shown_line_breaks

    text = r'"Liisa Lepistö\nIlmalankuja 57\n ULVILA 35680\n723 813 266 office"'
    shown = shown_line_breaks(text)
    offsets, valid = _encode(tokenizer, shown)
    probs = _probs_for(offsets, valid, shown, [("Liisa Lepistö", "PERSON", True),
                                               ("Ilmalankuja 57 \n ULVILA 35680", "ADDRESS", True),
                                               ("723 813 266", "PHONE", False)])
    got = [(text[s.start:s.end], s.label) for s, _ in decode_spans(shown, offsets, valid, probs, 0.5)]
    assert got == [("Liisa Lepistö", "PERSON"), (r"Ilmalankuja 57\n ULVILA 35680", "ADDRESS"),
                   ("723 813 266", "PHONE")]
