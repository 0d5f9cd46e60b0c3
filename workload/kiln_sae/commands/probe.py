"""``python -m kiln_sae probe --config FILE``: train the PII detector on SAE latents (and the raw-activation
baseline, and score Presidio), evaluate all on the held-out test split and the config's evaluation sets, save
the detector. ``--config workload/configs/pii-best.yaml`` builds the shipped detector from nothing (data,
features, SAE). Progress goes to stderr; protocol lines to ``<output_dir>/metrics.jsonl``."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

from kiln_sae.errors import ConfigError

HELP = "train and evaluate the PII detector on SAE latents (and the raw-activation baseline)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="probe config YAML (see workload/README.md, 'PII detector')")
    parser.add_argument("--output-dir", help="override output_dir from the config (relative to the current directory)")


def run(args: argparse.Namespace) -> int:
    import yaml

    from kiln_sae.metrics import MetricsWriter
    from kiln_sae.pii.experiment import ProbeConfig, run_experiment

    path = Path(args.config)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read probe config ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: probe config must be a mapping")
    if args.output_dir:
        raw["output_dir"] = str(Path(args.output_dir).resolve())  # a path typed on the command line is the shell's
    cfg = ProbeConfig.from_dict(raw, base_dir=path.parent)
    with MetricsWriter(os.path.join(cfg.output_dir, "metrics.jsonl")) as metrics:
        config_hash = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]
        metrics.emit("start", phase="probe", resumed=False, step=0, config_hash=config_hash, total_steps=None,
                     total_tokens=None, world_size=1, device="cpu", pid=os.getpid())
        try:
            report = run_experiment(cfg, metrics)
        except Exception as e:
            metrics.emit("error", phase="probe", message=str(e), type=type(e).__name__)
            raise
        final = {name: sysr["overlap"]["micro"]["f1"] for name, sysr in report["systems"].items()}
        metrics.emit("done", phase="probe", step=0, tokens=0, final={"overlap_micro_f1": final}, reason="completed")
    return 0
