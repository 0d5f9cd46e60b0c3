"""A message pasted as an escaped string: its line breaks written as the two characters ``\\n``, as in a JSON
value, a log field or a Python repr, optionally inside the quotes of such a wrapper. The spans move with the
text; a span that held a line break (a multi-line address) now holds the escape."""
from __future__ import annotations

import random
from collections.abc import Sequence

from kiln_sae.pii.labels import Span

# (before, after, quote): a wrapper is used only when its quote does not occur in the text, since escaping the
# quote too would change values inside spans.
WRAPPERS: tuple[tuple[str, str, str], ...] = (
    ("", "", ""),
    ('{"message": "', '"}', '"'),
    ('{"body": "', '"}', '"'),
    ('"', '"', '"'),
    ("text='", "'", "'"),
    ('msg="', '"', '"'),
)


def escape_lines(text: str, spans: Sequence[Span], ignore: Sequence[Span],
                 rng: random.Random) -> tuple[str, list[Span], list[Span]]:
    """``text`` with every line break escaped, in a wrapper drawn from ``WRAPPERS`` that fits it."""
    fitting = [w for w in WRAPPERS if not w[2] or w[2] not in text]
    before, after, _ = rng.choice(fitting)

    def at(i: int) -> int:
        return len(before) + i + text.count("\n", 0, i)

    def moved(ss: Sequence[Span]) -> list[Span]:
        return [Span(at(s.start), at(s.end), s.label) for s in ss]

    return before + text.replace("\n", "\\n") + after, moved(spans), moved(ignore)
