"""Shape bits: what the uncased base model cannot see, read from the text; and how a probe consumes them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kiln_sae.pii.detector import Detector, DetectorSpec, with_context
from kiln_sae.pii.features import TokenFeatures
from kiln_sae.pii.labels import TAGS
from kiln_sae.pii.probe import DenseLinearProbe, SparseLinearProbe
from kiln_sae.pii.shape import N_SHAPE, SHAPE_BITS, token_shapes


def _bits_of(text: str, pieces: list[str]) -> dict[str, dict[str, bool]]:
    """Shape bits of each listed piece (first occurrence, searching left to right), by bit name."""
    offsets, pos = [], 0
    for p in pieces:
        a = text.index(p, pos)
        offsets.append((a, a + len(p)))
        pos = a + len(p)
    rows = token_shapes(text, np.array(offsets, dtype=np.int64), np.ones(len(offsets), dtype=bool))
    return {p: {name: bool(v) for name, v in zip(SHAPE_BITS, row, strict=True)} for p, row in zip(pieces, rows)}


def test_bits_see_case_digits_and_layout_that_an_uncased_tokenizer_drops():
    text = "met john at IBM. Then McDonald wrote\nAnna: flat 12B, café, me@x.io"
    b = _bits_of(text, ["john", "IBM", "Then", "Mc", "Anna", "12", "B", "café", "me"])
    assert not b["john"]["token_upper_initial"] and not b["john"]["word_upper_initial"]
    assert b["IBM"]["token_all_upper"] and b["IBM"]["word_all_upper"]
    assert b["Then"]["sentence_start"] and b["Then"]["word_upper_initial"]
    assert not b["john"]["sentence_start"] and b["john"]["word_start"]
    assert b["Mc"]["word_inner_upper"] and b["Mc"]["word_start"]
    assert b["Anna"]["line_start"] and b["Anna"]["sentence_start"]
    assert b["12"]["token_digit"] and b["12"]["word_digit_and_letter"]
    assert b["B"]["token_upper_initial"] and not b["B"]["word_start"]
    assert b["café"]["word_non_ascii"] and b["me"]["word_at"]


def test_invalid_tokens_get_no_bits():
    rows = token_shapes("Hi Bob", np.array([[0, 0], [0, 2], [3, 6]]), np.array([False, True, False]))
    assert rows.shape == (3, N_SHAPE) and rows[0].sum() == 0 and rows[2].sum() == 0 and rows[1].sum() > 0


def _detector(system: str, context: int, n_latents: int = 10, d: int = 4) -> Detector:
    class Sae:
        k = 2

        def __init__(self) -> None:
            self.n_latents = n_latents

        def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x[:, :2].abs(), torch.tensor([[1, 3]]).expand(len(x), -1)

    bits = list(SHAPE_BITS)
    width = (n_latents + len(bits) if system == "sae_probe" else d + len(bits)) * (2 * context + 1)
    spec = DetectorSpec(system=system, base_model="x", layer=0, context_size=8, n_features=width, context=context,
                        shape_bits=bits)
    probe = SparseLinearProbe(width, len(TAGS)) if system == "sae_probe" else DenseLinearProbe(width, len(TAGS))
    return Detector(spec, probe, None, Sae() if system == "sae_probe" else None)


def test_sparse_inputs_put_the_bits_after_the_latents_in_every_context_block():
    det = _detector("sae_probe", context=1)
    text = "Hi Bob"
    feats = TokenFeatures(torch.ones(2, 4), np.array([[0, 2], [3, 6]]), np.ones(2, dtype=bool)).with_shape(text)
    values, ids = det.inputs(feats)
    block = det.block_width
    assert block == 10 + N_SHAPE and values.shape == ids.shape == (2, 3 * (2 + N_SHAPE))
    centre = slice(2 + N_SHAPE, 2 * (2 + N_SHAPE))  # the token's own block: ids in [block, 2 block)
    assert ids[0, centre].tolist() == [block + 1, block + 3] + [block + 10 + i for i in range(N_SHAPE)]
    assert values[0, centre][2:].tolist() == feats.shape[0].tolist()
    assert int(ids.max()) < det.spec.n_features
    det.probs(feats)  # every id indexes the probe's table


def test_dense_inputs_append_the_bits_and_a_detector_without_them_refuses_bare_features():
    det = _detector("raw_probe", context=0)
    feats = TokenFeatures(torch.zeros(2, 4), np.array([[0, 2], [3, 6]]), np.ones(2, dtype=bool))
    with pytest.raises(ValueError, match="with_shape"):
        det.inputs(feats)
    (x,) = det.inputs(feats.with_shape("Hi Bob"))
    assert x.shape == (2, 4 + N_SHAPE) and x[1, 4:].tolist() == feats.shape[1].tolist()
    # A probe that tags capitalised words as people: only the bits can tell "Bob" from "hi" here.
    with torch.no_grad():
        det.probe.linear.bias[TAGS.index("O")] = 5.0
        det.probe.linear.weight[TAGS.index("B-PERSON"), 4 + SHAPE_BITS.index("word_upper_initial")] = 20.0
    bare = TokenFeatures(torch.zeros(2, 4), feats.offsets, feats.valid)  # no bits yet: computed from the text
    spans = det.spans_from_features("hi Bob", bare)
    assert [(s.start, s.end, s.label) for s, _ in spans] == [(3, 6, "PERSON")]
    assert with_context((x,), 1, None)[0].shape == (2, 3 * (4 + N_SHAPE))


def test_one_long_word_is_read_once_per_text():
    """A pasted blob (one 'word' of 100,000 characters, the detect limit) gets its word bits from one lookup
    per token; before, each token rescanned the word (quadratic: minutes for such a message)."""
    text = "key: Ab" + "c1" * 50_000
    offsets = np.array([[0, 3]] + [[i, i + 4] for i in range(5, len(text) - 4, 4)], dtype=np.int64)
    rows = token_shapes(text, offsets, np.ones(len(offsets), dtype=bool))
    col = {n: i for i, n in enumerate(SHAPE_BITS)}
    assert rows[1:, col["word_upper_initial"]].all() and rows[1:, col["word_digit_and_letter"]].all()
    assert rows[1, col["word_start"]] == 1 and rows[2:, col["word_start"]].sum() == 0
    assert rows[0, col["line_start"]] == 1 and rows[1:, col["line_start"]].sum() == 0
