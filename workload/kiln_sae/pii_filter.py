"""The PII-rich filter (the runbook's ``--pii-filter``): keep conversations that contain PII-like content.

This is a *data selection* heuristic, not the PII detector (that is ``kiln_sae.pii``): it only has to be
cheap and rarely fooled by numbers that merely look like identifiers. Patterns with a checksum are
validated (card numbers with Luhn, IBANs with ISO 13616 mod-97, IPs by octet range) so arbitrary digit
runs in code or maths do not count.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from kiln_sae.checksums import iban_mod97_ok, luhn_ok

_STREET_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
                  r"Terrace|Parkway|Pkwy|Highway|Hwy|Square|Sq)")


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def luhn_valid(number: str) -> bool:
    """Luhn checksum over the digits of ``number`` (13-19 digits, as payment cards have)."""
    digits = _digits(number)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def iban_valid(candidate: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters → 10..35, the number mod 97 is 1."""
    s = candidate.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    return iban_mod97_ok(s)


def _ip_valid(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _phone_valid(candidate: str) -> bool:
    return 7 <= len(_digits(candidate)) <= 15


@dataclass(frozen=True)
class PiiPattern:
    name: str
    regex: re.Pattern[str]
    validate: Callable[[str], bool] | None = None


PATTERNS: tuple[PiiPattern, ...] = (
    PiiPattern("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    PiiPattern("phone", re.compile(
        # not part of a longer run of digit groups (card numbers, IBAN bodies)
        r"(?<![\w+])(?<!\d )(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}"
        r"(?![\w-])(?! \d)"),
        _phone_valid),
    PiiPattern("ssn", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")),
    PiiPattern("card_number", re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"), luhn_valid),
    PiiPattern("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), iban_valid),
    PiiPattern("ip_address", re.compile(
        r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])"),
        _ip_valid),
    PiiPattern("street_address", re.compile(rf"\b\d{{1,5}}\s+(?:[A-Z][a-z]+\s+){{1,3}}{_STREET_SUFFIX}\b")),
    PiiPattern("date_of_birth", re.compile(
        r"\b(?i:date of birth|d\.o\.b\.?|dob|born on|birthday is|birth date)\b\W{0,3}\w")),
    PiiPattern("name_intro", re.compile(r"\b(?i:my name is|my name's|i am called|i'm called)\s+[A-Z][a-z]+")),
    PiiPattern("credential", re.compile(
        r"\b(?i:password|passwd|pwd|passcode|pin code|api[ _-]?key|secret[ _-]?key|access[ _-]?token|"
        r"auth[ _-]?token)\b\s*(?i:is|was|=|:)\s*\S{4,}"
        r"|\bAKIA[0-9A-Z]{16}\b|\bsk-[A-Za-z0-9_-]{20,}|\bgh[pousr]_[A-Za-z0-9]{36}\b")),
)
PATTERN_NAMES = tuple(p.name for p in PATTERNS)


@dataclass(frozen=True)
class PiiMatch:
    kind: str
    start: int
    end: int
    value: str


def find_pii(text: str) -> list[PiiMatch]:
    """Every validated PII-like match in ``text``, in pattern order then position order."""
    found: list[PiiMatch] = []
    for pattern in PATTERNS:
        for m in pattern.regex.finditer(text):
            if pattern.validate is None or pattern.validate(m.group(0)):
                found.append(PiiMatch(pattern.name, m.start(), m.end(), m.group(0)))
    return found


@dataclass
class PiiFilterReport:
    """What the filter saw: ``per_pattern`` counts *conversations* with at least one match of that pattern."""

    scanned: int = 0
    kept: int = 0
    per_pattern: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PATTERN_NAMES, 0))

    def as_dict(self) -> dict[str, object]:
        return {"scanned": self.scanned, "kept": self.kept, "per_pattern": dict(self.per_pattern)}


class PiiRichFilter:
    """Stateful predicate: ``keep(text)`` is True when any pattern matches; it counts as it goes."""

    def __init__(self) -> None:
        self.report = PiiFilterReport()

    def keep(self, text: str) -> bool:
        self.report.scanned += 1
        kinds = {m.kind for m in find_pii(text)}
        for kind in kinds:
            self.report.per_pattern[kind] += 1
        if kinds:
            self.report.kept += 1
        return bool(kinds)
