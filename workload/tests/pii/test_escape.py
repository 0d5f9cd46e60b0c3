"""Messages pasted as escaped strings (escape.py, compose.ESCAPED_LINES): spans move with the text."""
from __future__ import annotations

import random

from kiln_sae.pii import compose
from kiln_sae.pii.compose import ComposeGenerator
from kiln_sae.pii.escape import WRAPPERS, escape_lines
from kiln_sae.pii.labels import Span
from kiln_sae.pii.rules import canonical


def test_spans_keep_their_values_with_line_breaks_escaped():
    text = "Dear Ann Lee,\nplease write to\n12 Elm Grove\nLeeds LS1 4AB\nThanks"
    spans = [Span(5, 12, "PERSON"), Span(text.index("12 Elm"), text.index("\nThanks"), "ADDRESS")]
    ignore = [Span(text.index("Thanks"), len(text), "IGNORE")]
    for seed in range(20):
        out, moved, moved_ignore = escape_lines(text, spans, ignore, random.Random(seed))
        assert "\n" not in out and out.count("\\n") == 4
        assert [out[s.start:s.end] for s in moved] == ["Ann Lee", "12 Elm Grove\\nLeeds LS1 4AB"]
        assert out[moved_ignore[0].start:moved_ignore[0].end] == "Thanks"
        assert [s.label for s in moved] == ["PERSON", "ADDRESS"]


def test_a_wrapper_whose_quote_is_in_the_text_is_never_drawn():
    text = 'He said "hi"\nto Bob'
    wrappers = {escape_lines(text, [], [], random.Random(seed))[0][:9] for seed in range(60)}
    quoted = [w for w in WRAPPERS if w[2] == '"']
    assert quoted and not any(w.startswith(before) and before for w in wrappers for before, _, _ in quoted)
    assert any(w.startswith("text='") for w in wrappers)


def test_the_switch_off_leaves_the_data_as_it_was_and_on_escapes_a_share(monkeypatch):
    default = [e.to_dict() for e in ComposeGenerator(seed=5).examples("val", 200)]
    monkeypatch.setattr(compose, "ESCAPED_LINES", 0.5)
    escaped = [e for e in ComposeGenerator(seed=5).examples("val", 200)]
    changed = [(a, b) for a, b in zip(default, escaped, strict=True) if a != b.to_dict()]
    multi = sum("\n" in a["text"] for a in default)
    # About half the multi-line messages, and only those; the rest are byte for byte the same.
    assert 0.3 * multi < len(changed) < 0.7 * multi
    for before, after in changed:
        assert "\n" in before["text"] and "\n" not in after.text and "\\n" in after.text
        assert [after.text[s.start:s.end] for s in after.spans] == [
            before["text"][s["start"]:s["end"]].replace("\n", "\\n") for s in before["spans"]]
        for s in after.spans:
            assert canonical(after.text, s) == s


def test_shown_line_breaks_keep_the_length_and_show_each_escaped_break():
    from kiln_sae.pii.escape import shown_line_breaks

    text = r'{"body": "Finland 35680\n723 813 266 office\r\nFax:\t(07700)553419"}'
    shown = shown_line_breaks(text)
    assert len(shown) == len(text)
    assert shown == '{"body": "Finland 35680 \n723 813 266 office \n \nFax: \t(07700)553419"}'
    # Every character outside an escape stays where it was, so offsets into one index the other.
    assert all(a == b for a, b in zip(text, shown, strict=True) if b not in " \n\t")


def test_escaped_backslashes_and_windows_paths_are_data_not_line_breaks():
    from kiln_sae.pii.escape import shown_line_breaks

    assert shown_line_breaks(r'"C:\\new_reports"') == r'"C:\\new_reports"'  # a backslash, then "new"
    assert shown_line_breaks(r"profile at C:\Users\nathan_k\Documents") == r"profile at C:\Users\nathan_k\Documents"
    assert shown_line_breaks(r"share \\srv\team\nina ok") == r"share \\srv\team\nina ok"
    # A path ends at a space: an escape after it is a break again.
    assert shown_line_breaks(r"C:\tmp\x done\nnext") == "C:\\tmp\\x done \nnext"
    assert shown_line_breaks("no escapes\nat all") == "no escapes\nat all"


def test_messages_escaped_by_the_generator_read_as_the_original_lines():
    from kiln_sae.pii.escape import shown_line_breaks

    text = "Dear Ann Lee,\nplease write to\n12 Elm Grove\nLeeds LS1 4AB\nThanks"
    out, moved, _ = escape_lines(text, [Span(5, 12, "PERSON")], [], random.Random(3))
    shown = shown_line_breaks(out)
    assert shown.replace(" \n", "\n").count("\n") == 4
    assert shown[moved[0].start:moved[0].end] == "Ann Lee"
