"""Line breaks written out as escapes (``\\n``, as in a JSON value, a log field or a Python repr).

``escape_lines`` makes such messages for training data (the spans move with the text; a span that held a line
break now holds the escape). ``shown_line_breaks`` undoes them for reading: the same text, the same length,
with each escaped break shown as whitespace and a real break, so the model and the decoder see the lines an
escaped paste holds (MiniLM otherwise reads "35680\\n723 813 266" as one word and glues the ``n`` to the phone)."""
from __future__ import annotations

import random
import re
from collections.abc import Sequence

from kiln_sae.pii.labels import Span

_SHOWN = {"n": "\n", "r": "\n", "t": "\t"}
# A Windows path (a drive letter or a \\server share, up to the next space or quote): its backslashes separate
# folders, and "C:\\Users\\nina" holds a user name, not a line break.
_WINDOWS_PATH = re.compile(r"""(?<![A-Za-z0-9])(?:[A-Za-z]:|\\\\[\w.$-]+)\\[^\s"'<>|]*""")


def shown_line_breaks(text: str) -> str:
    """``text`` with every escaped line break or tab (a backslash not itself escaped, then n, r or t) written
    as a space and the real character: two characters for two, so offsets into one index the other. An escaped
    backslash stays data ("C:\\\\new"), and so does a Windows path."""
    if "\\" not in text:
        return text
    out = list(text)
    paths = [m.span() for m in _WINDOWS_PATH.finditer(text)]
    i = 0
    while i < len(text) - 1:
        if text[i] == "\\":
            if text[i + 1] in _SHOWN and not any(a <= i < b for a, b in paths):
                out[i], out[i + 1] = " ", _SHOWN[text[i + 1]]
            i += 2  # the escaped character (a backslash too) is consumed with its backslash
            continue
        i += 1
    return "".join(out)


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
