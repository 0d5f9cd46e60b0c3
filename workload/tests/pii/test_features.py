"""Multi-layer features and on-the-fly context rows equal their straightforward definitions."""
from __future__ import annotations

import torch

from kiln_sae.pii.detector import with_context
from kiln_sae.pii.features import FeatureSource
from kiln_sae.pii.probe import ContextRows

TEXTS = ["Hi, I'm Anna Berg and my email is anna.berg@gmail.com.", "short one", "x " * 300]


def test_multi_layer_features_are_the_single_layers_concatenated():
    both = FeatureSource("minilm", 3, context_size=64, layers=[1, 3]).extract(TEXTS)
    one = FeatureSource("minilm", 1, context_size=64).extract(TEXTS)
    three = FeatureSource("minilm", 3, context_size=64).extract(TEXTS)
    for b, x, y in zip(both, one, three, strict=True):
        assert b.acts.shape[1] == 2 * x.acts.shape[1]
        torch.testing.assert_close(b.acts, torch.cat([x.acts, y.acts], dim=1), rtol=1e-4, atol=1e-4)
        assert (b.offsets == x.offsets).all()


def test_context_rows_match_the_detectors_context_concatenation():
    g = torch.Generator().manual_seed(0)
    texts = [torch.randn(n, 6, generator=g) for n in (4, 1, 7)]
    ids = [torch.randint(0, 10, (n, 3), generator=g) for n in (4, 1, 7)]
    vals = [torch.rand(n, 3, generator=g) for n in (4, 1, 7)]
    c = 2
    pad = lambda xs, w, dt: torch.cat([p for x in xs for p in (torch.zeros(c, w, dtype=dt), x)]  # noqa: E731
                                      + [torch.zeros(c, w, dtype=dt)])
    dense = ContextRows((pad(texts, 6, torch.float32),), c, None)
    sparse = ContextRows((pad(vals, 3, torch.float32), pad(ids, 3, torch.long)), c, 10)
    start = c
    for x, v, i in zip(texts, vals, ids, strict=True):
        rows = torch.arange(start, start + len(x))
        (want,) = with_context((x,), c, None)
        torch.testing.assert_close(dense.rows(rows)[0], want)
        wv, wi = with_context((v, i), c, 10)
        gv, gi = sparse.rows(rows)
        # Same multiset of (id, value) per row: zero-valued pads may carry other ids, which add nothing.
        for r in range(len(x)):
            keep_w, keep_g = wv[r] != 0, gv[r] != 0
            assert sorted(zip(wi[r][keep_w].tolist(), wv[r][keep_w].tolist())) == \
                sorted(zip(gi[r][keep_g].tolist(), gv[r][keep_g].tolist()))
        start += len(x) + c


def test_features_with_line_breaks_shown_read_an_escaped_message_as_its_lines():
    """Same-length text: the offsets index the message as given, and the activations are those of the lines."""
    escaped = r'{"body": "Ann Lee\n12 High St\nLeeds"}'
    lines = '{"body": "Ann Lee \n12 High St \nLeeds"}'
    src = FeatureSource("minilm", 2, context_size=64, line_breaks=True)
    shown, = src.extract([escaped])
    plain, = FeatureSource("minilm", 2, context_size=64).extract([lines])
    assert (shown.offsets == plain.offsets).all()
    torch.testing.assert_close(shown.acts, plain.acts)
    as_written, = FeatureSource("minilm", 2, context_size=64).extract([escaped])
    assert len(as_written.offsets) != len(shown.offsets)  # "\" and a glued "n" are tokens of their own
