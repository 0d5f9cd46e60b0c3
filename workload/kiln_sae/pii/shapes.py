"""Values whose shape or place fixes them, found beside the probe after decoding (docs/pii-labels.md).

A linear probe reads tokens: it tags the pieces of a military address as a name and a number, cuts a user
name at its "_", and misses an IP address in an unfamiliar log line. Where the label rules define a value by
its form (an IP address, a P.O. box or military mail, a URL's user and secret, an ssh login) or by what it is
part of (a whole identifier, never a configuration key), these steps apply them to the decoded spans. Each is
a detector setting chosen on val by ``pipeline.tune`` (identifier completion is part of the span checks).
"""
from __future__ import annotations

import itertools
import re

from kiln_sae.pii.align import dedupe_spans, trim_edges
from kiln_sae.pii.labels import Span

# Mail that goes to a box, not a street (docs/pii-labels.md: ADDRESS): a P.O. box, and US military mail, whose
# last line ("APO AE 09021": APO/FPO/DPO, then AA/AE/AP, then a ZIP) is fixed by the postal service, after a unit
# ("PSC 3982, Box 5979", "Unit 0143 Box 6349") or a ship ("USNS Šimić"). The probe tags these in pieces or as a
# name (a ship's name is a surname), so like an IP address they are found by their shape.
_MAIL_SEP = r"[ \t]*(?:,[ \t]*|\n[ \t]*)?"
_SHIP_WORD = r"[^\W\d_][\w'.\-]*"
_MILITARY_MAIL = re.compile(
    r"(?<!\w)(?:(?:(?:(?:PSC|CMR|Unit)[ \t]+\d{1,5},?[ \t]+)?Box[ \t]+\d{1,5}"
    r"|(?:USNS|USNV|USS|USCGC)[ \t]+(?P<ship>" + _SHIP_WORD + r"(?:[ \t]+" + _SHIP_WORD + r"){0,2}))"
    + _MAIL_SEP + r")?(?P<line>[AFD]PO[ \t]+A[AEP][ \t]+\d{5}(?:-\d{4})?)(?![\w-])")
_PO_BOX = re.compile(r"(?<![\w.])(?:P\.[ \t]?O\.|PO|Post[ \t]?Office)[ \t]?Box[ \t]+#?\d{1,7}(?!\w)", re.IGNORECASE)


def _military(m: re.Match[str]) -> Span:
    """A ship's name is its words' to the APO line only when each is capitalised ("USNS Šimić", not "USS
    Constitution for"): otherwise the address is the APO line alone."""
    ship = m.group("ship")
    if ship is not None and not all(w[0].isupper() for w in ship.split()):
        return Span(m.start("line"), m.end(), "ADDRESS")
    return Span(m.start(), m.end(), "ADDRESS")


def mail_addresses(text: str) -> list[Span]:
    """Every P.O. box and military mail address in ``text`` (a P.O. box's town and ZIP join it afterwards by the
    one-span ADDRESS rule, ``join_address_parts``, when the probe tags them)."""
    found = [_military(m) for m in _MILITARY_MAIL.finditer(text)]
    found += [Span(m.start(), m.end(), "ADDRESS") for m in _PO_BOX.finditer(text)]
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
# ("svc" of "svc_billing"). A password stops at quotes, separators, the delimiters of a connection string
# ("app:s3cret@host") and of a shell line ("ghp_abc|grep", "# comment", a question's "?"), and at an "&" that
# starts a query's next parameter ("key=AbC123&format=json"; "Tr0ub4dor&3-billing" is one password); a user
# name at anything but letters, digits, "_", "." and "-".
_ID_CHARS = {"USERNAME": re.compile(r"[\w.\-]"), "PASSWORD": re.compile(r"[^\s'\"`,;:=@/<>()\[\]{}?|#]")}
_NEXT_PARAMETER = re.compile(r"&[\w.\-]+=")
# A configuration key: SNAKE_CASE in capitals, or a bare capitalised credential word ("PASSWORD=hunter2"),
# followed by "=" or ":" (after its closing quote in JSON or YAML: {"POSTGRES_USER": "svc"}).
_ENV_KEY = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PASSWORD|PASSWD|PASS|PWD|USER|USERNAME|LOGIN|TOKEN|SECRET|APIKEY")
_KEY_FOLLOWS = re.compile(r"[\"']?[ \t]*[=:]")


def _grow(text: str, start: int, end: int, chars: re.Pattern[str], lo: int, hi: int) -> tuple[int, int]:
    """Extend [start, end) over ``chars`` within [lo, hi) (the neighbouring spans' edges: growing never eats
    another span); a "." or "-" is crossed only between two other such characters, so a sentence's full stop
    or a dash after the value stays out."""
    def inner(i: int) -> bool:
        return lo <= i < hi and bool(chars.match(text[i])) and text[i] not in ".-"

    while start > lo and chars.match(text[start - 1]) and (text[start - 1] not in ".-" or inner(start - 2)):
        start -= 1
    while (end < hi and chars.match(text[end]) and (text[end] not in ".-" or inner(end + 1))
           and not _NEXT_PARAMETER.match(text, end)):
        end += 1
    return start, end


def complete_identifiers(text: str, spans: list[tuple[Span, float]]) -> list[tuple[Span, float]]:
    """USERNAME and PASSWORD spans grown to the whole identifier they lie in ("svc" -> "svc_billing"), up to
    the neighbouring spans, and dropped when that identifier is a configuration key ("AWS_ACCESS_KEY_ID=",
    "POSTGRES_USER:"): a key names a value, it is never one."""
    ordered = sorted(spans, key=lambda p: p[0])
    out = []
    for i, (span, score) in enumerate(ordered):
        if span.label in _ID_CHARS:
            lo = max([s.end for s, _ in ordered[:i] if s.end <= span.start], default=0)
            hi = min([s.start for s, _ in ordered[i + 1:] if s.start >= span.end], default=len(text))
            start, end = _grow(text, span.start, span.end, _ID_CHARS[span.label], lo, hi)
            if _ENV_KEY.fullmatch(text[start:end]) and _KEY_FOLLOWS.match(text, end):
                continue
            span = Span(start, end, span.label)
        out.append((span, score))
    return dedupe_spans(out)


# Credentials fixed by their position (docs/pii-labels.md): the user and secret of a URL's authority
# ("postgres://app_user:h7Gv!p2wQz@10.0.4.15/app") and the login of an ssh-like command ("ssh deploy@host",
# "scp a.txt bob@h2:/tmp", "ssh -l alice host"). The scheme is bounded (at most 30 characters, not preceded by
# one of its own), so a long run of letters and dashes is read once.
_URL_CREDENTIALS = re.compile(
    r"(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{0,30}://([^\s:/@'\"]+)(?::([^\s@/'\"]+))?@[\w.\-\[\]:]+", re.IGNORECASE)
_SSH_COMMAND = re.compile(r"(?<![\w./~-])(?:ssh|scp|sftp|rsync|mosh)(?=[ \t])")
_REMOTE = re.compile(r"([A-Za-z_][\w.\-]*)@[\w\-]+(?:\.[\w\-]+)*(?::\S*)?")
_ARGUMENT = re.compile(r"-\S+|\d+|[~./]\S*|\S*/\S*|[\w\-]+\.\w{1,5}")  # an option, a port, a path, a file
_OPTION_VALUE = {"-p", "-P", "-i", "-o", "-F", "-J", "-e", "-b", "-c", "-E", "-S", "-W"}
_SHELL_END = re.compile(r"[;|&\n]")
_WORD = re.compile(r"\S+")
_COMMAND_WINDOW = 1000  # characters after the command word that can hold its arguments
GENERIC_ACCOUNTS = frozenset(("root", "admin", "user", "username", "postgres", "ubuntu", "ec2-user", "git",
                              "x-access-token", "oauth2", "anonymous", "guest", "default"))
# A reference or a template, no value: "${DB_PASSWORD}", "<user>", "****", "[REDACTED]", "%(password)s", and a
# credential word standing for itself ("postgres://user:password@localhost").
_REFERENCE = re.compile(r"[<>${}*\[\]%]|^\.\.\.$|^(?:password|passwd|pass|pwd|secret|token|changeme|redacted|"
                        r"user|username|login)$", re.IGNORECASE)
# An access token in a URL's user slot (GitHub's "https://ghp_…@github.com") is a secret, not a login.
_TOKEN = re.compile(r"^(?:gh[pousr]_|github_pat_|glpat-|xox[abp]-)|^[A-Za-z0-9_\-]{32,}$")


def _ssh_logins(text: str) -> list[Span]:
    """The logins of ssh-like commands: each argument after the command word, up to the end of the shell
    command, is read while it looks like one (an option and its value, a port, a path, a file name, a
    remote ``user@host[:path]``); prose stops it, so "I can't ssh into my email jo@x.org" gives nothing."""
    found = []
    for cmd in _SSH_COMMAND.finditer(text):
        # A command's arguments fit in a window: reading to the end of a long line for every "ssh" in it would
        # make a pasted runbook quadratic.
        window = min(len(text), cmd.end() + _COMMAND_WINDOW)
        end = _SHELL_END.search(text, cmd.end(), window)
        args = list(itertools.islice(_WORD.finditer(text, cmd.end(), end.start() if end else window), 16))
        i = 0
        while i < len(args):
            arg, at = args[i].group(), args[i].start()
            remote = _REMOTE.fullmatch(arg)
            if remote:
                found.append(Span(at, at + remote.end(1), "USERNAME"))
            elif arg == "-l" and i + 1 < len(args):  # "ssh -l alice host"
                found.append(Span(args[i + 1].start(), args[i + 1].end(), "USERNAME"))
                i += 1
            elif arg in _OPTION_VALUE:
                i += 1  # its value ("-p 2222", "-i ~/.ssh/key")
            elif not _ARGUMENT.fullmatch(arg):
                break
            i += 1
    return found


def credentials(text: str) -> list[Span]:
    """The user names and secrets that a URL's authority or an ssh-like command puts in a fixed place, less
    generic system accounts (for user names) and references to a secret (the label rules' exclusions)."""
    found = []
    for m in _URL_CREDENTIALS.finditer(text):
        user = Span(m.start(1), m.end(1), "PASSWORD" if _TOKEN.search(m.group(1)) else "USERNAME")
        found.append(user)
        if m.group(2):
            found.append(Span(m.start(2), m.end(2), "PASSWORD"))
    found += _ssh_logins(text)
    return sorted({s for s in found if not _REFERENCE.search(text[s.start:s.end])
                   and not (s.label == "USERNAME" and text[s.start:s.end].lower() in GENERIC_ACCOUNTS)})


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
