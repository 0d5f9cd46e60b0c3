"""Score a finished ``probe`` run's saved detectors (and Presidio) again on its external evaluation sets, as
they are labelled now — after a change to a set's mapping (docs/pii-labels.md) — without retraining anything;
with ``--synthetic``, the synthetic test split too (after a change to the decoder, so that every number comes
from the same code). The test split is generated again from the run's config and must hit its cached features.

    .venv/bin/python bench/pii_quality/rescore.py RUN_DIR --out NEW_DIR [--synthetic]

Reads ``RUN_DIR/pii_report.json``, the detectors it wrote (``detector``, ``detector-<system>``) and its cached
features (``RUN_DIR/features/<set>-*.pt``: the model's activations, which a relabelling does not change),
re-reads every evaluation set file named in its config, and writes ``NEW_DIR/pii_report.json``: the same
report with those sets' scores replaced (the synthetic test split and everything else kept) and a
``rescored`` entry saying when and from what. ``report.py NEW_DIR`` then tabulates it as usual.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_DIRS = {"sae_probe": "sae", "raw_probe": "raw"}


def _features(run: Path, name: str, texts: list[str], spec) -> list:
    """The cached features of exactly these texts (the probe's own cache key), so an edited set is refused
    rather than scored against another text's activations."""
    import torch
    from kiln_sae.pii.experiment import features_key

    key = features_key(spec.base_model, spec.layers or spec.layer, spec.context_size, texts, spec.line_breaks)
    path = run / "features" / f"{name}-{key}.pt"
    if not path.exists():
        raise SystemExit(f"{path}: no cached features for the current {name} texts (the set's texts changed, "
                         f"not only its labels); rerun `python -m kiln_sae probe` on it instead")
    return torch.load(path, weights_only=False)


def _set_path(run: Path, path: str) -> Path:
    """A recorded set path that is relative was resolved against the config's folder (``ProbeConfig``) and
    then kept relative to where ``probe`` ran: try that folder, the repository root and the run's parent."""
    for cand in (Path(path), ROOT / path, run.parent / path):
        if cand.exists():
            return cand
    raise SystemExit(f"{run}: evaluation set {path} not found from the repository root or {run.parent}")


def _detector_dir(run: Path, system: str, shipped: str) -> Path:
    short = SYSTEM_DIRS[system]
    return run / ("detector" if short == shipped else f"detector-{short}")


def rescore(run: Path, synthetic: bool = False) -> dict:
    from kiln_sae.pii.detector import load_detector
    from kiln_sae.pii.devset import load_jsonl
    from kiln_sae.pii.experiment import _generator
    from kiln_sae.pii.pipeline import SplitData, predict_split, score

    report = json.loads((run / "pii_report.json").read_text(encoding="utf-8"))
    cfg = report["config"]
    paths = {name: _set_path(run, path) for name, path in cfg["eval_sets"].items()}
    spec = load_detector(run / "detector").spec
    sets = {}
    for name, path in paths.items():
        examples = load_jsonl(path, name)
        sets[name] = SplitData(examples, _features(run, name, [e.text for e in examples], spec))
    if synthetic:
        gen = _generator(SimpleNamespace(generator=cfg["generator"], data=cfg["data"]))
        examples = gen.examples("test", cfg["data"]["test"])
        sets["test"] = SplitData(examples, _features(run, "test", [e.text for e in examples], spec))
    for system, entry in report["systems"].items():
        if system == "presidio":
            from kiln_sae.pii.presidio_baseline import PresidioBaseline

            engine = PresidioBaseline()
            predict = lambda sd: engine.predict(sd.texts)  # noqa: E731
        else:
            det = load_detector(_detector_dir(run, system, cfg["detector"]))
            predict = lambda sd, det=det: predict_split(det, sd)  # noqa: E731
        for name, sd in sets.items():
            reports = score(sd.gold, predict(sd), sd.texts, sd.ignore)
            entry["sets"][name] = {"predict_s": entry["sets"].get(name, {}).get("predict_s"),
                                   **{m: r.to_dict() for m, r in reports.items()}}
    report["sets"].update({name: len(sd.examples) for name, sd in sets.items()})
    report["rescored"] = {"from": str(run), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          "sets": sorted(sets)}
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--synthetic", action="store_true", help="re-score the synthetic test split as well")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "workload"))
    import torch

    torch.set_num_threads(1)
    report = rescore(args.run, args.synthetic)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "pii_report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(args.out / "pii_report.json")
    for system, entry in report["systems"].items():
        f1 = {k: round(v["overlap"]["micro"]["f1"], 3) for k, v in entry["sets"].items()}
        print(f"{system}: overlap F1 {f1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
