"""Score saved detectors (and Presidio) on the three evaluation sets, from a probe run's cached features,
without retraining: for a run stopped before all its systems finished, or a detector trained elsewhere.

    .venv/bin/python bench/pii_quality/score_detectors.py --config workload/configs/pii-best.yaml \
        --run-dir RUN_DIR [--detector sae_probe=RUN_DIR/detector ...] [--presidio] --out RUN_DIR/pii_report.json

Writes the same ``pii_report.json`` layout ``probe`` writes (``systems.<name>.sets.<set>.{exact,overlap,
agnostic}``), so ``report.py`` reads either.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--detector", action="append", default=[], metavar="NAME=DIR")
    p.add_argument("--presidio", action="store_true")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import yaml

    from kiln_sae.pii.devset import load_jsonl
    from kiln_sae.pii.detector import load_detector
    from kiln_sae.pii.experiment import ProbeConfig, _generator
    from kiln_sae.pii.pipeline import SplitData, predict_split, score, timed

    cfg_path = Path(args.config)
    raw = yaml.safe_load(cfg_path.read_text())
    raw["output_dir"] = str(Path(args.run_dir).resolve())
    cfg = ProbeConfig.from_dict(raw, base_dir=cfg_path.parent)
    feats_dir = Path(args.run_dir) / "features"

    def cached(prefix: str):
        hits = sorted(glob.glob(str(feats_dir / f"{prefix}-*.pt")), key=os.path.getmtime)
        if not hits:
            raise SystemExit(f"no cached features {prefix}-*.pt in {feats_dir}")
        return torch.load(hits[-1], weights_only=False)

    sets = {"test": _generator(cfg).examples("test", cfg.data["test"])}
    sets.update({name: load_jsonl(path, name) for name, path in cfg.eval_sets.items()})
    data = {}
    for name, ex in sets.items():
        feats = cached(name)
        if len(feats) != len(ex):
            raise SystemExit(f"{name}: {len(feats)} cached feature rows for {len(ex)} messages")
        data[name] = SplitData(ex, feats)
    systems: dict = {}
    predictors = {}
    for item in args.detector:
        name, path = item.split("=", 1)
        det = load_detector(path)
        predictors[name] = lambda sd, det=det: predict_split(det, sd)
    if args.presidio:
        from kiln_sae.pii.presidio_baseline import PresidioBaseline

        engine = PresidioBaseline()
        predictors["presidio"] = lambda sd: engine.predict(sd.texts)
    for name, predict in predictors.items():
        results = {}
        for set_name, sd in data.items():
            preds, dt = timed(lambda sd=sd, predict=predict: predict(sd))
            reports = score(sd.gold, preds, sd.texts, sd.ignore)
            results[set_name] = {"predict_s": dt, **{m: r.to_dict() for m, r in reports.items()}}
            print(f"{name} on {set_name}: overlap {reports['overlap'].micro['f1']:.3f} exact "
                  f"{reports['exact'].micro['f1']:.3f} agnostic {reports['agnostic'].micro['f1']:.3f}", flush=True)
        systems[name] = {"info": {"scored_by": "bench/pii_quality/score_detectors.py"}, **results["test"],
                         "sets": results}
    report = {"config": {k: v for k, v in cfg.__dict__.items()}, "systems": systems,
              "sets": {k: len(v.examples) for k, v in data.items()}}
    Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
