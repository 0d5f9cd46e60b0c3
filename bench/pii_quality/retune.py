"""Choose a finished ``probe`` run's decoding settings on val again, with the current decoder, on its saved
probes: the same ``pipeline.tune`` that ``probe`` calls after training, so the detectors it writes are the ones
``probe`` would have written had the decoder been this one. For a decoder step added after the probes were
trained; ``rescore.py --synthetic`` then scores the copy on every set.

    .venv/bin/python bench/pii_quality/retune.py RUN_DIR --out NEW_DIR

Reads ``RUN_DIR/pii_report.json`` (its config names the model, layers and generator; val is generated again
and must hit the cached features in ``RUN_DIR/features``) and its detectors, and writes NEW_DIR: the detectors
with their new ``detector.json``, a link to the features, and the report with each probe's ``info`` replaced by
the new tuning (with ``retuned_from``). Probe weights and SAEs are copied unchanged.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rescore import SYSTEM_DIRS, _detector_dir, _features  # noqa: E402


def retune(run: Path, out: Path) -> dict:
    from kiln_sae.pii.detector import load_detector, spec_json
    from kiln_sae.pii.experiment import _generator
    from kiln_sae.pii.pipeline import SplitData, tune

    report = json.loads((run / "pii_report.json").read_text(encoding="utf-8"))
    cfg = report["config"]
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "features").exists():
        (out / "features").symlink_to((run / "features").resolve())
    examples = _generator(SimpleNamespace(generator=cfg["generator"], data=cfg["data"])).examples(
        "val", cfg["data"]["val"])
    val = None
    for system in report["systems"]:
        if system not in SYSTEM_DIRS:
            continue
        src = _detector_dir(run, system, cfg["detector"])
        dst = out / src.name
        shutil.copytree(src.resolve(), dst, dirs_exist_ok=True)
        det = load_detector(dst)
        if val is None:
            val = SplitData(examples, _features(run, "val", [e.text for e in examples], det.spec))
        info = tune(det, val)
        (dst / "detector.json").write_text(spec_json(det.spec), encoding="utf-8")
        report["systems"][system]["info"] = {**report["systems"][system]["info"], **info, "retuned_from": str(run)}
        print(f"{system}: val overlap F1 {info['val_overlap_f1']:.4f}, threshold {info['threshold']}, "
              f"join_address {info['join_address']}, public_ips {info['public_ips']}, "
              f"mail_addresses {info['mail_addresses']}, credentials {info['credentials']}", file=sys.stderr)
    (out / "pii_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    retune(args.run, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
