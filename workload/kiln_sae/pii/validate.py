"""Span validation after decoding: checksums and reserved values that a linear token probe cannot learn.

A probe sees tokens, not arithmetic: a 16-digit run in an unseen phrasing looks the same whether it is a
card, an account number or a phone number. The checksums settle it (Luhn for cards, ISO 13616 mod-97 for
IBANs). Reserved values are placeholders by definition, never a person's data: RFC 2606/6761 domains
(example.com, *.test, ...), NANP fictional numbers 555-0100..0199, toll-free business numbers, and
loopback/unspecified/documentation IP addresses. This runs inside the detector, so every probe gets it and
the reported F1 is that of what ships; Presidio is scored as shipped, without it.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from kiln_sae.checksums import iban_mod97_ok, luhn_ok
from kiln_sae.pii.rules import is_placeholder  # the label rules' placeholder list (docs/pii-labels.md)

__all__ = ["luhn_ok", "is_card", "iban_shaped", "is_iban", "is_placeholder", "resolve", "value_core"]

_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+(?:\s*(?:x|ext\.?)\s*\d+)?$", re.IGNORECASE)
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_CARD_CHARS = re.compile(r"^[\d \-]+$")


def is_card(value: str) -> bool:
    """12-19 digits (Maestro starts at 12), separated only by spaces or dashes, passing Luhn."""
    digits = re.sub(r"\D", "", value)
    return bool(_CARD_CHARS.match(value)) and 12 <= len(digits) <= 19 and luhn_ok(digits)


def iban_shaped(value: str) -> bool:
    return bool(_IBAN.match(re.sub(r"[\s\-]", "", value).upper()))


def is_iban(value: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, the number mod 97 is 1."""
    compact = re.sub(r"[\s\-]", "", value).upper()
    if not _IBAN.match(compact):
        return False
    return iban_mod97_ok(compact)


def digit_count(value: str) -> int:
    return sum(c.isdigit() for c in value)


def phone_shaped(value: str) -> bool:
    """7-15 digits written the way phone numbers are: a leading +, brackets, or digit groups."""
    v = value.strip()
    return bool(_PHONE_CHARS.match(v)) and 7 <= digit_count(v) <= 15 and (
        v.startswith("+") or "(" in v or bool(re.search(r"\d[\s.\-/]\d", v)))


_IPV4_PART = re.compile(r"^\d{1,3}(?:\.\d{1,3}){2,3}(?:/\d{1,2})?(?::\d{1,5})?$")
_IPV6_PART = re.compile(r"^[0-9A-Fa-f:]+(?:/\d{1,3})?$")


def ip_like(value: str) -> bool:
    """An IP address, or most of one (a span that lost an end still overlaps the gold one): three or four
    dotted groups (with a port or prefix), or three or more colons of hex groups. Clock times ("13:55",
    "08:14:31") and versions with letters are not."""
    v = value.strip().strip("[]")
    try:
        ipaddress.ip_address(v.split("%")[0])
        return True
    except ValueError:
        pass
    return bool(_IPV4_PART.match(v)) or (v.count(":") >= 3 and bool(_IPV6_PART.match(v)))


NUMERIC = ("CREDIT_CARD", "IBAN", "PHONE", "SSN")
# The fewest digits a span can hold and still be most of an IBAN: the shortest (Norway, 15 characters) has 13
# digits, so any span covering half of one holds 6 or more; "DPO AP 80308" (US military mail) holds 5.
MIN_IBAN_PART_DIGITS = 6
_DIGIT_RUN = re.compile(r"\+?\d[\d \-.()/]*\d")


def value_core(value: str, label: str) -> tuple[int, int] | None:
    """Where a number's value lies inside a span of a number-like ``label`` that ran onto a neighbouring word
    ("Karte 4916 3384 2010 5552", "# 3571240659657568", "tel 723 813 266 office"): the extent of its one digit
    run, set off by whitespace, when the whole span is not a valid value and the run is: a card by Luhn for any
    of these labels, a phone-shaped number only for PHONE and SSN. An IBAN or card label is never narrowed to
    a mere phone shape: "Konto 1234 5678 90" is a domestic account number (docs/pii-labels.md), not a phone.
    None: keep the span as it is (a glued "K-559103" or "ID 4711" stays)."""
    if label not in NUMERIC or is_card(value) or is_iban(value) or phone_shaped(value):
        return None
    runs = list(_DIGIT_RUN.finditer(value))
    if len(runs) != 1:
        return None
    m = runs[0]
    if (m.start() > 0 and not value[m.start() - 1].isspace()) or (m.end() < len(value) and not value[m.end()].isspace()):
        return None
    core = m.group()
    ok = is_card(core) or (label in ("PHONE", "SSN") and phone_shaped(core))
    return (m.start(), m.end()) if ok else None


def resolve(value: str, ranked: Sequence[str]) -> str | None:
    """The label for span text ``value`` given the probe's plausible labels (by decreasing probability mass,
    runners-up only when they carry real mass), or None to drop the span. Checksums override the probe
    among the number-like labels; a placeholder is dropped."""
    top = ranked[0]
    if top in NUMERIC:
        # 12-13 digit runs are also account numbers and Aadhaar-style IDs (10% pass Luhn by chance), so
        # there a valid checksum only confirms a card the probe already called; from 14 digits it decides.
        if is_card(value) and (top == "CREDIT_CARD" or len(re.sub(r"\D", "", value)) >= 14):
            top = "CREDIT_CARD"
        elif is_iban(value):
            top = "IBAN"
        elif top == "CREDIT_CARD" and len(ranked) > 1:
            # Not a valid card number (a partial span fails too, so only switch when the probe itself
            # gave another label real mass): take that runner-up.
            top = ranked[1]
        elif top == "IBAN" and not iban_shaped(value) and phone_shaped(value):
            # Account numbers and BICs are written as one run; "+34 910 002 967" or "(0)1632 960571" is a phone.
            top = "PHONE"
        elif top == "IBAN" and not iban_shaped(value) and digit_count(value) < MIN_IBAN_PART_DIGITS:
            # Too few digits to be (most of) any country's IBAN: a postcode or military mail's "DPO AP 80308".
            # The runner-up stands only if it is not another number label (those were checked above as IBAN).
            top = ranked[1] if len(ranked) > 1 and ranked[1] not in NUMERIC else None
    if top == "ADDRESS" and not any(c.isalpha() for c in value):
        # No street or place name: a number on its own is a phone if it is shaped like one, else nothing.
        top = "PHONE" if phone_shaped(value) or 10 <= digit_count(value) <= 15 else None
    elif top == "EMAIL" and "@" not in value:
        # "marianne.garcia" without a domain is a handle.
        top = ranked[1] if len(ranked) > 1 and ranked[1] != "EMAIL" else "USERNAME"
    elif top == "SSN" and value.isdigit() and len(value) < 7:
        # National IDs that are all digits have 8+ (SSN 9, DNI 8, Aadhaar 12); "507878" is a reference.
        top = None
    if top == "IP_ADDRESS" and not ip_like(value):
        # A linear probe tags digits-and-colons in logs as addresses; "13:55" is a clock time.
        top = ranked[1] if len(ranked) > 1 and ranked[1] != "IP_ADDRESS" else None
    if top == "PHONE" and digit_count(value) < 7:
        # No numbering plan has phone numbers under 7 digits: "PO-654709" is a reference.
        top = ranked[1] if len(ranked) > 1 and ranked[1] != "PHONE" else None
    elif top == "ADDRESS" and digit_count(value) == 0:
        # An address has a house number or a postcode.
        # A bare place name is a LOCATION when the probe gave that real mass; otherwise it is a company
        # or a job title, not an address.
        top = "LOCATION" if "LOCATION" in ranked else None
    return None if top is None or is_placeholder(value, top) else top
