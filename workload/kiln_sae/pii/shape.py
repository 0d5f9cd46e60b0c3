"""Orthographic bits per token, read from the original text at the token's character span.

Why: the default base model (all-MiniLM-L6-v2) has an uncased tokenizer, so "john smith" and "John Smith"
give it identical inputs and identical activations; no SAE latent or raw probe can see capitals, digits
next to letters inside one word, or where a line starts. Those are exactly the cues a human uses for names,
places and street addresses in unfamiliar text. The probe may read these few bits beside its features
(``DetectorSpec.shape``); the SAE and raw probes get the same bits so their comparison stays fair.

Every bit is a plain function of the text, so detection needs nothing but the text and the offsets.
"""
from __future__ import annotations

import bisect
import re

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


def _letters(s: str) -> list[str]:
    return [c for c in s if c.isalpha()]


class _Words:
    """The text's whitespace-delimited words and line breaks, found once, so that every token's bits cost
    O(log n) lookups: a 100,000-character message (the ``detect`` limit) of one base64 blob stays linear."""

    def __init__(self, text: str) -> None:
        self.text = text
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self._bits: dict[int, list[bool]] = {}

    def index(self, a: int) -> int | None:
        i = bisect.bisect_right(self.starts, a) - 1
        return i if i >= 0 and a < self.ends[i] else None

    def word_bits(self, i: int) -> list[bool]:
        """word_upper_initial, word_all_upper, word_inner_upper, word_digit_and_letter, line_start,
        sentence_start, word_non_ascii, word_at (SHAPE_BITS order among the word bits)."""
        if i not in self._bits:
            ws, we = self.starts[i], self.ends[i]
            word = self.text[ws:we]
            wl = _letters(word)
            k = bisect.bisect_left(self.newlines, ws)
            line_start = self.newlines[k - 1] + 1 if k else 0
            first_on_line = i == 0 or self.ends[i - 1] <= line_start
            self._bits[i] = [
                bool(wl) and word.lstrip("\"'([{<").startswith(wl[0]) and wl[0].isupper(),
                len(wl) >= 2 and all(c.isupper() for c in wl),
                any(x.islower() and y.isupper() for x, y in zip(word, word[1:], strict=False)),
                any(c.isdigit() for c in word) and bool(wl),
                first_on_line,
                first_on_line or self.text[self.ends[i - 1] - 1] in ".!?",
                any(ord(c) > 127 for c in wl),
                "@" in word,
            ]
        return self._bits[i]


def _bits(words: _Words, a: int, b: int) -> list[bool]:
    tok = words.text[a:b]
    tl = _letters(tok)
    i = words.index(a)
    if i is None:  # a token that starts in whitespace: it is its own word
        w = _Words(tok)
        wb, start = (w.word_bits(0) if w.starts else [False] * 8), True
    else:
        wb, start = words.word_bits(i), a == words.starts[i]
    upper_initial, all_upper, inner, digit_letter, line_start, sentence_start, non_ascii, at = wb
    return [
        bool(tok) and tok[0].isupper(),
        len(tl) >= 2 and all(c.isupper() for c in tl),
        upper_initial, all_upper, inner,
        any(c.isdigit() for c in tok),
        digit_letter, start, line_start, sentence_start, non_ascii, at,
    ]


def token_shapes(text: str, offsets: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[T, N_SHAPE] float32 of 0/1; rows of invalid (special or empty) tokens are all zero."""
    out = np.zeros((len(offsets), N_SHAPE), dtype=np.float32)
    words = _Words(text)
    for i, ((a, b), ok) in enumerate(zip(offsets.tolist(), valid.tolist(), strict=True)):
        if ok and b > a:
            out[i] = _bits(words, int(a), int(b))
    return out
