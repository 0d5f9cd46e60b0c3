"""Values whose shape or place fixes them, found beside the probe after decoding (docs/pii-labels.md).

A linear probe reads tokens: it tags the pieces of a military address as a name and a number, cuts a user
name at its "_", and misses an IP address in an unfamiliar log line. Where the label rules define a value by
its form (an IP address, a P.O. box or military mail, a URL's user and secret, an ssh login) or by what it is
part of (a whole identifier, never a configuration key), these steps apply them to the decoded spans. Each is
a detector setting chosen on val by ``pipeline.tune`` (identifier completion is part of the span checks).
"""
from __future__ import annotations

import re

from kiln_sae.pii.align import dedupe_spans, trim_edges
from kiln_sae.pii.labels import Span

# Mail that goes to a box, not a street (docs/pii-labels.md: ADDRESS): a P.O. box, and US military mail, whose
# last line ("APO AE 09021": APO/FPO/DPO, then AA/AE/AP, then a ZIP) is fixed by the postal service, after a unit
# ("PSC 3982, Box 5979", "Unit 0143 Box 6349") or a ship ("USNS Šimić"). The probe tags these in pieces or as a
# name (a ship's name is a surname), so like an IP address they are found by their shape.
_MAIL_SEP = r"[ \t]*(?:,[ \t]*|\n[ \t]*)?"
_MILITARY_MAIL = re.compile(
    r"(?<!\w)(?:(?:(?:PSC|CMR|Unit)[ \t]+\d{1,5},?[ \t]+Box[ \t]+\d{1,5}|(?:USNS|USNV|USS|USCGC)[ \t]+[^\W\d][^\n,]{0,30}?)"
    + _MAIL_SEP + r")?[AFD]PO[ \t]+A[AEP][ \t]+\d{5}(?!\w)")
_PO_BOX = re.compile(r"(?<![\w.])(?:P\.[ \t]?O\.|PO|Post[ \t]?Office)[ \t]?Box[ \t]+\d{1,6}(?!\w)", re.IGNORECASE)


def mail_addresses(text: str) -> list[Span]:
    """Every P.O. box and military mail address in ``text`` (a P.O. box's town and ZIP join it afterwards by the
    one-span ADDRESS rule, ``join_address_parts``, when the probe tags them)."""
    found = [Span(m.start(), m.end(), "ADDRESS") for rx in (_MILITARY_MAIL, _PO_BOX) for m in rx.finditer(text)]
    return [s for s, _ in dedupe_spans([(s, 1.0) for s in found])]


def add_mail_addresses(text: str, spans: list[tuple[Span, float]]) -> list[tuple[Span, float]]:
    """Decoded spans with each mail address (``mail_addresses``) made one ADDRESS: the spans over it are
    replaced (the probe's pieces of it, or a ship's name called a PERSON), and an ADDRESS reaching past it is
    widened to cover both."""
    out = list(spans)
    for mail in mail_addresses(text):
        start, end = mail.start, mail.end
        over = [(s, sc) for s, sc in out if s.start < end and start < s.end]
        for s, _ in over:
            if s.label == "ADDRESS":
                start, end = min(start, s.start), max(end, s.end)
        out = [p for p in out if p not in over] + [(Span(start, end, "ADDRESS"), 1.0)]
    return sorted(out, key=lambda p: p[0])


# Characters a handle or a secret continues over when the probe tagged only part of it: word tokens split at "_"
# ("svc" of "svc_billing"). A password stops at quotes, separators and the delimiters of a connection string
# ("app:s3cret@host"), a user name at anything but letters, digits, "_", "." and "-".
_ID_CHARS = {"USERNAME": re.compile(r"[\w.\-]"), "PASSWORD": re.compile(r"[^\s'\"`,;:=@/<>()\[\]{}]")}
_ENV_KEY = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_KEY_FOLLOWS = re.compile(r"[ \t]*[=:]")


def _grow(text: str, start: int, end: int, chars: re.Pattern[str]) -> tuple[int, int]:
    """Extend [start, end) over ``chars``; a "." or "-" is crossed only between two other such characters, so a
    sentence's full stop or a dash after the value stays out."""
    def inner(i: int) -> bool:
        return 0 <= i < len(text) and bool(chars.match(text[i])) and text[i] not in ".-"

    while start > 0 and chars.match(text[start - 1]) and (text[start - 1] not in ".-" or inner(start - 2)):
        start -= 1
    while end < len(text) and chars.match(text[end]) and (text[end] not in ".-" or inner(end + 1)):
        end += 1
    return start, end


def complete_identifiers(text: str, spans: list[tuple[Span, float]]) -> list[tuple[Span, float]]:
    """USERNAME and PASSWORD spans grown to the whole identifier they lie in ("svc" -> "svc_billing"), and
    dropped when that identifier is a configuration key ("AWS_ACCESS_KEY_ID=", "POSTGRES_USER:"): a key
    names a value, it is never one."""
    out = []
    for span, score in spans:
        if span.label in _ID_CHARS:
            start, end = _grow(text, span.start, span.end, _ID_CHARS[span.label])
            if _ENV_KEY.fullmatch(text[start:end]) and _KEY_FOLLOWS.match(text, end):
                continue
            span = Span(start, end, span.label)
        out.append((span, score))
    return dedupe_spans(out)


# Credentials fixed by their position (docs/pii-labels.md): the user and secret of a URL's authority
# ("postgres://app_user:h7Gv!p2wQz@10.0.4.15/app") and the login of an ssh-like command ("ssh deploy@host").
_URL_CREDENTIALS = re.compile(r"\b[a-z][a-z0-9+.\-]*://([^\s:/@'\"]+)(?::([^\s@/'\"]+))?@[\w.\-\[\]:]+", re.IGNORECASE)
_SSH_LOGIN = re.compile(r"\b(?:ssh|scp|sftp|rsync|mosh)\b[^\n@]*?(?<![\w.\-])([A-Za-z_][\w.\-]*)@[\w\-]+(?:\.[\w\-]+)*")
GENERIC_ACCOUNTS = frozenset(("root", "admin", "user", "username", "postgres", "ubuntu", "ec2-user", "git"))
_REFERENCE = re.compile(r"[<>${}*]|^\.\.\.$")  # "${DB_PASSWORD}", "<user>", "****": a reference, no value


def credentials(text: str) -> list[Span]:
    """The user names and secrets that a URL's authority or an ssh-like command puts in a fixed place, less
    generic system accounts and references to a secret (the label rules' exclusions)."""
    found = []
    for m in _URL_CREDENTIALS.finditer(text):
        found.append(Span(m.start(1), m.end(1), "USERNAME"))
        if m.group(2):
            found.append(Span(m.start(2), m.end(2), "PASSWORD"))
    found += [Span(m.start(1), m.end(1), "USERNAME") for m in _SSH_LOGIN.finditer(text)]
    return sorted(s for s in found if text[s.start:s.end].lower() not in GENERIC_ACCOUNTS
                  and not _REFERENCE.search(text[s.start:s.end]))


def add_credentials(text: str, spans: list[tuple[Span, float]]) -> list[tuple[Span, float]]:
    """Decoded spans plus the credentials (``credentials``) the probe missed or mislabelled: a span inside one
    is replaced, a span of the same label over it is kept as the probe's, and one reaching past it (the whole
    URL called a URL_PERSONAL) is left alone."""
    out = list(spans)
    for cred in credentials(text):
        over = [(s, sc) for s, sc in out if s.start < cred.end and cred.start < s.end]
        if any(s.label == cred.label or s.start < cred.start or s.end > cred.end for s, _ in over):
            continue
        out = [p for p in out if p not in over] + [(cred, 1.0)]
    return sorted(out, key=lambda p: p[0])


_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\.?\d)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?![\w:])")


def public_ips(text: str) -> list[Span]:
    """Every IP address in ``text`` that the label rules call personal (docs/pii-labels.md: not loopback,
    private, link-local or a documentation range): an IP_ADDRESS is fully defined by its shape."""
    import ipaddress

    from kiln_sae.pii.rules import is_placeholder

    found = []
    for rx in (_IPV4, _IPV6):
        for m in rx.finditer(text):
            # An unbracketed IPv6 address with a port ("...:3966:dec9:5432" in a connection string) is the
            # address without its last group.
            for value in (m.group(), m.group().rsplit(":", 1)[0]):
                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    continue
                if not is_placeholder(value, "IP_ADDRESS"):
                    found.append(Span(m.start(), m.start() + len(value), "IP_ADDRESS"))
                break
    return sorted(found)


def add_public_ips(text: str, spans: list[tuple[Span, float]]) -> list[tuple[Span, float]]:
    """Decoded spans plus every public IP address the probe missed (``public_ips``). A span of another label
    over the address is replaced when it holds nothing else but digits and separators ("83.24.117.201:5432"
    called a PASSWORD), and cut at the ``@`` when the address is the host of a connection string whose secret
    the probe ran on into it ("s3cret@83.24.117.201:5432" is a PASSWORD, then the address); one with other
    words around the address (a URL) is kept, and the address is not added."""
    out = list(spans)
    for ip in public_ips(text):
        over = [(s, sc) for s, sc in out if s.start < ip.end and ip.start < s.end]
        if any(s.label == "IP_ADDRESS" for s, _ in over):
            continue
        kept: list[tuple[Span, float]] = []
        for s, sc in over:
            before, after = text[s.start:ip.start], text[ip.end:s.end]
            if any(c.isalpha() for c in after) or (any(c.isalpha() for c in before) and not before.endswith("@")):
                break
            if before.rstrip("@"):
                start, end = trim_edges(text, s.start, ip.start - 1)
                if end > start:
                    kept.append((Span(start, end, s.label), sc))
        else:
            out = [p for p in out if p not in over] + kept + [(ip, 1.0)]
    return sorted(out, key=lambda p: p[0])
