"""Merge per-shape run.py outputs (run as parallel processes on the shared box) into one results file, adding the
cached sae-lens runs at the extra learning rates (what ``--saelens-lrs 3072:0.004;6144:0.004`` reads from the same
cache), then rewrite the markdown summary.

    .venv/bin/python bench/sae_quality/merge_final.py OUT.json PART.json [PART.json ...]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import RUN_CACHE, summary  # noqa: E402

ABLATIONS = HERE.parents[1] / "bench" / ".work" / "sae_quality" / "ablations2"


def main(out: str, *parts: str) -> int:
    docs = [json.loads(Path(p).read_text()) for p in parts]
    doc = dict(docs[0])
    doc["shapes"] = [s for d in docs for s in d["shapes"]]
    doc["machine_after"] = docs[-1].get("machine_after")
    doc["wall_s"] = max(d.get("wall_s", 0) for d in docs)
    doc["parts"] = "one run.py process per shape, run concurrently (bench/sae_quality/merge_final.py)"
    for s in doc["shapes"]:
        for f in sorted(RUN_CACHE.glob(f"saelens-n{s['n']}-k{s['k']}-t{doc['tokens']}-b{doc['batch_size']}"
                                       f"-s{s['seed']}-lr0*.json")):
            r = json.loads(f.read_text())
            if not any(x["library"] == "sae_lens" and x["learning_rate"] == r["learning_rate"]
                       for x in s["extra_runs"]):
                s["extra_runs"].append(r)
        for lib in ("kiln", "sae_lens"):
            runs = [r for r in (s["kiln_defaults"], s["saelens_defaults"], *s["extra_runs"]) if r["library"] == lib]
            top = max(runs, key=lambda r: r["heldout"]["explained_variance"])
            s[f"{lib}_best_here"] = {"learning_rate": top["learning_rate"],
                                     "explained_variance": top["heldout"]["explained_variance"],
                                     "dead_fraction": top["heldout"]["dead_fraction"]}
        # Kiln at other rates with the same code (ablations2.py's "new default" runs: same data, tokens, seed).
        for f in sorted(ABLATIONS.glob(f"{s['n']}-{s['k']}-*-s{s['seed']}-unit_norm_gradient__new_default.json")):
            r = json.loads(f.read_text())
            s.setdefault("kiln_other_rates_ablations2", []).append(
                {k: r[k] for k in ("learning_rate", "explained_variance", "dead_fraction")} | {"source": f.name})
            if r["explained_variance"] > s["kiln_best_here"]["explained_variance"]:
                s["kiln_best_here"] = {k: r[k] for k in ("learning_rate", "explained_variance", "dead_fraction")} \
                    | {"source": f"ablations2 {f.name}"}
    Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    print(summary(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
