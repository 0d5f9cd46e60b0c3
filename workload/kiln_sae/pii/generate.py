"""Labelled chat messages with exact character spans, deterministic per seed.

    python -m kiln_sae.pii.generate --out chat.jsonl --n 5000 --seed 0 [--split train] [--format lmsys|spans]

``--format lmsys`` (default) writes LMSYS-style conversations ``{"conversation": [{"role", "content"}]}`` for
training an SAE on PII-rich chat; ``--format spans`` writes ``{"text", "spans", "template", "split"}``.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass, field

from faker import Faker

from kiln_sae.pii.identities import LOCALES, make_identity
from kiln_sae.pii.labels import LABELS, Span
from kiln_sae.pii.slots import fill
from kiln_sae.pii.split import split_of_all, templates_for
from kiln_sae.pii.templates import Template

_SLOT = re.compile(r"\{([a-z][a-z_0-9]*)\}")
_ASSISTANT_REPLIES = (
    "Sure, here is a draft you can use.", "Happy to help. Here's a cleaner version:", "Thanks for the details.",
    "Here is what I found.", "I'd recommend not sharing this kind of information in chat, but here you go:",
)


@dataclass
class Example:
    text: str
    spans: list[Span]
    template: str
    genre: str
    split: str
    locale: str
    meta: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"text": self.text, "spans": [s.to_dict(self.text) for s in self.spans],
                                  "template": self.template, "genre": self.genre, "split": self.split,
                                  "locale": self.locale}
        if self.meta.get("ignore"):  # the JSONL sets' field (devset.load_jsonl reads it back)
            out["ignore"] = [{"start": s.start, "end": s.end, "text": self.text[s.start:s.end]}
                             for s in self.meta["ignore"]]
        return out


class SpanError(AssertionError):
    """A generated span does not match its text: a generator bug, never user input."""


def validate(text: str, spans: list[Span], values: list[str] | None = None) -> None:
    prev_end = -1
    for i, s in enumerate(sorted(spans)):
        if not (0 <= s.start < s.end <= len(text)):
            raise SpanError(f"span {s} out of range for text of length {len(text)}")
        value = text[s.start:s.end]
        if values is not None and value != values[i]:
            raise SpanError(f"span {s} covers {value!r}, expected {values[i]!r}")
        if value != value.strip():
            raise SpanError(f"span {s} has surrounding whitespace: {value!r}")
        if s.start < prev_end:
            raise SpanError(f"span {s} overlaps the previous span")
        if s.label not in LABELS:
            raise SpanError(f"unknown label {s.label}")
        prev_end = s.end


def _typo(segment: str, rng: random.Random) -> str:
    words = segment.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 3 and w.isalpha()]
    if not candidates:
        return segment
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(len(w) - 1)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def merge_name_parts(text: str, spans: list[Span]) -> list[Span]:
    """A name written as two slots ("{first} {last}") is one PERSON, as everywhere else: one span, not two."""
    out: list[Span] = []
    for s in sorted(spans):
        prev = out[-1] if out else None
        if prev and prev.label == s.label == "PERSON" and text[prev.end:s.start] == " ":
            out[-1] = Span(prev.start, s.end, "PERSON")
        else:
            out.append(s)
    return out


def join(a: Example, b: Example, sep: str) -> Example:
    shift = len(a.text) + len(sep)
    spans = a.spans + [Span(x.start + shift, x.end + shift, x.label) for x in b.spans]
    text = a.text + sep + b.text
    validate(text, spans)
    return Example(text=text, spans=spans, template=a.template, genre=a.genre, split=a.split, locale=a.locale,
                   meta={"joined": b.template})


class Generator:
    """Renders templates with Faker identities. One Faker per locale, reseeded per message for determinism."""

    def __init__(self, seed: int = 0, locales: tuple[str, ...] = LOCALES) -> None:
        self.seed = seed
        self.locales = locales
        self._fakers = {loc: Faker(loc) for loc in locales}
        self._split_of = split_of_all()

    def render(self, template: Template, index: int, rng: random.Random | None = None) -> Example:
        rng = rng or random.Random(f"{self.seed}:{template.id}:{index}")
        locale = rng.choice(self.locales)
        fake = self._fakers[locale]
        fake.seed_instance(rng.randrange(2**31))
        ids = (make_identity(fake, locale, rng), make_identity(fake, locale, rng))
        lower = template.genre == "casual" and rng.random() < 0.7
        typo = template.genre in ("casual", "support") and rng.random() < 0.3
        pieces: list[str] = []
        spans: list[Span] = []
        values: list[str] = []
        pos = 0
        cursor = 0
        for m in _SLOT.finditer(template.text):
            literal = template.text[cursor:m.start()]
            literal = _typo(literal, rng) if typo and rng.random() < 0.3 else literal
            literal = literal.lower() if lower else literal
            pieces.append(literal)
            pos += len(literal)
            label, value = fill(m.group(1), ids, fake, rng)
            if lower and label in ("PERSON", "EMAIL", "LOCATION", "USERNAME", "ADDRESS") and rng.random() < 0.6:
                value = value.lower()
            pieces.append(value)
            if label is not None and value:
                spans.append(Span(pos, pos + len(value), label))
                values.append(value)
            pos += len(value)
            cursor = m.end()
        tail = template.text[cursor:]
        pieces.append(tail.lower() if lower else tail)
        text = "".join(pieces)
        validate(text, spans, values)
        return Example(text=text, spans=merge_name_parts(text, spans), template=template.id, genre=template.genre,
                       split=self._split_of[template.id], locale=locale)

    def examples(self, split: str, n: int) -> list[Example]:
        """``n`` messages from the templates of ``split``, cycling templates so each is used evenly."""
        pool = templates_for(split)
        order = random.Random(f"{self.seed}:{split}:order")
        out: list[Example] = []
        while len(out) < n:
            batch = list(pool)
            order.shuffle(batch)
            for t in batch[: n - len(out)]:
                ex = self.render(t, len(out))
                # A third of the messages join a second message of the same split, so a template's
                # phrasing is not always at the start of the text (fewer position shortcuts).
                mix = random.Random(f"{self.seed}:{split}:mix:{len(out)}")
                if mix.random() < 0.33:
                    ex = join(ex, self.render(mix.choice(pool), len(out) + 10**6), mix.choice(("\n\n", " ", "\n")))
                out.append(ex)
        return out

    def conversations(self, n: int, split: str = "train") -> list[list[dict[str, str]]]:
        """LMSYS-style multi-turn conversations: 1-3 user turns, each a rendered message, with short
        assistant replies. Used as SAE training text, so PII-shaped tokens are common in the activations."""
        rng = random.Random(f"{self.seed}:conversations:{split}")
        pool = templates_for(split)
        convs = []
        for i in range(n):
            turns: list[dict[str, str]] = []
            for j in range(rng.randint(1, 3)):
                ex = self.render(rng.choice(pool), i * 3 + j)
                turns.append({"role": "user", "content": ex.text})
                turns.append({"role": "assistant", "content": rng.choice(_ASSISTANT_REPLIES)})
            convs.append(turns)
        return convs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kiln_sae.pii.generate", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output JSONL file ('-' for stdout)")
    p.add_argument("--n", type=int, default=1000, help="number of conversations/messages")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=("train", "val", "test"), default="train")
    p.add_argument("--format", choices=("lmsys", "spans"), default="lmsys")
    args = p.parse_args(argv)
    gen = Generator(seed=args.seed)
    if args.format == "lmsys":
        rows = [{"conversation": c} for c in gen.conversations(args.n, args.split)]
    else:
        rows = [e.to_dict() for e in gen.examples(args.split, args.n)]
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
