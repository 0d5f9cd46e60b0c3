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


# Names from many cultures (Latin script, as people type them in English-language chat): a message's people
# are not all from the locale of its language. ja_JP / zh_CN give romanised names.
NAME_LOCALES: tuple[str, ...] = ("en_US", "en_GB", "en_IE", "en_AU", "en_IN", "de_DE", "fr_FR", "es_ES", "es_MX",
                                 "it_IT", "nl_NL", "pt_BR", "pl_PL", "cs_CZ", "ro_RO", "sv_SE", "fi_FI", "tr_TR",
                                 "vi_VN", "id_ID", "yo_NG", "zu_ZA", "tw_GH", "sw", "az_AZ", "ja_JP", "zh_CN")
# Romanised names Faker has no Latin-script locale for (Arabic, Persian, Korean, South Asian, East African).
_MORE_FIRST = ("Ahmed", "Fatima", "Omar", "Layla", "Yusuf", "Aisha", "Karim", "Nour", "Hassan", "Mariam", "Reza",
               "Parisa", "Dariush", "Min-jun", "Seo-yeon", "Ji-ho", "Hyun-woo", "Soo-ah", "Priya", "Arjun", "Ananya",
               "Rohan", "Deepika", "Sanjay", "Kavya", "Tendai", "Chipo", "Abebe", "Selam", "Wanjiru", "Kwame",
               "Nguyen", "Thanh", "Mei", "Wei", "Bilal", "Zainab", "Tariq", "Imran", "Sina", "Lwazi", "Ngozi")
_MORE_LAST = ("Al-Sayed", "Haddad", "Khalil", "Mansour", "Rahimi", "Tehrani", "Hosseini", "Kim", "Park", "Choi",
              "Jung", "Sharma", "Patel", "Iyer", "Reddy", "Chatterjee", "Banerjee", "Moyo", "Okafor", "Tesfaye",
              "Kamau", "Mensah", "Ochieng", "Nakamura", "Zhang", "Abdullah", "Qureshi", "Siddiqui", "Mahlangu",
              "Adeyemi", "Nwosu", "Haile", "Mwangi", "Gonzalez-Ruiz", "O'Brien", "McAllister", "van den Berg")
_NAME_FAKERS: dict[str, Faker] = {}


def diverse_name(rng: random.Random) -> tuple[str, str]:
    """A (first, last) name from a culture drawn from ``NAME_LOCALES`` or the romanised lists above."""
    if rng.random() < 0.2:
        return rng.choice(_MORE_FIRST), rng.choice(_MORE_LAST)
    loc = rng.choice(NAME_LOCALES)
    if loc not in _NAME_FAKERS:
        _NAME_FAKERS[loc] = Faker(loc)
    f = _NAME_FAKERS[loc]
    f.seed_instance(rng.randrange(2**31))
    if loc in ("ja_JP", "zh_CN"):
        return f.first_romanized_name(), f.last_romanized_name()
    return f.first_name(), f.last_name()


def _varied_address(fake: Faker, locale: str, rng: random.Random, street: str, city: str,
                    postcode: str) -> tuple[str, str]:
    """(one-line, multi-line) address in one of the shapes people write: with or without postcode, region,
    country, commas or a unit; every shape is one ADDRESS span from the unit or house number on."""
    country = {"en_US": "USA", "en_GB": "UK", "en_IN": "India", "de_DE": "Germany", "fr_FR": "France",
               "es_ES": "Spain", "it_IT": "Italy", "nl_NL": "Netherlands"}.get(locale, "")
    if locale == "en_US":
        region = fake.state_abbr() if rng.random() < 0.6 else fake.state()
        shape = rng.randrange(5)
        if shape == 0:
            return f"{street}, {city}, {region} {postcode}", f"{street}\n{city}, {region} {postcode}"
        if shape == 1:
            return f"{street}, {city}, {region}", f"{street}\n{city}, {region}"
        if shape == 2:
            return f"{street} {city} {region} {postcode}", f"{street}\n{city} {region} {postcode}"
        if shape == 3:
            return f"{street}, {city}", f"{street}\n{city}"
        return (f"{street}, {city}, {region} {postcode}, {country}",
                f"{street}\n{city}, {region} {postcode}\n{country}")
    unit = rng.random() < 0.2
    if unit and locale == "en_GB":
        street = f"Flat {rng.randint(1, 40)}, {street}"
    shape = rng.randrange(4)
    if locale in ("en_GB", "en_IN"):
        one, lines = f"{street}, {city} {postcode}", f"{street}\n{city}\n{postcode}"
    else:
        one, lines = f"{street}, {postcode} {city}", f"{street}\n{postcode} {city}"
    if shape == 1:
        one, lines = f"{street}, {city}", f"{street}\n{city}"
    elif shape == 2 and country:
        one, lines = f"{one}, {country}", f"{lines}\n{country}"
    return one, lines


def make_identity(fake: Faker, locale: str, rng: random.Random, diverse_names: float = 0.0,
                  varied_addresses: bool = False) -> Identity:
    """``diverse_names``: share of identities whose name comes from ``diverse_name`` rather than ``locale``;
    ``varied_addresses``: addresses in several shapes (``_varied_address``) instead of one per locale."""
    first, last = fake.first_name(), fake.last_name()
    if diverse_names and rng.random() < diverse_names:
        first, last = diverse_name(rng)
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
    if varied_addresses and rng.random() < 0.6:
        address, lines = _varied_address(fake, locale, rng, street, city, postcode)
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


# Countries whose phone and address formats a person may carry into any message (world_contact): Nordic,
# Central European, Iberian, Greek, Turkish, Latin American and Australian numbering and street styles
# ("ul. Wieniawskiego 439", "Kyrkogatan 33", "+46 (0)914 177 76", "210 9141777").
WORLD_LOCALES: dict[str, str] = {
    "pl_PL": "Poland", "sv_SE": "Sweden", "no_NO": "Norway", "da_DK": "Denmark", "fi_FI": "Finland",
    "cs_CZ": "Czech Republic", "hu_HU": "Hungary", "hr_HR": "Croatia", "de_AT": "Austria", "fr_CH": "Switzerland",
    "pt_PT": "Portugal", "pt_BR": "Brazil", "es_MX": "Mexico", "el_GR": "Greece", "tr_TR": "Turkey",
    "en_AU": "Australia", "it_IT": "Italy", "nl_NL": "Netherlands",
}


def world_contact(fake: Faker, locale: str, rng: random.Random) -> tuple[str, str, str]:
    """(phone, one-line address, multi-line address) of someone living in ``locale``'s country, written the
    way that country writes them; the address is one ADDRESS span with its postcode, city and, sometimes,
    country."""
    street = " ".join(fake.street_address().split())
    city = _city(fake, locale, rng)  # it_IT: fake.city() differs between processes
    place = f"{fake.postcode()} {city}" if rng.random() < 0.7 else f"{city} {fake.postcode()}"
    parts = [street, place] + ([WORLD_LOCALES[locale]] if rng.random() < 0.4 else [])
    return fake.phone_number(), ", ".join(parts), "\n".join(parts)


def us_mailbox(fake: Faker, rng: random.Random) -> tuple[str, str]:
    """(one-line, multi-line) US postal address that is not a street: a P.O. box or a military (APO/FPO/DPO)
    address. Both are where one person's mail goes, so both are ADDRESS (docs/pii-labels.md)."""
    kind = rng.randrange(4)
    if kind == 0:
        box = rng.choice(("P.O. Box", "PO Box", "P.O. BOX", "Post Office Box"))
        line1, line2 = f"{box} {rng.randint(1, 9999)}", f"{fake.city()}, {fake.state_abbr()} {fake.postcode()}"
    elif kind == 1:
        line1, line2 = fake.military_apo(), f"APO {fake.military_state()} {fake.postcode()}"
    elif kind == 2:
        line1, line2 = fake.military_dpo(), f"DPO {fake.military_state()} {fake.postcode()}"
    else:
        line1 = f"{fake.military_ship()} {fake.last_name()}"
        line2 = f"FPO {fake.military_state()} {fake.postcode()}"
    return f"{line1}, {line2}" if rng.random() < 0.6 else f"{line1} {line2}", f"{line1}\n{line2}"


def _groups(s: str, n: int = 4) -> list[str]:
    return [s[i:i + n] for i in range(0, len(s), n)]
