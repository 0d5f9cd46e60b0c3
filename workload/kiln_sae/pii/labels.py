"""The PII label set and its BIO tag encoding, shared by the generator, the probes and the evaluator."""
from __future__ import annotations

from dataclasses import dataclass

LABELS: tuple[str, ...] = (
    "PERSON",
    "EMAIL",
    "PHONE",
    "ADDRESS",
    "SSN",
    "CREDIT_CARD",
    "IBAN",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "USERNAME",
    "PASSWORD",
    "URL_PERSONAL",
    "LOCATION",
)

# Tag 0 is "O"; label i (0-based) owns tags 1 + 2i (B-) and 2 + 2i (I-).
TAGS: tuple[str, ...] = ("O",) + tuple(t for label in LABELS for t in (f"B-{label}", f"I-{label}"))
OUTSIDE = 0


def begin_tag(label: str) -> int:
    return 1 + 2 * LABELS.index(label)


def inside_tag(label: str) -> int:
    return 2 + 2 * LABELS.index(label)


def tag_label(tag: int) -> str | None:
    """The entity label a tag belongs to (None for O)."""
    return None if tag == OUTSIDE else LABELS[(tag - 1) // 2]


def is_begin(tag: int) -> bool:
    return tag != OUTSIDE and (tag - 1) % 2 == 0


@dataclass(frozen=True, order=True)
class Span:
    """A labelled half-open character range ``text[start:end]``."""

    start: int
    end: int
    label: str

    def to_dict(self, text: str | None = None, score: float | None = None) -> dict[str, object]:
        out: dict[str, object] = {"start": self.start, "end": self.end, "label": self.label}
        if score is not None:
            out["score"] = round(float(score), 4)
        if text is not None:
            out["text"] = text[self.start:self.end]
        return out
