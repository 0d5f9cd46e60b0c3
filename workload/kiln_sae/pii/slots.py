"""Slot name -> (label, value) for templates. Labelled slots come from an Identity; unlabelled slots are
context and hard negatives (dates that are not birth dates, company names, versions, fictional names)."""
from __future__ import annotations

import datetime
import random
from collections.abc import Callable

from faker import Faker

from kiln_sae.pii.identities import Identity

# slot (without the "2" suffix) -> (label, Identity attribute)
LABELLED: dict[str, tuple[str, str]] = {
    "name": ("PERSON", "name"), "first": ("PERSON", "first"), "last": ("PERSON", "last"),
    "email": ("EMAIL", "email"), "work_email": ("EMAIL", "work_email"),
    "phone": ("PHONE", "phone"),
    "address": ("ADDRESS", "address"), "address_lines": ("ADDRESS", "address_lines"),
    "city": ("LOCATION", "city"), "country": ("LOCATION", "country"),
    "national_id": ("SSN", "national_id"),
    "card": ("CREDIT_CARD", "card"),
    "iban": ("IBAN", "iban"), "account": ("IBAN", "account"), "routing": ("IBAN", "routing"),
    "ipv4": ("IP_ADDRESS", "ipv4"), "ipv6": ("IP_ADDRESS", "ipv6"),
    "dob": ("DATE_OF_BIRTH", "dob"),
    "username": ("USERNAME", "username"),
    "password": ("PASSWORD", "password"), "api_key": ("PASSWORD", "api_key"), "token": ("PASSWORD", "token"),
    "url": ("URL_PERSONAL", "url"),
}

_FICTION = ("Zorblax", "Elowen Thistlewood", "Captain Brightfeather", "Grimbold", "Seraphine the Grey",
            "Quillon", "Morwen Ashvale", "Tobias Fiddlewick", "Nyx", "Sir Percival Mudge")
_FICTION_PLACES = ("Eldoria", "the Glass Mountains", "Vantor Keep", "Mirefall", "the Ember Isles")
_PUBLIC_URLS = ("https://docs.python.org/3/", "https://pytorch.org/get-started/", "https://example.com/docs",
                "https://en.wikipedia.org/wiki/Sparse_autoencoder", "https://www.gov.uk/contact")
_SUPPORT_PHONES = ("1-800-555-0199", "+1 (800) 642-7676", "0800 123 4567", "+44 20 7946 0000", "1-888-555-0123")
_PUBLIC_COUNTRIES = ("France", "Japan", "Brazil", "Canada", "Kenya", "Norway")
_PRODUCTS = ("Q3 roadmap", "Kestrel", "onboarding", "Atlas 2.0", "pricing", "hiring plan")


def _date(fake: Faker, rng: random.Random) -> str:
    d = fake.date_between_dates(datetime.date(2023, 1, 1), datetime.date(2026, 12, 31))  # fixed: same data any day
    return d.strftime(rng.choice(("%Y-%m-%d", "%d/%m/%Y", "%B %d", "%A %d %B", "%b %d, %Y")))


UNLABELLED: dict[str, Callable[[Faker, random.Random], str]] = {
    "nid_kind": lambda f, r: "",  # filled from the identity in fill()
    "date": _date,
    "time": lambda f, r: r.choice(("9am", "10:30", "3 pm", "18:45", "noon", "7.15pm")),
    "company": lambda f, r: f.company(),
    "domain": lambda f, r: f"{r.choice(('acme', 'globex', 'initech', 'umbrella', 'hooli'))}.{r.choice(('com', 'io', 'de'))}",
    "job": lambda f, r: f.job(),
    "product": lambda f, r: r.choice(_PRODUCTS),
    "order_id": lambda f, r: f"{r.choice(('ORD', 'INV', 'TCK', 'PO'))}-{r.randint(10000, 999999)}",
    "amount": lambda f, r: f"{r.choice(('$', '€', '£'))}{r.randint(10, 99999):,}.{r.randint(0, 99):02d}",
    "version": lambda f, r: f"{r.randint(0, 4)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
    "fiction": lambda f, r: r.choice(_FICTION),
    "fiction_place": lambda f, r: r.choice(_FICTION_PLACES),
    "support_phone": lambda f, r: r.choice(_SUPPORT_PHONES),
    "example_email": lambda f, r: r.choice(("billing@example.com", "support@example.org", "noreply@example.net")),
    "public_url": lambda f, r: r.choice(_PUBLIC_URLS),
    "local_ip": lambda f, r: r.choice(("127.0.0.1", "0.0.0.0", "localhost", "::1")),
    "country_public": lambda f, r: r.choice(_PUBLIC_COUNTRIES),
}


def fill(slot: str, ids: tuple[Identity, Identity], fake: Faker, rng: random.Random) -> tuple[str | None, str]:
    """The (label, value) for one slot occurrence; raises KeyError for an unknown slot (a template bug)."""
    base, which = (slot[:-1], 1) if slot.endswith("2") else (slot, 0)
    if base in LABELLED:
        label, attr = LABELLED[base]
        # Faker values sometimes carry stray spaces ("Khora "); spans must not start or end in whitespace.
        value = str(getattr(ids[which], attr))
        return label, "\n".join(" ".join(line.split()) for line in value.strip().split("\n"))
    if base == "nid_kind":
        return None, ids[which].national_id_kind
    return None, UNLABELLED[base](fake, rng)
