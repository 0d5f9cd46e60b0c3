"""The label rules of docs/pii-labels.md as code: one module used by the generators (gold spans must be
canonical), the scorer (gold and predicted spans are canonicalised the same way before matching) and the
span checks (placeholders are never PII). Change a rule here and in docs/pii-labels.md together.

- ``canonical(text, span)``: the span's extent under the edge rules (no surrounding whitespace or sentence
  punctuation, no honorific before a PERSON, no possessive 's after it, no ``mailto:``; an abbreviation's own
  period is kept: "Main St.").
- ``is_placeholder(value, label)``: reserved or textbook values (example.com, 555-01xx, documentation IPs,
  "John Doe") that are never a person's data.
- ``PRESIDIO_EVALUATOR_MAP`` / ``map_presidio_evaluator``: presidio-evaluator's placeholder types -> our labels.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from kiln_sae.pii.labels import LABELS, Span

_EDGE = " \t\r\n\u00a0,;:!?\"'`()[]{}<>|*"
_SECRET_EDGE = " \t\r\n\u00a0\"'`"
_HONORIFICS = re.compile(
    r"^(?:mr|mrs|ms|miss|mx|dr|prof|sir|dame|herr|frau|hr|fr|m|mme|mlle|sr|sra|srta|don|doña|sig|sig\.ra|dott|ing|avv|dhr|mevr)"
    r"\.?\s+", re.IGNORECASE)
_ABBREV_END = re.compile(r"(?:^|[\s,])(?:[A-Za-z]{1,4}|[A-Z](?:\.[A-Z])*)\.$")
_POSSESSIVE = re.compile(r"(?:'s|’s|')$")

_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_TLDS = (".test", ".example", ".invalid", ".localhost")
_TOLL_FREE = ("800", "888", "877", "866", "855", "844", "833")
PLACEHOLDER_NAMES = ("john doe", "jane doe", "john smith", "max mustermann", "erika mustermann", "jean dupont",
                     "juan pérez", "mario rossi", "jan jansen", "your name", "firstname lastname")
# Card numbers published as test cards (Stripe, Adyen, PayPal docs): never a customer's card.
_TEST_CARDS = ("4111111111111111", "4242424242424242", "5555555555554444", "4000056655665556", "378282246310005",
               "6011111111111117", "5105105105105100", "4012888888881881")
_PLACEHOLDER_STREETS = re.compile(r"^\s*123 (main|fake) (street|st)\b", re.IGNORECASE)
_DOC_NETS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                                     "2001:db8::/32"))


def canonical(text: str, span: Span) -> Span | None:
    """``span`` trimmed to the extent docs/pii-labels.md defines, or None when nothing is left."""
    start, end = span.start, span.end
    edge = _SECRET_EDGE if span.label == "PASSWORD" else _EDGE  # a password may end in "!" or "*"
    while start < end and text[start] in edge and not _paired(text, start, end, start):
        start += 1
    while end > start and text[end - 1] in edge and not _paired(text, start, end, end - 1):
        end -= 1
    # A final period is sentence punctuation unless it ends an abbreviation ("Main St.", "J.") or the value
    # is one where a period is data (a URL path, a password).
    while end > start and text[end - 1] == "." and span.label not in ("PASSWORD",) and not (
            span.label in ("ADDRESS", "PERSON") and _ABBREV_END.search(text[start:end])):
        end -= 1
        while end > start and text[end - 1] in _EDGE:
            end -= 1
    if span.label == "PERSON":
        m = _HONORIFICS.match(text[start:end])
        if m and m.end() < end - start:
            start += m.end()
        p = _POSSESSIVE.search(text[start:end])
        if p and p.start() > 0:
            end = start + p.start()
    elif span.label in ("EMAIL", "URL_PERSONAL") and text[start:end].lower().startswith("mailto:"):
        start += len("mailto:")
    return Span(start, end, span.label) if end > start else None


_PAIRS = {"(": ")", "[": "]"}


def _paired(text: str, start: int, end: int, i: int) -> bool:
    """An edge bracket that has its partner inside the span is part of the value: "(0118) 4960919"."""
    ch = text[i]
    if ch in _PAIRS:
        return _PAIRS[ch] in text[i + 1:end]
    opener = next((o for o, c in _PAIRS.items() if c == ch), None)
    return opener is not None and opener in text[start:i]


def canonical_spans(text: str, spans: Iterable[Span]) -> list[Span]:
    out = [canonical(text, s) for s in spans]
    return sorted(s for s in out if s is not None)


def _domain(value: str) -> str:
    v = value.lower()
    v = v.split("@", 1)[1] if "@" in v else re.sub(r"^[a-z]+://", "", v)
    return re.split(r"[/:?#]", v, maxsplit=1)[0].rstrip(".")


def is_placeholder(value: str, label: str) -> bool:
    """A value reserved for examples or public services, so never personal data (docs/pii-labels.md)."""
    if label in ("EMAIL", "URL_PERSONAL"):
        dom = _domain(value)
        return dom in _RESERVED_DOMAINS or dom == "example" or dom.endswith(tuple("." + d for d in _RESERVED_DOMAINS)) \
            or dom.endswith(_RESERVED_TLDS) or dom == "localhost"
    if label == "PHONE":
        digits = re.sub(r"\D", "", value)
        nanp = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
        return len(nanp) == 10 and (nanp[:3] in _TOLL_FREE or nanp[3:8] == "55501")
    if label == "PERSON":
        return " ".join(value.lower().split()) in PLACEHOLDER_NAMES
    if label == "CREDIT_CARD":
        return re.sub(r"\D", "", value) in _TEST_CARDS
    if label == "ADDRESS":
        return bool(_PLACEHOLDER_STREETS.match(value)) or "anytown" in value.lower()
    if label == "IP_ADDRESS":
        if value.strip().lower() == "localhost":
            return True
        try:
            ip = ipaddress.ip_address(value.strip("[]"))
        except ValueError:
            return False
        # Private (RFC 1918 / ULA) addresses name a machine inside some network, not a person on the internet.
        return ip.is_loopback or ip.is_unspecified or ip.is_private or ip.is_link_local or any(ip in n for n in _DOC_NETS)
    return False


# --- presidio-evaluator -> Kiln labels -------------------------------------------------------------------
IGNORE = "IGNORE"  # a region that is neither scored as gold nor counted against a prediction
PRESIDIO_EVALUATOR_MAP: dict[str, str] = {
    # people
    "person": "PERSON", "name": "PERSON", "name_male": "PERSON", "name_female": "PERSON",
    "first_name": "PERSON", "first_name_male": "PERSON", "first_name_female": "PERSON",
    "first_name_nonbinary": "PERSON", "last_name": "PERSON", "last_name_male": "PERSON",
    "last_name_female": "PERSON",
    # contact and accounts
    "email": "EMAIL", "phone_number": "PHONE", "credit_card_number": "CREDIT_CARD", "credit_card": "CREDIT_CARD",
    "iban": "IBAN", "ip_address": "IP_ADDRESS", "ssn": "SSN", "us_driver_license": "SSN",
    "url": "URL_PERSONAL", "date_of_birth": "DATE_OF_BIRTH", "birthday": "DATE_OF_BIRTH",
    # places: a street part is ADDRESS (merged with its neighbours); a place on its own is LOCATION
    "address": "ADDRESS", "street_name": "ADDRESS", "building_number": "ADDRESS", "secondary_address": "ADDRESS",
    "postcode": "ADDRESS", "zipcode": "ADDRESS",
    "city": "LOCATION", "country": "LOCATION", "state": "LOCATION", "state_abbr": "LOCATION",
    # no Kiln label: ignored regions
    "organization": IGNORE, "job": IGNORE, "prefix": IGNORE, "prefix_male": IGNORE, "prefix_female": IGNORE,
    "nationality": IGNORE, "nation_woman": IGNORE, "nation_man": IGNORE, "nation_plural": IGNORE,
    "religion": IGNORE, "age": IGNORE, "date_time": IGNORE, "day_of_week": IGNORE, "year": IGNORE,
    "hospital": IGNORE,
}
_ADDRESS_PARTS = ("building_number", "street_name", "secondary_address", "postcode", "zipcode")


_NAN_TAIL = re.compile(r"(?:[\s,]|\\n)+nan$")


def _is_nan(value: str) -> bool:
    return value.strip().lower() == "nan"


def _address_glue(gap: str) -> bool:
    """Whether two parts of one address are only separated: spaces, commas, line breaks, escaped line breaks,
    and ``nan`` (a missing part of its person table: "Bolungarvík\\n nan\\n 415" is one address)."""
    return re.sub(r"\bnan\b", "", gap.replace("\\n", "\n")).strip(" ,\n\t") == ""


def map_presidio_evaluator(text: str, raw: Sequence[dict]) -> tuple[list[Span], list[Span]]:
    """(gold spans, ignore regions) for one presidio-evaluator sentence. Unknown types raise KeyError so a
    new generator version cannot silently change what is scored.

    Merging, per docs/pii-labels.md: parts of one address are one ADDRESS, and the city, state, country
    and postcode that follow them belong to it, whether they are separated by spaces, commas or line breaks
    (real ones, or the escaped ``\\n`` its templates write); a first and a last name separated by a space
    are one PERSON. An address made only of a street name (no number or postcode) is not an ADDRESS under our
    rules and becomes an ignore region, and so does a value ``nan`` (a missing cell of its fake-person table,
    not a place)."""
    items = sorted(((int(r["start"]), int(r["end"]), str(r["type"])) for r in raw), key=lambda t: t[0])
    groups: list[list[tuple[int, int, str]]] = []
    ignore: list[Span] = []
    for it in items:
        label = PRESIDIO_EVALUATOR_MAP[it[2]]
        if _is_nan(text[it[0]:it[1]]):  # never a part of anything; inside an address it is only skipped over
            ignore.append(Span(it[0], it[1], IGNORE))
            continue
        if groups:
            prev = groups[-1]
            gap = text[prev[-1][1]:it[0]]
            in_address = any(PRESIDIO_EVALUATOR_MAP[t] == "ADDRESS" for _s, _e, t in prev)
            if in_address and label in ("ADDRESS", "LOCATION") and _address_glue(gap):
                prev.append(it)
                continue
            if gap == " " and PRESIDIO_EVALUATOR_MAP[prev[-1][2]] == label == "PERSON":
                prev.append(it)
                continue
        groups.append([it])
    spans: list[Span] = []
    for g in groups:
        start, end = g[0][0], g[-1][1]
        tail = _NAN_TAIL.search(text, start, end)  # "… GRIMSTAD nan": a missing state inside one address value
        if tail and tail.start() > start:
            ignore.append(Span(tail.end() - 3, end, IGNORE))
            end = tail.start()
        labels = {PRESIDIO_EVALUATOR_MAP[t] for _s, _e, t in g}
        label = "ADDRESS" if "ADDRESS" in labels else labels.pop()
        if label == "ADDRESS" and not any(c.isdigit() for c in text[start:end]):
            label = IGNORE
        if label == IGNORE:
            ignore.append(Span(start, end, IGNORE))
            continue
        c = canonical(text, Span(start, end, label))
        if c is not None:
            (ignore if is_placeholder(text[c.start:c.end], label) else spans).append(c)
    assert all(s.label in LABELS for s in spans)
    return spans, sorted(ignore)
