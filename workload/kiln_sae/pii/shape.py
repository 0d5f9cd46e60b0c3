"""Orthographic bits per token, read from the original text at the token's character span.

Why: the default base model (all-MiniLM-L6-v2) has an uncased tokenizer, so "john smith" and "John Smith"
give it identical inputs and identical activations; no SAE latent or raw probe can see capitals, digits
next to letters inside one word, or where a line starts. Those are exactly the cues a human uses for names,
places and street addresses in unfamiliar text. The probe may read these few bits beside its features
(``DetectorSpec.shape``); the SAE and raw probes get the same bits so their comparison stays fair.

Every bit is a plain function of the text, so detection needs nothing but the text and the offsets.
"""
from __future__ import annotations

import numpy as np

# Names in order: the probe's weights are indexed by position, so never reorder, only append (and bump
# SHAPE_VERSION, which detector.json records).
SHAPE_BITS = (
    "token_upper_initial",  # the token's first character is an upper-case letter
    "token_all_upper",  # two or more letters, all upper case
    "word_upper_initial",  # the whitespace-delimited word holding the token starts with an upper-case letter
    "word_all_upper",  # the word has two or more letters, all upper case
    "word_inner_upper",  # an upper-case letter after a lower-case one inside the word (camelCase, McDonald)
    "token_digit",  # the token holds a digit
    "word_digit_and_letter",  # the word holds both digits and letters (street numbers stay apart: "12B")
    "word_start",  # the token begins its word
    "line_start",  # the word is the first on its line
    "sentence_start",  # the word follows . ! ? or a line start (a capital there says less)
    "word_non_ascii",  # the word holds a non-ASCII letter (é, ß, ł, ...)
    "word_at",  # the word holds '@'
)
SHAPE_VERSION = 1
N_SHAPE = len(SHAPE_BITS)


def _word_bounds(text: str, a: int, b: int) -> tuple[int, int]:
    start, end = a, b
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end


def _letters(s: str) -> list[str]:
    return [c for c in s if c.isalpha()]


def _bits(text: str, a: int, b: int) -> list[bool]:
    tok = text[a:b]
    ws, we = _word_bounds(text, a, b)
    word = text[ws:we]
    tl, wl = _letters(tok), _letters(word)
    line_start = text.rfind("\n", 0, ws) + 1
    before = text[line_start:ws]
    prev = before.rstrip()
    inner = any(x.islower() and y.isupper() for x, y in zip(word, word[1:], strict=False))
    return [
        bool(tok) and tok[0].isupper(),
        len(tl) >= 2 and all(c.isupper() for c in tl),
        bool(wl) and word.lstrip("\"'([{<").startswith(wl[0]) and wl[0].isupper(),
        len(wl) >= 2 and all(c.isupper() for c in wl),
        inner,
        any(c.isdigit() for c in tok),
        any(c.isdigit() for c in word) and bool(wl),
        a == ws,
        not before.strip(),
        not prev or prev[-1] in ".!?",
        any(ord(c) > 127 for c in wl),
        "@" in word,
    ]


def token_shapes(text: str, offsets: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[T, N_SHAPE] float32 of 0/1; rows of invalid (special or empty) tokens are all zero."""
    out = np.zeros((len(offsets), N_SHAPE), dtype=np.float32)
    for i, ((a, b), ok) in enumerate(zip(offsets.tolist(), valid.tolist(), strict=True)):
        if ok and b > a:
            out[i] = _bits(text, int(a), int(b))
    return out
