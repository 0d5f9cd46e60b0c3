"""Assemble finished ``probe`` runs' shipped SAE detectors into one ensemble detector without retraining:
their token probabilities are averaged and the average's decoding is chosen on val by the same
``pipeline.tune`` that ``probe`` calls for ``members: N`` (``experiment._train_ensemble``). For measuring an
ensemble over runs that already exist (one per SAE seed); ``rescore.py NEW_DIR --synthetic`` then scores it.

    .venv/bin/python bench/pii_quality/ensemble.py RUN_DIR RUN_DIR [...] --out NEW_DIR

Every run must have shipped an SAE probe of the same model, layers and line-break reading, and the first
run's ``features`` cache must hold val (val is generated again from its config). NEW_DIR gets
``detector/`` (the members copied in, each with its SAE), a link to the first run's features, and a
``pii_report.json`` with only the SAE probe, whose ``info`` is the new tuning plus ``members`` (the runs).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rescore import _features  # noqa: E402


def assemble(runs: list[Path], out: Path) -> dict:
    from kiln_sae.pii.detector import EnsembleDetector, load_detector
    from kiln_sae.pii.experiment import _generator
    from kiln_sae.pii.pipeline import SplitData, tune

    reports = [json.loads((r / "pii_report.json").read_text(encoding="utf-8")) for r in runs]
    for run, rep in zip(runs, reports, strict=True):
        if rep["config"]["detector"] != "sae":
            raise SystemExit(f"{run}: its shipped detector is the {rep['config']['detector']} probe, not the SAE probe")
    members = [load_detector(r / "detector") for r in runs]
    ensemble = EnsembleDetector.of(members, [r / "detector" / m.spec.sae["path"] for r, m in zip(runs, members)])
    cfg = reports[0]["config"]
    examples = _generator(SimpleNamespace(generator=cfg["generator"], data=cfg["data"])).examples(
        "val", cfg["data"]["val"])
    val = SplitData(examples, _features(runs[0], "val", [e.text for e in examples], ensemble.spec))
    info = tune(ensemble, val)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "features").exists():
        (out / "features").symlink_to((runs[0] / "features").resolve())
    ensemble.save(out / "detector")
    report = {**reports[0], "config": {**cfg, "members": len(runs), "systems": ["sae"]},
              "systems": {"sae_probe": {"info": {**info, "members": [str(r) for r in runs]}, "sets": {}}}}
    (out / "pii_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"ensemble of {len(runs)}: val overlap F1 {info['val_overlap_f1']:.4f}, threshold {info['threshold']}, "
          f"extend {info['extend_threshold']}, split {info['split']}, floors {info['label_thresholds']}",
          file=sys.stderr)
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    if len(args.runs) < 2:
        p.error("give two or more runs")
    assemble(args.runs, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
