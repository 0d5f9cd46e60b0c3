"""Decoding choices made on val: the template bootstrap that keeps a per-label floor, the address rule."""
from __future__ import annotations

from kiln_sae.pii.generate import Example
from kiln_sae.pii.labels import Span
from kiln_sae.pii.pipeline import SplitData, floor_bootstrap

TEXT = "call Ann now"
ANN = Span(5, 8, "PERSON")
NOISE = Span(0, 4, "PHONE")


def _val(n_templates: int, per_template: int = 3) -> SplitData:
    examples = [Example(text=TEXT, spans=[ANN], template=f"t{t}", genre="chat", split="val", locale="en_US")
                for t in range(n_templates) for _ in range(per_template)]
    return SplitData(examples, [])


def test_a_gain_on_every_template_is_kept_with_full_support():
    val = _val(6)
    before = [[ANN, NOISE] for _ in val.examples]  # a false positive in every message
    after = [[ANN] for _ in val.examples]
    assert floor_bootstrap(val, before, after) == 1.0
    assert floor_bootstrap(val, after, before) == 0.0


def test_a_gain_that_rests_on_one_template_is_not_significant():
    val = _val(10)
    # One template gains a lot; two others lose a little: the point estimate favours `after`,
    # but resampling templates often drops the one that carries it.
    before = [[ANN, NOISE] if e.template == "t0" else [ANN] for e in val.examples]
    after = [[] if e.template in ("t1", "t2") and i % 3 == 0 else [ANN] for i, e in enumerate(val.examples)]
    share = floor_bootstrap(val, before, after, samples=2000)
    assert 0.3 < share < 0.95


def test_no_change_never_counts_as_a_gain():
    val = _val(4)
    same = [[ANN] for _ in val.examples]
    assert floor_bootstrap(val, same, same) == 0.0


def _logit_detector():
    """A detector whose 'features' are its tag logits (an identity probe over raw inputs, no context): the
    decoding choices are then tested on probabilities written by hand."""
    import torch

    from kiln_sae.pii.detector import Detector, DetectorSpec

    spec = DetectorSpec(system="raw_probe", base_model="none", layer=0, context_size=64)
    return Detector(spec, torch.nn.Identity())


def _tagged(text: str, words: list[tuple[str, str | None, bool]]):
    """Features of one val message whose words carry confident tags: (word, label or None, begin)."""
    import re

    import numpy as np
    import torch

    from kiln_sae.pii.features import TokenFeatures
    from kiln_sae.pii.labels import OUTSIDE, TAGS, begin_tag, inside_tag

    offsets = np.array([m.span() for m in re.finditer(r"\S+", text)], dtype=np.int64)
    logits = torch.full((len(offsets), len(TAGS)), -8.0)
    for i, (word, label, begin) in enumerate(words):
        assert text[offsets[i, 0]:offsets[i, 1]] == word
        logits[i, OUTSIDE if label is None else begin_tag(label) if begin else inside_tag(label)] = 8.0
    return TokenFeatures(logits, offsets, np.ones(len(offsets), dtype=bool))


def test_tune_keeps_the_one_span_address_rule_when_val_agrees():
    from kiln_sae.pii.pipeline import tune

    text = "Ann Lee\n12 Elm Road\nLeeds\nUK LS1 4AB"
    words = [("Ann", "PERSON", True), ("Lee", "PERSON", False), ("12", "ADDRESS", True), ("Elm", "ADDRESS", False),
             ("Road", "ADDRESS", False), ("Leeds", "PERSON", True), ("UK", "LOCATION", True),
             ("LS1", "ADDRESS", True), ("4AB", "ADDRESS", False)]
    address = Span(text.index("12"), len(text), "ADDRESS")
    examples, feats = [], []
    for t in range(4):
        f = _tagged(text, words)
        examples.append(Example(text=text, spans=[Span(0, 7, "PERSON"), address], template=f"t{t}", genre="letter",
                                split="val", locale="en_GB"))
        feats.append(f)
    det = _logit_detector()
    info = tune(det, SplitData(examples, feats))
    assert info["join_address"] and det.spec.join_address
    assert info["val_overlap_f1_join_address"] == 1.0 > info["val_overlap_f1_no_label_thresholds"]
    spans = [s for s, _ in det.spans_from_features(text, feats[0])]
    assert spans == [Span(0, 7, "PERSON"), address]
    # Where the lines are separate entities in val's gold, the rule is left off.
    apart = [Example(text=text, spans=[Span(0, 7, "PERSON"), Span(8, 19, "ADDRESS"), Span(20, 25, "PERSON"),
                                       Span(26, 28, "LOCATION"), Span(29, 36, "ADDRESS")],
                     template=f"t{t}", genre="letter", split="val", locale="en_GB") for t in range(4)]
    info = tune(det, SplitData(apart, feats))
    assert not info["join_address"] and not det.spec.join_address


def test_the_threshold_is_chosen_again_with_the_address_rule_on():
    """The grid is first searched without the one-span ADDRESS rule. A weak city and postcode line (P ~ 0.6)
    only pay off once the rule joins them to the street: without it they are two false positives, with it
    they complete the address. The threshold that ships is chosen with the decoder that ships."""
    import torch

    from kiln_sae.pii.labels import OUTSIDE, begin_tag
    from kiln_sae.pii.pipeline import tune

    text = "Ann Lee\n12 Elm Road\nLeeds\nLS1 4AB"
    words = [("Ann", "PERSON", True), ("Lee", "PERSON", False), ("12", "ADDRESS", True), ("Elm", "ADDRESS", False),
             ("Road", "ADDRESS", False), ("Leeds", "LOCATION", True), ("LS1", "ADDRESS", True),
             ("4AB", "ADDRESS", False)]
    gold = [Span(0, 7, "PERSON"), Span(text.index("12"), len(text), "ADDRESS")]
    examples, feats = [], []
    for t in range(4):
        f = _tagged(text, words)
        for i, label in ((5, "LOCATION"), (6, "ADDRESS"), (7, "ADDRESS")):  # weak: P(not O) about 0.6
            f.acts[i] = torch.full_like(f.acts[i], -8.0)
            f.acts[i, OUTSIDE], f.acts[i, begin_tag(label)] = 0.0, 0.4
        examples.append(Example(text=text, spans=gold, template=f"t{t}", genre="letter", split="val", locale="en_GB"))
        feats.append(f)
    det = _logit_detector()
    info = tune(det, SplitData(examples, feats))
    assert info["threshold_extend_split_grid"]["0.7/None/False"] == 0.5  # street only: a miss and a false positive
    assert det.spec.join_address and det.spec.threshold <= 0.6
    assert info["threshold_extend_split_grid_final_decoder"][f"{det.spec.threshold}/None/False"] == 1.0
    assert [s for s, _ in det.spans_from_features(text, feats[0])] == gold


def test_tune_keeps_the_mail_and_credential_steps_when_val_agrees_and_drops_them_when_it_does_not():
    """The probe tags a military address in two pieces and misses the user of a connection string; val's gold
    has the address whole and the user, so both steps are kept. Where val's gold says otherwise (the pieces are
    the entities, the user is not one), each step is left off."""
    from kiln_sae.pii.pipeline import tune

    text = "PSC 2322, Box 6025 APO AA 88307 pg://app_user:x@db9"
    words = [("PSC", None, True), ("2322,", "ADDRESS", True), ("Box", "ADDRESS", False), ("6025", "ADDRESS", False),
             ("APO", None, True), ("AA", "PHONE", True), ("88307", "PHONE", False), ("pg://app_user:x@db9", None, True)]
    user = Span(text.index("app_user"), text.index(":x@"), "USERNAME")
    secret = Span(text.index("x@db9"), text.index("x@db9") + 1, "PASSWORD")
    whole = [Span(0, text.index(" pg:"), "ADDRESS"), user, secret]
    pieces = [Span(text.index("2322"), text.index(" APO"), "ADDRESS"), Span(text.index("AA"), text.index(" pg:"), "PHONE")]

    def val(gold: list[Span]) -> SplitData:
        return SplitData([Example(text=text, spans=gold, template=f"t{t}", genre="log", split="val", locale="en_US")
                          for t in range(4)], [_tagged(text, words) for _ in range(4)])

    det = _logit_detector()
    info = tune(det, val(whole))
    assert info["mail_addresses"] and info["credentials"] and det.spec.mail_addresses and det.spec.credentials
    assert info["val_overlap_f1_credentials"] == 1.0 > info["val_overlap_f1_public_ips"]
    assert [s for s, _ in det.spans_from_features(text, val(whole).feats[0])] == whole
    info = tune(det, val(pieces))
    assert not info["mail_addresses"] and not info["credentials"] and not det.spec.credentials
