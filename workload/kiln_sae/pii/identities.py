"""One fake person per message: every PII value in a message comes from the same identity, so the name
inside the e-mail address and the username match the PERSON span (as real leaks do)."""
from __future__ import annotations

import datetime
import random
import string
import unicodedata
from dataclasses import dataclass

from faker import Faker

LOCALES: tuple[str, ...] = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "en_IN")

# Every token-shaped secret carries this marker so secret scanners (and readers) see at once it is fake.
FAKE_MARKER = "FAKE"

_DOB_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%B %d, %Y", "%d %B %Y", "%b %d %Y")
_PERSONAL_URL_FORMATS = (
    "https://www.linkedin.com/in/{u}",
    "https://github.com/{u}",
    "https://{u}.blogspot.com",
    "https://twitter.com/{u}",
    "https://www.instagram.com/{u}/",
    "https://{first}{last}.me",
    "https://www.facebook.com/{u}",
)
_PASSWORD_WORDS = ("sunflower", "dragon", "monkey", "winter", "kitten", "football", "marley", "purple", "banana",
                   "rainbow", "shadow", "tigger", "lakers", "coffee", "buster", "maple", "falcon", "orange")


def _ascii(s: str) -> str:
    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


@dataclass
class Identity:
    locale: str
    first: str
    last: str
    name: str
    email: str
    work_email: str
    phone: str
    street: str
    city: str
    postcode: str
    country: str
    address: str
    address_lines: str
    national_id: str
    national_id_kind: str
    card: str
    iban: str
    account: str
    routing: str
    ipv4: str
    ipv6: str
    dob: str
    username: str
    password: str
    api_key: str
    token: str
    url: str


def _national_id(fake: Faker, locale: str, rng: random.Random) -> tuple[str, str]:
    if locale == "en_US":
        return fake.ssn(), "SSN"
    if locale == "en_GB":
        letters = "ABCEGHJKLMNPRSTWXYZ"
        nino = (f"{rng.choice(letters)}{rng.choice(letters)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                f"{rng.randint(10, 99)} {rng.choice('ABCD')}")
        return nino, "National Insurance number"
    if locale == "fr_FR":
        return fake.ssn(), "numéro de sécurité sociale"
    if locale == "de_DE":
        return "".join(str(rng.randint(0, 9)) for _ in range(11)), "Steuer-ID"
    if locale == "es_ES":
        return fake.nif(), "DNI"
    if locale == "it_IT":
        return fake.ssn(), "codice fiscale"
    if locale == "nl_NL":
        return fake.ssn(), "BSN"
    if locale == "en_IN":
        return fake.aadhaar_id(), "Aadhaar"
    return fake.ssn(), "ID"


# Fixed bounds, not "18 to 85 years before today": the same seed must give the same data on any day.
_DOB_FROM, _DOB_TO = datetime.date(1940, 1, 1), datetime.date(2007, 12, 31)
_SORTED_CITIES: dict[str, list[str]] = {}


def _city(fake: Faker, locale: str, rng: random.Random) -> str:
    """Faker's it_IT city list is built from a set, so ``fake.city()`` differs between processes (hash
    randomisation); a sorted copy keeps generation reproducible across runs."""
    if locale != "it_IT":
        return fake.city()
    if locale not in _SORTED_CITIES:
        from faker.providers.address.it_IT import Provider

        _SORTED_CITIES[locale] = sorted(Provider.cities)
    return rng.choice(_SORTED_CITIES[locale])


def _secret(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def make_identity(fake: Faker, locale: str, rng: random.Random) -> Identity:
    first, last = fake.first_name(), fake.last_name()
    f, l_ = _ascii(first) or "alex", _ascii(last) or "smith"
    username = rng.choice([f"{f}.{l_}", f"{f}{l_}{rng.randint(1, 99)}", f"{f[0]}{l_}", f"{f}_{l_}",
                           f"{l_}{f[0]}{rng.randint(70, 99)}", f"{f}{rng.randint(100, 999)}"])
    domain = fake.free_email_domain()
    local = rng.choice([f"{f}.{l_}", f"{f}{l_}", f"{f[0]}.{l_}", username.replace("_", ".")])
    company = _ascii(fake.last_name()) or "acme"
    street = " ".join(fake.street_address().split())
    city, postcode = _city(fake, locale, rng), fake.postcode()
    if locale in ("en_US",):
        state = fake.state_abbr()
        address = f"{street}, {city}, {state} {postcode}"
        lines = f"{street}\n{city}, {state} {postcode}"
    elif locale == "en_GB":
        address, lines = f"{street}, {city} {postcode}", f"{street}\n{city}\n{postcode}"
    else:
        address, lines = f"{street}, {postcode} {city}", f"{street}\n{postcode} {city}"
    nid, nid_kind = _national_id(fake, locale, rng)
    dob = fake.date_between_dates(_DOB_FROM, _DOB_TO).strftime(rng.choice(_DOB_FORMATS))
    url = rng.choice(_PERSONAL_URL_FORMATS).format(u=username.replace(".", "-"), first=f, last=l_)
    alnum = string.ascii_letters + string.digits
    password = rng.choice([
        f"{rng.choice(_PASSWORD_WORDS).capitalize()}{rng.randint(1, 9999)}{rng.choice('!@#$%&*?')}",
        f"{l_}{rng.randint(1950, 2010)}",
        _secret(rng, alnum + "!@#$%", rng.randint(10, 16)),
        f"{rng.choice(_PASSWORD_WORDS)}-{rng.choice(_PASSWORD_WORDS)}-{rng.randint(10, 99)}",
    ])
    api_key = rng.choice([
        f"sk-{FAKE_MARKER}-{_secret(rng, alnum, 32)}",
        f"key_{FAKE_MARKER}_{_secret(rng, string.hexdigits.lower()[:16], 24)}",
        f"{FAKE_MARKER}{_secret(rng, string.ascii_uppercase + string.digits, 16)}",
        f"pk_test_{FAKE_MARKER}{_secret(rng, alnum, 24)}",
    ])
    token = rng.choice([
        f"tok_{FAKE_MARKER}_{_secret(rng, alnum, 28)}",
        f"eyJ{FAKE_MARKER}{_secret(rng, alnum, 20)}.{_secret(rng, alnum, 30)}.{_secret(rng, alnum + '-_', 22)}",
        f"xoxb-{FAKE_MARKER}-{rng.randint(10**9, 10**10)}-{_secret(rng, alnum, 20)}",
    ])
    if locale == "en_US":
        account, routing = str(rng.randint(10**9, 10**12)), fake.aba()
    else:
        account, routing = fake.bban(), fake.swift(length=8)
    return Identity(
        locale=locale, first=first, last=last, name=f"{first} {last}",
        email=f"{local}@{domain}", work_email=f"{f}.{l_}@{company}-{rng.choice(['corp', 'group', 'gmbh', 'ltd'])}.com",
        phone=fake.phone_number(), street=street, city=city, postcode=postcode, country=fake.country(),
        address=address, address_lines=lines, national_id=nid, national_id_kind=nid_kind,
        card=rng.choice([fake.credit_card_number(), " ".join(_groups(fake.credit_card_number(card_type="visa16")))]),
        iban=rng.choice([fake.iban(), " ".join(_groups(fake.iban()))]), account=account, routing=routing,
        ipv4=fake.ipv4_public(), ipv6=fake.ipv6(), dob=dob, username=username, password=password,
        api_key=api_key, token=token, url=url,
    )


def _groups(s: str, n: int = 4) -> list[str]:
    return [s[i:i + n] for i in range(0, len(s), n)]
