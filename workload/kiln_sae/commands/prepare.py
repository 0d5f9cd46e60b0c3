"""``python -m kiln_sae prepare --config FILE``: read and filter the dataset, report the counts, extract the
activations at the configured layer and cache them on disk under ``<output_dir>/activations/`` so that
``train`` starts from them (it reuses a cache whose fingerprint — model, layer, dtype, context, texts —
matches). ``--counts-only`` stops after reading/filtering: a quick check of ``pii_filter`` and
``subset_size`` without loading the model.

Human-readable counts go to stderr; stdout carries the metrics-protocol lines (``start``, ``done``).
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

HELP = "read and filter the dataset, report counts, extract and cache activations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="SAE job config (YAML)")
    parser.add_argument("--counts-only", action="store_true", help="read, filter and count; no extraction")
    parser.add_argument("--quiet", action="store_true", help="do not echo metrics lines to stdout")


def _describe(report: dict) -> str:
    lines = [f"read {report['read']} documents: {report['empty']} empty, {report['duplicates']} duplicates"]
    pii = report.get("pii_filter")
    if pii is not None:
        hits = ", ".join(f"{k} {v}" for k, v in pii["per_pattern"].items() if v)
        lines.append(f"pii filter kept {pii['kept']} of {pii['scanned']} ({hits or 'no matches'})")
    if report["subset_reached"]:
        lines.append("stopped at subset_size")
    lines.append(f"split: {report['train']} train, {report['val']} val")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from kiln_sae.config import load_config
    from kiln_sae.errors import ConfigError, DataError
    from kiln_sae.metrics import MetricsWriter

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        from kiln_sae.commands.train import _load_raw, report_early_error

        try:
            raw = _load_raw(args.config)
        except ConfigError:  # unreadable YAML: no output_dir to report to
            raw = None
        report_early_error(raw, e, "prepare", echo=not args.quiet)
        raise
    metrics = MetricsWriter(os.path.join(cfg.output_dir, "metrics.jsonl"), echo=not args.quiet)
    try:
        from kiln_sae.device import resolve_device
        from kiln_sae.pipeline import batch_tokens_for, build_extractor, cache_split, read_dataset

        device = resolve_device(cfg.device)
        metrics.emit("start", phase="prepare", resumed=False, step=0, config_hash=cfg.config_hash(),
                     total_steps=None, total_tokens=None, world_size=1, device=str(device), pid=os.getpid())
        data = read_dataset(cfg)
        report = data.report.as_dict()
        print(_describe(report), file=sys.stderr)
        final: dict = {"data": report}
        tokens = 0
        if not args.counts_only:
            extractor = build_extractor(cfg, device)
            root = os.path.join(cfg.output_dir, "activations")
            for split, texts in (("train", data.train), ("val", data.val)):
                cache = cache_split(extractor, texts, Path(root, split), mode="disk",
                                    batch_tokens=batch_tokens_for(device))
                n = cache.num_tokens if cache is not None else 0
                final[f"{split}_tokens"] = n
                tokens += n
            final.update({"d": extractor.d, "cache_dir": root})
            print(f"activations: {final['train_tokens']} train + {final['val_tokens']} val tokens, d={extractor.d}, "
                  f"cached in {root}", file=sys.stderr)
        metrics.emit("done", phase="prepare", step=0, tokens=tokens, final=final, reason="completed")
        return 0
    except (ConfigError, DataError) as e:
        metrics.emit("error", phase="prepare", message=str(e), type=type(e).__name__, step=None)
        raise
    except Exception as e:  # noqa: BLE001 - top-level handler: report, then exit 1
        metrics.emit("error", phase="prepare", message=str(e), type=type(e).__name__, step=None)
        traceback.print_exc(file=sys.stderr)
        return 1
    finally:
        metrics.close()

