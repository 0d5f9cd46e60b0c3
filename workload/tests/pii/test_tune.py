"""The template bootstrap that decides whether a per-label floor chosen on val is kept."""
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
