"""PII-rich filter: each pattern matches its kind, checksums reject look-alikes."""
from __future__ import annotations

import pytest

from kiln_sae.pii_filter import PATTERN_NAMES, PiiRichFilter, find_pii, iban_valid, luhn_valid


@pytest.mark.parametrize("kind,text", [
    ("email", "write to jane.doe+news@mail.example.co.uk today"),
    ("phone", "call (415) 555-0132 or +44 20 7946 0958"),
    ("ssn", "SSN 078-05-1120 on file"),
    ("card_number", "card 4111 1111 1111 1111 exp 12/29"),
    ("iban", "IBAN GB82 WEST 1234 5698 7654 32 please"),
    ("ip_address", "server at 192.168.10.254 and 2001:db8:0:0:0:0:2:1"),
    ("street_address", "ship it to 1600 Pennsylvania Avenue tomorrow"),
    ("date_of_birth", "my date of birth: 04/07/1990"),
    ("name_intro", "Hello, my name is Priya Natarajan"),
    ("credential", "the wifi password is hunter22!"),
    ("credential", "key AKIAIOSFODNN7EXAMPLE leaked"),
])
def test_each_pattern_finds_its_kind(kind: str, text: str) -> None:
    assert kind in {m.kind for m in find_pii(text)}


@pytest.mark.parametrize("text", [
    "the result is 4111 1111 1111 1112",  # fails Luhn
    "code GB82 WEST 1234 5698 7654 33",  # fails mod-97
    "version 999.1.2.3 released",  # not an IP (octet > 255)
    "SSN-like 000-12-3456 is never issued",
    "my name is not important",  # lower-case word after the phrase
    "the year 2024 had 365 days and 12 months",
])
def test_look_alikes_are_rejected(text: str) -> None:
    assert find_pii(text) == []


def test_checksums_against_known_values() -> None:
    assert luhn_valid("4539 1488 0343 6467") and not luhn_valid("4539 1488 0343 6468")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE89 3704 0044 0532 0130 01")


def test_filter_reports_kept_and_per_pattern_counts() -> None:
    f = PiiRichFilter()
    texts = ["mail a@b.io and b@c.io", "nothing here", "SSN 078-05-1120, mail x@y.org"]
    assert [f.keep(t) for t in texts] == [True, False, True]
    report = f.report.as_dict()
    assert report["scanned"] == 3 and report["kept"] == 2
    assert report["per_pattern"]["email"] == 2  # conversations, not matches
    assert report["per_pattern"]["ssn"] == 1
    assert set(report["per_pattern"]) == set(PATTERN_NAMES)
