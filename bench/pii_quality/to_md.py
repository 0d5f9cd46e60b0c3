"""Markdown per-label tables (overlap and exact; P / R / F1 per system) from a bench/pii_quality JSON result.

    .venv/bin/python bench/pii_quality/to_md.py bench/results/pii_quality_v4.json > bench/results/pii_quality_v4.md
"""
from __future__ import annotations

import json
import sys

TITLES = {"overlap": "Overlap match (IoU ≥ 0.5, same label)", "exact": "Exact match"}


def tables(result: dict) -> str:
    res = result["results"]
    systems = list(res)
    n_test = result["args"]["n_test"]
    labels = list(res[systems[0]]["overlap"]["per_label"])
    out = []
    for match in ("overlap", "exact"):
        out.append(f"{TITLES[match]}, template-disjoint test split ({n_test} messages), P / R / F1:\n")
        out.append("| label | support | " + " | ".join(s.replace("_", " ") for s in systems) + " |")
        out.append("|---|---:|" + "---|" * len(systems))
        for lab in [*labels, "micro"]:
            cells = []
            for s in systems:
                m = res[s][match]["micro"] if lab == "micro" else res[s][match]["per_label"][lab]
                cells.append(f"{m['precision']:.2f} / {m['recall']:.2f} / **{m['f1']:.2f}**")
            m0 = res[systems[0]][match]["micro"] if lab == "micro" else res[systems[0]][match]["per_label"][lab]
            name = "**micro**" if lab == "micro" else lab
            out.append(f"| {name} | {m0['support']} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        print(tables(json.load(fh)), end="")
