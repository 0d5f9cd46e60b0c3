"""The two checksums PII-shaped numbers carry, shared by the data filter (``pii_filter``) and the
detector's span validation (``pii.validate``)."""
from __future__ import annotations


def luhn_ok(digits: str) -> bool:
    """Luhn (payment cards): double every second digit from the right, the sum is a multiple of 10."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_mod97_ok(compact: str) -> bool:
    """ISO 13616 on an upper-case IBAN without separators: move the first four characters to the end,
    letters become 10..35, the number mod 97 is 1."""
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
