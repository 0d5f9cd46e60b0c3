"""Train/validation/test split **by template**: the test split measures generalisation to phrasings the
probe never saw. The assignment is fixed by template position, not by seed, so every run agrees on it."""
from __future__ import annotations

import functools
import re

from kiln_sae.pii.negatives import NEGATIVE_TEMPLATES
from kiln_sae.pii.slots import LABELLED
from kiln_sae.pii.templates import TEMPLATES, Template

SPLITS: tuple[str, ...] = ("train", "val", "test")
# Of every 7 consecutive templates in a genre, 5 train, 1 validate, 1 test (~71/14/14).
_PATTERN: tuple[str, ...] = ("train", "train", "val", "train", "train", "test", "train")
_SLOT = re.compile(r"\{([a-z][a-z_0-9]*)\}")


def all_templates() -> tuple[Template, ...]:
    return TEMPLATES + NEGATIVE_TEMPLATES


def template_labels(t: Template) -> set[str]:
    out = set()
    for slot in _SLOT.findall(t.text):
        base = slot[:-1] if slot.endswith("2") else slot
        if base in LABELLED:
            out.add(LABELLED[base][0])
    return out


@functools.cache
def split_of_all() -> dict[str, str]:
    """template id -> split. A genre offset spreads small genres over all splits; then a repair pass moves
    train templates so every label occurs in val and test while keeping at least two train templates."""
    out: dict[str, str] = {}
    genres = list(dict.fromkeys(t.genre for t in all_templates()))
    for g_index, genre in enumerate(genres):
        members = [t for t in all_templates() if t.genre == genre]
        for i, t in enumerate(members):
            out[t.id] = _PATTERN[(i + 3 * g_index) % len(_PATTERN)]
    labels_of = {t.id: template_labels(t) for t in all_templates()}
    all_labels = sorted(set().union(*labels_of.values()))
    for split in ("test", "val"):
        for label in all_labels:
            if any(out[tid] == split and label in ls for tid, ls in labels_of.items()):
                continue
            train_with = [tid for tid, ls in labels_of.items() if out[tid] == "train" and label in ls]
            # Prefer moving the template with the fewest labels: it disturbs the other labels' coverage least.
            movable = sorted(
                (tid for tid in train_with
                 if all(sum(1 for o, ls in labels_of.items() if out[o] == "train" and lab in ls) > 2
                        for lab in labels_of[tid])),
                key=lambda tid: (len(labels_of[tid]), tid))
            if movable:
                out[movable[0]] = split
    return out


def templates_for(split: str) -> tuple[Template, ...]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    assignment = split_of_all()
    return tuple(t for t in all_templates() if assignment[t.id] == split)
