"""A composing generator of chat traffic with PII: messages are *built* from parts — an ask, then a body in
one of 25 formats (prose about oneself or others, e-mails, letters, chat logs, conversation transcripts, forms,
invoices, CSV, Markdown tables, JSON, YAML, XML, SQL, .env and INI files, code, connection strings, HTTP
requests, server logs, meeting notes, itineraries, signatures, support tickets), with fields drawn per message, their order, presence and language (en, de, fr, es, it, nl)
varied — rather than filling fixed sentences. People's names come from many cultures (``DIVERSE_NAMES``) and in
the forms people type (initials, middle names, honorifics, lower case, first or surname alone, lists of
names); places are real cities and regions worldwide as well as Faker's. Optionally (off by default,
measured in v11) a share of people carry another country's phone and address formats (``WORLD_CONTACT``) and
some US addresses are P.O. boxes or military mail (``US_MAILBOX``), and multi-line messages may come pasted
as escaped strings (``ESCAPED_LINES``, measured in v12). Every
format also carries hard negatives: values that look like PII and are not
(order and ticket numbers, toll-free and 555-01xx numbers, example.com addresses, documentation IPs, hashes,
UUIDs, versions, non-birth dates, ``os.environ[...]`` and ``<YOUR_API_KEY>`` placeholders); 15 % of
messages hold no PII at all.

Splits are **by format**: ``FORMAT_SPLIT`` gives every format to exactly one of train, val and test, so test
measures formats the probe never saw (and the tests check each split covers every label). Labels follow
docs/pii-labels.md; ``Doc.pii`` asserts each span is canonical under ``rules.canonical``.

    python -m kiln_sae.pii.compose --out chat.jsonl --n 3000 --seed 1 --split train [--format lmsys|spans]
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import random
import string
import sys
import uuid
from collections.abc import Callable

from faker import Faker

from kiln_sae.pii import phrases as P
from kiln_sae.pii.escape import escape_lines
from kiln_sae.pii.generate import Example, validate
from kiln_sae.pii.identities import FAKE_MARKER, WORLD_LOCALES, Identity, make_identity, us_mailbox, world_contact
from kiln_sae.pii.labels import Span
from kiln_sae.pii.rules import IGNORE, canonical, is_placeholder

LOCALES = ("en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")
NEGATIVE_SHARE = 0.15
DIVERSE_NAMES = 0.4  # share of people whose name is drawn from many cultures (identities.diverse_name)
# Addresses in several shapes (no postcode, full state name, country, unit; identities._varied_address): off —
# with them (and four address clauses) the SAE probe gained 0.01 on presidio-evaluator but lost 0.03 on the
# hand-written dev set (bench/results/pii_quality_v7.md, "variants").
VARIED_ADDRESSES = False
# Share of people whose address follows another country's formats (identities.world_contact), of those whose
# phone does too, and of US people whose address is a P.O. box or military mail. Off: measured in December 2026
# (bench/results/pii_quality_v11.md) with 0.3 / 0.0 / 0.1 over two SAE seeds, synthetic val did not move
# (-0.005 averaged over the v10 and v11 val sets) and the hand-written dev set fell 0.012, while
# presidio-evaluator rose 0.026 — the set whose errors suggested it, so it cannot decide. With the phones too
# (0.3 / 1.0 / 0.1) dev fell 0.027 and PHONE recall dropped on every set.
WORLD_CONTACT = 0.0
WORLD_PHONE = 0.0
US_MAILBOX = 0.0
# Share of multi-line messages pasted as an escaped string: a JSON value, a log field, a Python repr, where a
# line break is the two characters ``\n`` (escape.py). Chat traffic carries them (an API payload, a log line
# pasted whole), and MiniLM's tokenizer glues the ``n`` to the next word. Off: measured in December 2026
# (bench/results/pii_quality_v12.md) at 0.2 over two SAE seeds, presidio-evaluator (whose templates escape
# line breaks in 65 of 600 sentences) went 0.775 / 0.748 against v10's 0.762 / 0.795 and the hand-written dev
# set 0.823 / 0.835 against 0.836 / 0.824: no gain, and JSON records already escape their addresses.
ESCAPED_LINES = 0.0
# A train format of pasted conversation transcripts: speakers by name at the start of each line ("Dana: ...",
# "[00:03:12] Jesse Park: ..."), talking about themselves, each other and small things. On since v12
# (bench/results/pii_quality_v12.md): over two SAE seeds synthetic val rose on both (0.898 / 0.898 ->
# 0.905 / 0.910; val holds no transcripts, it is format-disjoint), the hand-written dev set moved 0.836 / 0.824
# -> 0.839 / 0.816 (mean -0.003, under one span of 188), presidio-evaluator 0.762 / 0.795 -> 0.799 / 0.793.
# Off, the data are v11's byte for byte.
TRANSCRIPTS = True

# Places where a person lives, works, comes from or travels to (LOCATION): real cities and regions worldwide
# as well as the identity's own (often invented) Faker city, so a real place name in "I live in ..." is
# learnt as a location; the decoys keep places in general statements ("the Berlin office") negative.
WORLD_CITIES = ("London", "Manchester", "Glasgow", "Dublin", "Paris", "Lyon", "Marseille", "Berlin", "Munich",
                "Hamburg", "Vienna", "Zurich", "Geneva", "Madrid", "Barcelona", "Seville", "Lisbon", "Porto", "Rome",
                "Milan", "Naples", "Amsterdam", "Rotterdam", "Brussels", "Antwerp", "Copenhagen", "Stockholm", "Oslo",
                "Helsinki", "Warsaw", "Krakow", "Prague", "Budapest", "Bucharest", "Athens", "Istanbul", "Ankara",
                "Cairo", "Lagos", "Abuja", "Accra", "Nairobi", "Addis Ababa", "Johannesburg", "Cape Town", "Durban",
                "Casablanca", "Tunis", "Dubai", "Abu Dhabi", "Riyadh", "Doha", "Tehran", "Karachi", "Lahore",
                "Mumbai", "Delhi", "Bangalore", "Chennai", "Hyderabad", "Kolkata", "Pune", "Dhaka", "Colombo",
                "Kathmandu", "Bangkok", "Hanoi", "Ho Chi Minh City", "Singapore", "Kuala Lumpur", "Jakarta",
                "Manila", "Shanghai", "Beijing", "Shenzhen", "Hong Kong", "Taipei", "Seoul", "Busan", "Tokyo", "Osaka",
                "Sydney", "Melbourne", "Brisbane", "Perth", "Auckland", "Wellington", "Toronto", "Vancouver",
                "Montreal", "Calgary", "New York", "Boston", "Chicago", "Houston", "Austin", "Dallas", "Denver",
                "Seattle", "Portland", "San Francisco", "Los Angeles", "San Diego", "Phoenix", "Atlanta", "Miami",
                "Philadelphia", "Detroit", "Minneapolis", "Nashville", "Mexico City", "Guadalajara", "Bogota", "Lima",
                "Santiago", "Buenos Aires", "Sao Paulo", "Rio de Janeiro", "Montevideo", "Quito", "Caracas")
REGIONS = ("California", "Texas", "Florida", "New York", "Ohio", "Oregon", "Washington", "Arizona", "Georgia",
           "Michigan", "Illinois", "Massachusetts", "Colorado", "Virginia", "North Carolina", "Pennsylvania", "CA",
           "TX", "NY", "FL", "WA", "MA", "IL", "Ontario", "Quebec", "British Columbia", "Alberta", "Bavaria",
           "Saxony", "Catalonia", "Andalusia", "Tuscany", "Sicily", "Lombardy", "Provence", "Brittany", "Normandy",
           "Scotland", "Wales", "Yorkshire", "Cornwall", "Queensland", "Victoria", "New South Wales", "Punjab",
           "Kerala", "Tamil Nadu", "Maharashtra", "Gujarat", "Bavaria", "Flanders", "Silesia", "Transylvania",
           "Anatolia", "Kurdistan", "the Algarve", "Patagonia", "Bahia", "Minas Gerais", "Jalisco", "Oaxaca")
# Faker locales whose city() and state() are real place names.
_PLACE_LOCALES = ("de_DE", "sv_SE", "fi_FI", "pl_PL", "cs_CZ", "id_ID", "zu_ZA", "ro_RO")
_EXTRA_FAKER_LOCALES = tuple(dict.fromkeys(_PLACE_LOCALES + ("en_AU", "pt_BR", "es_MX")))
_TITLES = ("Dr.", "Dr", "Mr.", "Mrs.", "Ms.", "Mr", "Ms", "Prof.", "Miss", "Mx.")
_DATES_FROM, _DATES_TO = datetime.date(2023, 1, 1), datetime.date(2026, 12, 31)  # fixed: same data on any day


class Doc:
    """A text under construction with its spans: ``t`` appends literal text, ``pii`` a labelled value."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.ignore: list[Span] = []  # regions neither PII nor scored against a detector (organisations)
        self.pos = 0

    def t(self, s: str) -> Doc:
        self.parts.append(s)
        self.pos += len(s)
        return self

    def unscored(self, value: str) -> Doc:
        """An ignored region (docs/pii-labels.md, "Ignored"): a company name, which is often a person's name
        as text ("Kitzmann GmbH", "Lee-Jones"); no training signal there, and no score either way."""
        if value:
            self.ignore.append(Span(self.pos, self.pos + len(value), IGNORE))
        return self.t(value)

    def pii(self, value: str, label: str | None) -> Doc:
        if label == IGNORE:
            return self.unscored(value)
        value = " ".join(value.split()) if label != "ADDRESS" else value.strip()
        if label is not None and value:
            # The span is the value's canonical extent (rules.canonical): a Faker city ending in an
            # apostrophe ("Cagno'") keeps its text, but the label rules decide where the span ends.
            c = canonical(value, Span(0, len(value), label))
            # A Faker value that the rules call a placeholder (a toll-free number, a ULA IPv6) is not PII.
            if c is not None and not is_placeholder(value[c.start:c.end], label):
                self.spans.append(Span(self.pos + c.start, self.pos + c.end, label))
        return self.t(value)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class Ctx:
    """What a format may draw from: the message's people, its language and a seeded RNG."""

    def __init__(self, rng: random.Random, fakers: dict[str, Faker], negative: bool) -> None:
        self.rng = rng
        self.lang = rng.choice(P.LANGS + ("en",) * 4)  # English-heavy, like real traffic
        locale = rng.choice(P.LANG_LOCALES[self.lang] if rng.random() < 0.75 else LOCALES)
        self.fake = fakers[locale]
        self.fake.seed_instance(rng.randrange(2**31))
        self.negative = negative
        self._fakers = fakers
        self.people = [self._abroad(make_identity(self.fake, locale, rng, DIVERSE_NAMES, VARIED_ADDRESSES))
                       for _ in range(4)]

    def _abroad(self, p: Identity) -> Identity:
        """Some people's phone and address come from another country's formats (identities.world_contact),
        and some US addresses are P.O. boxes or military mail: traffic mixes them whatever its language."""
        if not (WORLD_CONTACT or US_MAILBOX):
            return p  # draws nothing, so the v10 data come out unchanged
        r = self.rng.random()
        if r < WORLD_CONTACT:
            loc = self.rng.choice(tuple(WORLD_LOCALES))
            phone, one, lines = world_contact(self._seeded(loc), loc, self.rng)
            return dataclasses.replace(p, phone=phone if self.rng.random() < WORLD_PHONE else p.phone,
                                       address=one, address_lines=lines)
        if p.locale == "en_US" and r < WORLD_CONTACT + US_MAILBOX:
            one, lines = us_mailbox(self.fake, self.rng)
            return dataclasses.replace(p, address=one, address_lines=lines)
        return p

    def city(self, who: Identity) -> str:
        r = self.rng.random()
        if r < 0.45:
            return who.city
        if r < 0.85:
            return self.rng.choice(WORLD_CITIES)
        return self._seeded(self.rng.choice(_PLACE_LOCALES)).city()

    def _seeded(self, locale: str) -> Faker:
        fake = self._fakers[locale]
        fake.seed_instance(self.rng.randrange(2**31))
        return fake

    def region(self) -> str:
        r = self.rng.random()
        if r < 0.6:
            return self.rng.choice(REGIONS)
        if r < 0.8:
            return self._seeded(self.rng.choice(("en_US", "en_US", "en_AU", "pt_BR", "es_MX", "sv_SE"))).state()
        return self._seeded("en_US").country()

    def person_name(self, p: Identity) -> str:
        """A full name in the forms people type: initials, middle names, any case."""
        r, x = self.rng, self.rng.random()
        if x < 0.5:
            return p.name
        if x < 0.58:
            return f"{p.first} {r.choice(string.ascii_uppercase)}. {p.last}"
        if x < 0.64:
            return f"{p.first[0]}. {p.last}"
        if x < 0.74:
            return p.name.lower()
        if x < 0.8:
            return p.name.upper() if r.random() < 0.5 else f"{p.first} {p.last.upper()}"
        if x < 0.86:
            return f"{p.first} {self.rng.choice(_MIDDLE)} {p.last}"
        if x < 0.93:
            return p.first if r.random() < 0.7 else p.first.lower()
        return p.last

    # -- words ---------------------------------------------------------------------------------------------
    def field(self, key: str) -> str:
        return self.rng.choice(P.FIELDS[key].get(self.lang) or P.FIELDS[key]["en"])

    def pick(self, table: dict[str, tuple[str, ...]]) -> str:
        return self.rng.choice(table.get(self.lang) or table["en"])

    # -- values: (value, label); label None for the hard negatives -------------------------------------------
    def value(self, key: str, who: Identity | None = None) -> tuple[str, str | None]:
        r, p = self.rng, who or self.people[0]
        if self.negative or r.random() < 0.06:  # a placeholder among real values, as in pasted templates
            return self.decoy(key)
        if key == "name":
            return self.person_name(p), "PERSON"
        if key == "first":
            return (p.first if r.random() < 0.85 else p.first.lower()), "PERSON"
        if key == "last":
            return p.last, "PERSON"
        if key == "email":
            return r.choice((p.email, p.work_email)), "EMAIL"
        if key == "phone":
            return p.phone, "PHONE"
        if key == "address":
            return p.address, "ADDRESS"
        if key == "address_lines":
            return p.address_lines, "ADDRESS"
        if key == "dob":
            return p.dob, "DATE_OF_BIRTH"
        if key == "iban":
            return r.choice((p.iban, p.iban, p.account)), "IBAN"
        if key == "card":
            return p.card, "CREDIT_CARD"
        if key == "national_id":
            if r.random() < 0.2:
                return f"{r.choice(string.ascii_uppercase)}{r.randint(10**7, 10**8 - 1)}", "SSN"  # passport-style
            return p.national_id, "SSN"
        if key == "username":
            return p.username, "USERNAME"
        if key == "password":
            return r.choice((p.password, p.password, p.api_key, p.token)), "PASSWORD"
        if key == "secret":
            return r.choice((p.api_key, p.token)), "PASSWORD"
        if key == "ip":
            return r.choice((p.ipv4, p.ipv4, p.ipv6)), "IP_ADDRESS"
        if key == "url":
            return p.url, "URL_PERSONAL"
        if key == "city":
            return self.city(p), "LOCATION"
        if key == "country":
            return (p.country if r.random() < 0.5 else self._seeded("en_US").country()), "LOCATION"
        if key == "region":
            return self.region(), "LOCATION"
        raise KeyError(key)

    def decoy(self, key: str) -> tuple[str, None]:
        """A look-alike for field ``key`` that is not personal data (docs/pii-labels.md, "Not PII")."""
        r = self.rng
        table: dict[str, Callable[[], str]] = {
            "name": lambda: r.choice(("John Doe", "Jane Doe", "Max Mustermann", "Your Name", "the customer",
                                      "Customer Service", "Admin", "N/A")),
            "first": lambda: r.choice(("there", "team", "all", "everyone")),
            "last": lambda: r.choice(("Doe", "Mustermann", "Customer", "Support")),
            "region": lambda: r.choice(("N/A", "the region", "Region", "EMEA", "APAC")),
            "email": lambda: r.choice(("support@example.com", "noreply@example.org", "user@example.net",
                                       "test@test.invalid", "billing@example.com")),
            "phone": lambda: r.choice(("1-800-555-0199", "+1 (800) 642-7676", "555-0123", "0800 123 4567",
                                       "+1 888 555 0100")),
            "address": lambda: r.choice(("123 Main Street, Anytown", "123 Fake St", "see above", "n/a")),
            "address_lines": lambda: "123 Main Street\nAnytown",
            "dob": lambda: r.choice(("YYYY-MM-DD", "dd/mm/yyyy", "01/01/1970 (default)", "not provided")),
            "iban": lambda: r.choice(("XX00 0000 0000 0000", "<IBAN>", "DE00 0000 0000 0000 0000 00")),
            "card": lambda: r.choice(("XXXX-XXXX-XXXX-1234", "**** **** **** 4242", "0000 0000 0000 0000")),
            "national_id": lambda: r.choice(("XXX-XX-XXXX", "000-00-0000", "<SSN>")),
            "username": lambda: r.choice(("admin", "root", "user", "postgres", "ubuntu", "<username>")),
            "password": lambda: r.choice(("********", "<YOUR_PASSWORD>", "${DB_PASSWORD}", "changeme?",
                                          "os.environ['DB_PASSWORD']", "[REDACTED]")),
            "secret": lambda: r.choice(("<YOUR_API_KEY>", "${API_TOKEN}", "sk-...", "process.env.API_KEY")),
            "ip": lambda: r.choice(("127.0.0.1", "0.0.0.0", "192.0.2.10", "198.51.100.7", "::1", "2001:db8::1")),
            "url": lambda: r.choice(("https://docs.python.org/3/library/json.html", "https://example.com/login",
                                     "https://github.com/pytorch/pytorch/issues", "https://www.wikipedia.org")),
            "city": lambda: r.choice(("Springfield (the show)", "Eldoria", "Vantor Keep", "Mirefall")),
            "country": lambda: r.choice(("the EU", "Eldoria", "n/a")),
            "region": lambda: r.choice(("the region", "EMEA", "APAC", "n/a")),
        }
        return table[key](), None

    def not_personal(self, key: str) -> str:
        """Words that look like names or dates in prose and are not PII: a company, a work's title, a day, a year."""
        r = self.rng
        if key == "org":
            return self._seeded(r.choice(LOCALES)).company()
        if key == "work":
            return " ".join(r.choice(part) for part in P.WORK_WORDS)
        if key == "weekday":
            return r.choice(P.WEEKDAYS)
        return str(r.randint(1990, 2026))

    def noise(self) -> tuple[str, str | None]:
        """A look-alike inserted anywhere: references, hashes, versions, amounts, dates that are not birthdays."""
        r = self.rng
        kinds: tuple[Callable[[], str], ...] = (
            lambda: f"{r.choice(('ORD', 'INV', 'TCK', 'PO', 'REF', 'CASE'))}-{r.randint(10000, 99999999)}",
            lambda: hashlib.sha1(str(r.random()).encode()).hexdigest()[: r.choice((7, 12, 40))],
            lambda: str(uuid.UUID(int=r.getrandbits(128))),
            lambda: f"v{r.randint(0, 5)}.{r.randint(0, 30)}.{r.randint(0, 20)}",
            lambda: f"{r.choice(('$', '€', '£'))}{r.randint(5, 99999):,}.{r.randint(0, 99):02d}",
            lambda: self.fake.date_between_dates(_DATES_FROM, _DATES_TO).strftime(
                r.choice(("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%B %d"))),
            lambda: f"1Z{r.randint(10**15, 10**16 - 1)}",  # tracking number
            lambda: f"ISBN 978-{r.randint(0, 9)}-{r.randint(100, 999)}-{r.randint(10000, 99999)}-{r.randint(0, 9)}",
            lambda: f"{r.randint(1, 12)}:{r.randint(0, 59):02d}",
            lambda: f"port {r.choice((22, 443, 5432, 6379, 8080))}",
            lambda: r.choice(("10.0.0.12", "192.168.1.1", "172.16.4.20")),  # private: not personal
            lambda: r.choice(("the Berlin office", "Tokyo time", "the Paris Agreement", "New York Times",
                              "Schiphol", "Silicon Valley")),  # public places, no one's whereabouts
            lambda: r.choice(("Marie Curie", "Albert Einstein", "Sherlock Holmes", "Ada Lovelace")),  # public figures
            lambda: r.choice(("4111 1111 1111 1111", "4242 4242 4242 4242")),  # published test cards
            lambda: self.not_personal("org"),  # companies: an ignored region (kinds[-1], below)
        )
        i = r.randrange(len(kinds))
        return kinds[i](), (IGNORE if i == len(kinds) - 1 else None)

    def put(self, d: Doc, key: str, who: Identity | None = None) -> None:
        v, label = self.value(key, who)
        d.pii(v, label)


# ----------------------------------------------------------------------------------------------------------
# Formats. Each writes one body into ``d``; the message wrapper adds the ask around it.

_MIDDLE = ("Marie", "James", "Ann", "Lee", "Josef", "Maria", "Kumar", "Ali", "Jean", "Rose", "Paul", "Elena")
_KEYS_CONTACT = ("name", "email", "phone", "address", "dob", "city")
_KEYS_MONEY = ("name", "iban", "card", "address", "email")
_KEYS_ACCOUNT = ("name", "username", "email", "password", "ip", "url")
_KEYS_GOV = ("name", "dob", "national_id", "address", "phone")


def _keyset(c: Ctx, n_min: int = 2, n_max: int = 5) -> list[str]:
    base = list(c.rng.choice((_KEYS_CONTACT, _KEYS_MONEY, _KEYS_ACCOUNT, _KEYS_GOV)))
    extra = c.rng.sample(("phone", "email", "iban", "card", "national_id", "username", "url", "city", "dob", "region",
                          "country"), 2)
    keys = list(dict.fromkeys(base[:1] + c.rng.sample(base[1:] + extra, k=min(len(base) - 1 + 2, n_max))))
    return keys[: c.rng.randint(n_min, n_max)]


def _field_key(key: str) -> str:
    return {"address_lines": "address", "secret": "password", "first": "name", "last": "name", "country": "city",
            "region": "city"}.get(key, key)


def prose_self(d: Doc, c: Ctx) -> None:
    clauses = list(c.rng.sample(P.SELF.get(c.lang, P.SELF["en"]), k=c.rng.randint(2, 4)))
    _clauses(d, c, clauses, c.people[0])


def prose_other(d: Doc, c: Ctx) -> None:
    clauses = list(c.rng.sample(P.OTHER.get(c.lang, P.OTHER["en"]), k=c.rng.randint(2, 3)))
    _clauses(d, c, clauses, c.people[1])


def narrative(d: Doc, c: Ctx) -> None:
    clauses = list(c.rng.sample(P.NARRATIVE.get(c.lang, P.NARRATIVE["en"]), k=c.rng.randint(2, 4)))
    _clauses(d, c, clauses, c.people[c.rng.randint(0, 1)])


def _clauses(d: Doc, c: Ctx, clauses: list[str], who: Identity) -> None:
    lower = c.rng.random() < 0.25
    for i, clause in enumerate(clauses):
        if i:
            d.t(c.rng.choice((" ", " ", "\n", " also ")))
        _fill(d, c, clause.lower() if lower and "{" not in clause[:1] else clause, who)


def _fill(d: Doc, c: Ctx, pattern: str, who: Identity) -> None:
    import re

    pos = 0
    for m in re.finditer(r"\{([a-z_]+)([23]?)\}", pattern):
        d.t(pattern[pos:m.start()])
        key = m.group(1)
        if key == "org":
            d.unscored(c.not_personal(key))
        elif m.group(2):  # {name2}, {first3}: another person in the message
            c.put(d, key, c.people[int(m.group(2))])
        elif key == "title":  # an honorific and a surname: "Dr. Okafor" (the honorific is outside the span)
            d.t(c.rng.choice(_TITLES) + " ")
            c.put(d, "last", who)
        elif key == "nid_kind":
            d.t(who.national_id_kind)
        elif key == "month":
            d.t(c.rng.choice(P.MONTHS))
        elif key == "age":
            d.t(str(c.rng.randint(19, 80)))
        elif key in ("work", "weekday", "year"):  # capitalised or numeric, never personal
            d.t(c.not_personal(key))
        elif key in ("date", "time"):
            v, _ = c.noise() if key == "date" else (f"{c.rng.randint(8, 18)}:{c.rng.choice(('00', '30', '15'))}", None)
            d.t(c.fake.date_between_dates(_DATES_FROM, _DATES_TO).strftime("%d/%m/%Y") if key == "date" else v)
        else:
            c.put(d, key, who)
        pos = m.end()
    d.t(pattern[pos:])


def email_msg(d: Doc, c: Ctx) -> None:
    a, b = c.people[0], c.people[1]
    d.t("From: ")
    c.put(d, "name", a)
    d.t(" <")
    c.put(d, "email", a)
    d.t(">\nTo: ")
    c.put(d, "email", b)
    d.t(f"\nSubject: {c.rng.choice(('Re: ', 'Fwd: ', ''))}{c.rng.choice(('invoice', 'account update', 'meeting', 'your request'))} ")
    d.pii(*c.noise())
    d.t("\n\n")
    _fill(d, c, c.pick(P.GREET), b)
    d.t("\n\n" + c.pick(P.BODY) + " ")
    _clauses(d, c, c.rng.sample(P.SELF.get(c.lang, P.SELF["en"]), k=2), a)
    d.t("\n\n" + c.pick(P.SIGN) + "\n")
    c.put(d, "name", a)
    if c.rng.random() < 0.6:
        d.t("\n")
        c.put(d, "phone", a)


def letter(d: Doc, c: Ctx) -> None:
    a, b = c.people[0], c.people[1]
    c.put(d, "name", a)
    d.t("\n")
    c.put(d, "address_lines", a)
    d.t("\n\n")
    d.pii(*c.noise())
    d.t("\n\n")
    _fill(d, c, c.pick(P.GREET), b)
    d.t("\n\n" + c.pick(P.BODY) + " ")
    _clauses(d, c, c.rng.sample(P.SELF.get(c.lang, P.SELF["en"]), k=2), a)
    d.t("\n\n" + c.pick(P.SIGN) + "\n\n")
    c.put(d, "name", a)


def chat_log(d: Doc, c: Ctx) -> None:
    for i in range(c.rng.randint(2, 4)):
        who = c.people[i % 2]
        d.t(f"[{c.rng.randint(8, 22)}:{c.rng.randint(0, 59):02d}] ")
        c.put(d, "username", who)
        d.t(": ")
        _fill(d, c, c.rng.choice(P.SELF.get(c.lang, P.SELF["en"])).lower(), who)
        d.t("\n")


_SMALL_TALK = {"en": ("Sounds good.", "Can you say that again?", "Thanks, that helps.", "What a week.", "Agreed.",
                      "I'll check and get back to you.", "No worries.", "Wait, really?", "Let's move on.", "Ha, fair."),
               "de": ("Klingt gut.", "Danke!", "Moment, wirklich?"), "fr": ("Ça marche.", "Merci !", "Attends, vraiment ?"),
               "es": ("Me parece bien.", "¡Gracias!", "Espera, ¿en serio?"), "it": ("Va bene.", "Grazie!", "Davvero?"),
               "nl": ("Klinkt goed.", "Bedankt!", "Echt waar?")}


def transcript(d: Doc, c: Ctx) -> None:
    """A pasted conversation transcript: each line starts with its speaker's name, in one form per speaker
    (first name, full name), optionally after a timestamp; lines are about the speaker, another person or
    nothing personal at all."""
    speakers = c.people[: c.rng.randint(2, 3)]
    forms = [c.rng.choice(("first", "first", "name")) for _ in speakers]
    stamp = c.rng.choice(("", "", "[{h:02d}:{m:02d}:{s:02d}] ", "{h}:{m:02d} "))
    sep = c.rng.choice((": ", ": ", ": ", " - ", ":\t"))
    at = c.rng.randint(0, 20 * 3600)
    for i in range(c.rng.randint(3, 6)):
        k = c.rng.randrange(len(speakers)) if i > 1 else i
        at += c.rng.randint(2, 90)
        d.t(stamp.format(h=at // 3600, m=at // 60 % 60, s=at % 60))
        c.put(d, forms[k], speakers[k])
        d.t(sep)
        r = c.rng.random()
        if r < 0.4:
            d.t(c.rng.choice(_SMALL_TALK.get(c.lang, _SMALL_TALK["en"])))
        elif r < 0.7:
            _fill(d, c, c.rng.choice(P.SELF.get(c.lang, P.SELF["en"])), speakers[k])
        else:
            _fill(d, c, c.rng.choice(P.OTHER.get(c.lang, P.OTHER["en"])), c.people[-1])
        d.t("\n")


def form_kv(d: Doc, c: Ctx) -> None:
    sep = c.rng.choice((": ", ": ", " - ", ":\t", " = "))
    for key in _keyset(c, 3, 6):
        d.t(c.field(_field_key(key)) + sep)
        c.put(d, key)
        d.t("\n")
    if c.rng.random() < 0.5:
        d.t(c.field("order") + sep)
        d.pii(*c.noise())


def invoice(d: Doc, c: Ctx) -> None:
    d.t(f"{c.rng.choice(('INVOICE', 'Rechnung', 'Facture', 'Factura'))} ")
    d.pii(*c.noise())
    d.t("\n" + c.rng.choice(("Bill to:", "Billed to", "Kunde:", "Client :")) + "\n")
    c.put(d, "name")
    d.t("\n")
    c.put(d, "address_lines")
    d.t("\n\nTotal: ")
    d.pii(*c.noise())
    d.t(f"\n{c.field('iban')}: ")
    c.put(d, "iban", c.people[1])
    d.t("\n")


def _rows(c: Ctx) -> tuple[list[str], list[Identity]]:
    keys = _keyset(c, 2, 4)
    return keys, c.people[: c.rng.randint(1, 3)]


def csv_rows(d: Doc, c: Ctx) -> None:
    keys, people = _rows(c)
    sep = c.rng.choice((",", ";", "\t", "|"))
    d.t(sep.join(_field_key(k).lower() for k in keys) + "\n")
    for p in people:
        for i, k in enumerate(keys):
            if i:
                d.t(sep)
            v, label = c.value(k, p)
            quote = sep == "," and "," in v
            d.t('"' if quote else "").pii(v.replace("\n", ", "), label).t('"' if quote else "")
        d.t("\n")


def markdown_table(d: Doc, c: Ctx) -> None:
    keys, people = _rows(c)
    d.t("| " + " | ".join(c.field(_field_key(k)) for k in keys) + " |\n|" + "---|" * len(keys) + "\n")
    for p in people:
        d.t("| ")
        for i, k in enumerate(keys):
            if i:
                d.t(" | ")
            v, label = c.value(k, p)
            d.pii(v.replace("\n", ", "), label)
        d.t(" |\n")


def json_record(d: Doc, c: Ctx) -> None:
    keys = _keyset(c, 2, 5)
    ind = c.rng.choice(("", "  ", "    "))
    nl = "\n" if ind else " "
    escape_nl = c.rng.random() < 0.5
    d.t("{" + nl)
    for i, k in enumerate(keys):
        v, label = c.value("address_lines" if k == "address" and escape_nl else k)
        v = v.replace("\n", "\\n" if escape_nl else ", ")  # a line break inside a JSON string is the two characters \n
        d.t(f'{ind}"{_field_key(k)}": "').pii(v, label).t('"' + ("," if i < len(keys) - 1 else "") + nl)
    d.t("}")


def yaml_record(d: Doc, c: Ctx) -> None:
    d.t(c.rng.choice(("customer:\n", "user:\n", "- contact:\n")))
    for k in _keyset(c, 2, 5):
        v, label = c.value(k)
        d.t(f"  {_field_key(k)}: ").pii(v.replace("\n", ", "), label).t("\n")


def xml_record(d: Doc, c: Ctx) -> None:
    d.t("<record>\n")
    for k in _keyset(c, 2, 5):
        tag = _field_key(k)
        v, label = c.value(k)
        d.t(f"  <{tag}>").pii(v.replace("\n", ", "), label).t(f"</{tag}>\n")
    d.t("</record>")


def sql_insert(d: Doc, c: Ctx) -> None:
    keys = _keyset(c, 2, 4)
    d.t(f"INSERT INTO {c.rng.choice(('users', 'customers', 'patients', 'accounts'))} ({', '.join(_field_key(k) for k in keys)}) VALUES (")
    for i, k in enumerate(keys):
        v, label = c.value(k)
        d.t(", " if i else "").t("'").pii(v.replace("\n", ", "), label).t("'")
    d.t(");")


def env_file(d: Doc, c: Ctx) -> None:
    d.t(f"DB_HOST={c.rng.choice(('db.internal', 'localhost'))}\nDB_USER=")
    c.put(d, "username")
    d.t("\nDB_PASSWORD=")
    c.put(d, "password")
    d.t("\nAPI_KEY=")
    c.put(d, "secret")
    if c.rng.random() < 0.6:
        d.t("\nADMIN_EMAIL=")
        c.put(d, "email")
    d.t(f"\nLOG_LEVEL={c.rng.choice(('debug', 'info'))}\nBUILD=")
    d.pii(*c.noise())


def ini_config(d: Doc, c: Ctx) -> None:
    d.t("[server]\nhost = ")
    c.put(d, "ip")
    d.t(f"\nport = {c.rng.choice((22, 5432, 8080))}\n\n[auth]\nuser = ")
    c.put(d, "username")
    d.t("\npassword = ")
    c.put(d, "password")
    d.t("\n")


def code_snippet(d: Doc, c: Ctx) -> None:
    style = c.rng.randrange(3)
    if style == 0:
        d.t("```python\nclient = Client(\n    api_key=\"")
        c.put(d, "secret")
        d.t("\",\n    user=\"")
        c.put(d, "username")
        d.t("\",\n)\n```")
    elif style == 1:
        d.t("const cfg = { email: '")
        c.put(d, "email")
        d.t("', token: '")
        c.put(d, "secret")
        d.t("' };")
    else:
        d.t("conn = psycopg2.connect(host='")
        c.put(d, "ip")
        d.t("', user='")
        c.put(d, "username")
        d.t("', password='")
        c.put(d, "password")
        d.t("')")


def conn_string(d: Doc, c: Ctx) -> None:
    d.t(c.rng.choice(("postgresql://", "mysql://", "mongodb+srv://", "redis://")))
    c.put(d, "username")
    d.t(":")
    v, label = c.value("password")
    d.pii(v.replace("@", "%40").replace("/", "%2F").replace(":", "%3A"), label)
    d.t("@")
    c.put(d, "ip")
    d.t(f":{c.rng.choice((5432, 3306, 27017, 6379))}/{c.rng.choice(('prod', 'app', 'main'))}")


def http_request(d: Doc, c: Ctx) -> None:
    d.t(f"curl -X {c.rng.choice(('GET', 'POST'))} https://api.{c.rng.choice(('acme', 'globex', 'initech'))}.io/v2/users/")
    c.put(d, "username")
    d.t(" \\\n  -H \"Authorization: Bearer ")
    c.put(d, "secret")
    d.t("\" \\\n  -H \"X-Forwarded-For: ")
    c.put(d, "ip")
    d.t("\"")


def server_log(d: Doc, c: Ctx) -> None:
    for i in range(c.rng.randint(2, 4)):
        who = c.people[i % 2]
        d.t(f"2024-{c.rng.randint(1, 12):02d}-{c.rng.randint(1, 28):02d}T{c.rng.randint(0, 23):02d}:{c.rng.randint(0, 59):02d}:11Z "
            f"{c.rng.choice(('INFO', 'WARN', 'ERROR'))} ")
        kind = c.rng.randrange(3)
        if kind == 0:
            d.t("login ok user=")
            c.put(d, "username", who)
            d.t(" ip=")
            c.put(d, "ip", who)
        elif kind == 1:
            d.t("password reset sent to ")
            c.put(d, "email", who)
            d.t(" req=")
            d.pii(*c.noise())
        else:
            c.put(d, "ip", who)
            d.t(f" - - \"GET /profile HTTP/1.1\" {c.rng.choice((200, 302, 404))} ")
            d.pii(*c.noise())
        d.t("\n")


def signature(d: Doc, c: Ctx) -> None:
    a = c.people[0]
    d.t(c.pick(P.BODY) + "\n\n--\n")
    c.put(d, "name", a)
    d.t(f"\n{c.fake.job()}, ").unscored(c.fake.company()).t("\n")
    for k in c.rng.sample(("phone", "email", "url", "address"), k=c.rng.randint(2, 3)):
        d.t(c.rng.choice(("", f"{c.field(_field_key(k))[:1]}: ", f"{c.field(_field_key(k))}: ")))
        c.put(d, k, a)
        d.t("\n")


def support_ticket(d: Doc, c: Ctx) -> None:
    d.t(f"Ticket #{c.rng.randint(1000, 999999)} — ")
    _fill(d, c, c.rng.choice(("customer {name} ({email}) cannot log in as {username}",
                               "{name} reports a double charge on card {card}",
                               "caller {name}, {phone}, wants the refund sent to {iban}",
                               "{name} asks to update the address to {address}")), c.people[0])
    d.t(". ")
    d.pii(*c.noise())


_NOTE_LINES = ("{first2} to send the draft to {first} by Friday", "{title} joins from {city}",
               "{first3} is out until {date} (visiting family in {country})", "{name} takes over the {city} account",
               "ask {name2} about the flights to {city}", "{first} and {first2} to meet the landlord",
               "{first3} moved to {region}, works remotely now", "follow up with {title} re: contract",
               "{name3} ({email}) replaces {name2}", "call {first} on {phone}")


def meeting_notes(d: Doc, c: Ctx) -> None:
    """Notes with several people and places: attendee lists, action items, who is where."""
    who = c.people[0]
    d.t(c.rng.choice(("Meeting notes ", "Notes - ", "Call with the team ", "Standup ")))
    d.pii(*c.noise())
    d.t(c.rng.choice(("\nAttendees: ", "\nPresent: ", "\nParticipants: ", "\ncc: ")))
    people = c.people[: c.rng.randint(2, 4)]
    sep = c.rng.choice((", ", ", ", "; ", " / "))
    for i, p in enumerate(people):
        if i:
            d.t(" and " if i == len(people) - 1 and c.rng.random() < 0.4 else sep)
        c.put(d, c.rng.choice(("name", "name", "first")), p)
    d.t("\n")
    for line in c.rng.sample(_NOTE_LINES, k=c.rng.randint(2, 4)):
        d.t(c.rng.choice(("- ", "* ", "• ", "")))
        _fill(d, c, line if c.rng.random() < 0.8 else line.lower(), who)
        d.t("\n")


_TRIP_LINES = ("Traveller: {name}", "Passenger: {name} ({dob})", "From: {city}, {country}", "To: {city}",
               "Destination: {city}, {region}", "Hotel guest: {title}", "Contact on arrival: {name2}, {phone}",
               "Home address: {address}", "Travelling with: {first2}, {first3}", "Returning to {city} on {date}")


def itinerary(d: Doc, c: Ctx) -> None:
    """A trip summary: who travels where, from where, with whom."""
    d.t(c.rng.choice(("Trip summary\n", "Itinerary\n", "Booking confirmation ", "Travel plan:\n")))
    for line in c.rng.sample(_TRIP_LINES, k=c.rng.randint(3, 6)):
        _fill(d, c, line, c.people[0])
        d.t("\n")
    if c.rng.random() < 0.5:
        _fill(d, c, c.rng.choice(("{first} lands in {city} at {time}, {name2} picks them up.",
                                  "{name} is flying back to {country} afterwards.")), c.people[0])


FORMATS: dict[str, Callable[[Doc, Ctx], None]] = {
    "prose_self": prose_self, "prose_other": prose_other, "narrative": narrative, "email": email_msg, "letter": letter,
    "chat_log": chat_log, "form_kv": form_kv, "invoice": invoice, "csv": csv_rows, "markdown_table": markdown_table,
    "json": json_record, "yaml": yaml_record, "xml": xml_record, "sql": sql_insert, "env": env_file,
    "ini": ini_config, "code": code_snippet, "conn_string": conn_string, "http": http_request,
    "server_log": server_log, "signature": signature, "ticket": support_ticket,
    "meeting_notes": meeting_notes, "itinerary": itinerary, "transcript": transcript,
}
# Format-disjoint splits: each family (prose, letters/e-mail, documents, tables, structured, config, logs)
# has members in train and at least one unseen member in val or test.
FORMAT_SPLIT: dict[str, str] = {
    "prose_self": "train", "email": "train", "form_kv": "train", "csv": "train", "json": "train",
    "env": "train", "code": "train", "http": "train", "ticket": "train", "chat_log": "train", "sql": "train",
    "meeting_notes": "train", "narrative": "train", "itinerary": "val",
    "prose_other": "val", "invoice": "val", "xml": "val", "ini": "val", "signature": "val",
    "letter": "test", "markdown_table": "test", "yaml": "test", "conn_string": "test", "server_log": "test",
    "transcript": "train",  # only with TRANSCRIPTS on (the default)
}


def formats_for(split: str) -> list[str]:
    return [f for f, s in FORMAT_SPLIT.items() if s == split and (f != "transcript" or TRANSCRIPTS)]


class ComposeGenerator:
    """Deterministic per (seed, split, index)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        # The world-contact locales only when that switch is on (18 more Fakers cost every generator ~0.2 s).
        world = tuple(WORLD_LOCALES) if WORLD_CONTACT else ()
        self._fakers = {loc: Faker(loc) for loc in dict.fromkeys(LOCALES + _EXTRA_FAKER_LOCALES + world)}

    def render(self, split: str, index: int) -> Example:
        rng = random.Random(f"compose:{self.seed}:{split}:{index}")
        negative = rng.random() < NEGATIVE_SHARE
        c = Ctx(rng, self._fakers, negative)
        fmt = rng.choice(formats_for(split))
        d = Doc()
        ask = c.pick(P.ASKS)
        where = rng.random()
        if ask and where < 0.6:
            d.t(ask + rng.choice(("\n\n", "\n", " ")))
        FORMATS[fmt](d, c)
        if ask and where >= 0.85:
            d.t(rng.choice(("\n\n", "\n")) + ask)
        if rng.random() < 0.2:  # a second, shorter part: people paste more than one thing
            d.t(rng.choice(("\n\n", "\nalso: ", " ")))
            FORMATS[rng.choice(formats_for(split))](d, c)
        text, spans, ignore = d.text, d.spans, d.ignore
        # Drawn only when the switch is on, so with it off the data are those of earlier versions byte for byte.
        if ESCAPED_LINES and "\n" in text and rng.random() < ESCAPED_LINES:
            text, spans, ignore = escape_lines(text, spans, ignore, rng)
        validate(text, spans)
        return Example(text=text, spans=sorted(spans), template=fmt, genre=fmt, split=split,
                       locale=c.lang, meta={"negative": negative, "ignore": sorted(ignore)})

    def examples(self, split: str, n: int) -> list[Example]:
        return [self.render(split, i) for i in range(n)]

    def conversations(self, n: int, split: str = "train") -> list[list[dict[str, str]]]:
        """LMSYS-style conversations of 1-3 user turns for SAE training (train formats only)."""
        rng = random.Random(f"compose:{self.seed}:conversations:{split}")
        replies = ("Sure, here it is:", "Done. A few notes below.", "Here is a cleaner version.",
                   "Klar, hier ist es.", "Voici la version corrigée.", "Aquí está.")
        convs = []
        for i in range(n):
            turns: list[dict[str, str]] = []
            for j in range(rng.randint(1, 3)):
                turns.append({"role": "user", "content": self.render(split, 10**6 + i * 3 + j).text})
                turns.append({"role": "assistant", "content": rng.choice(replies)})
            convs.append(turns)
        return convs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kiln_sae.pii.compose", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output JSONL file ('-' for stdout)")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=("train", "val", "test"), default="train")
    p.add_argument("--format", choices=("lmsys", "spans"), default="lmsys")
    args = p.parse_args(argv)
    gen = ComposeGenerator(seed=args.seed)
    rows = ([{"conversation": conv} for conv in gen.conversations(args.n, args.split)] if args.format == "lmsys"
            else [e.to_dict() for e in gen.examples(args.split, args.n)])
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

__all__ = ["ComposeGenerator", "FORMATS", "FORMAT_SPLIT", "FAKE_MARKER"]
