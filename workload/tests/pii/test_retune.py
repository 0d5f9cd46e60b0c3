"""bench/pii_quality/retune.py: a finished run's decoding choices made again on val, as `probe` makes them."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _retune_module():
    spec = importlib.util.spec_from_file_location("retune", ROOT / "bench" / "pii_quality" / "retune.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_retune_writes_what_probe_wrote_and_keeps_the_weights(probe_run, tmp_path):
    retune = _retune_module()
    report = retune.retune(probe_run, tmp_path / "rt")
    for name in ("detector", "detector-sae"):
        before = json.loads((probe_run / name / "detector.json").read_text())
        after = json.loads((tmp_path / "rt" / name / "detector.json").read_text())
        # The decoder has not changed since the fixture's probe ran: tune chooses exactly what probe chose.
        assert after == before
        assert (tmp_path / "rt" / name / "probe.safetensors").read_bytes() == (
            probe_run / name / "probe.safetensors").read_bytes()
    for info in (report["systems"]["raw_probe"]["info"], report["systems"]["sae_probe"]["info"]):
        assert info["retuned_from"] == str(probe_run) and isinstance(info["public_ips"], bool)
    assert json.loads((tmp_path / "rt" / "pii_report.json").read_text())["systems"].keys() == report["systems"].keys()
