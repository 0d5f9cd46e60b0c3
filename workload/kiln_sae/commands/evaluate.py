"""``python -m kiln_sae evaluate --sae DIR [--config FILE | --data PATH]``: MSE, explained variance (FVU),
L0, dead fraction and, for causal LMs, CE-loss recovered of a trained SAE on held-out text.

Texts: ``--data`` (every document of that file/dir), else the config's dataset, ``--split`` val (the
deterministic hash split; train when val is empty). Formulas: kiln_sae.metrics_math. One ``eval`` line goes
to ``<output_dir>/metrics.jsonl`` (``--metrics`` to choose) and stdout; ``--out`` also writes the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

HELP = "evaluate an SAE: MSE, explained variance, L0, dead latents, CE recovered"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sae", required=True, help="SAE dir (<output_dir>/sae), output dir or checkpoint file")
    parser.add_argument("--config", help="job config: its dataset gives the eval texts, output_dir the metrics")
    parser.add_argument("--data", help="eval texts (file or dir; same formats as dataset.path)")
    parser.add_argument("--split", choices=("val", "train"), default="val")
    parser.add_argument("--max-tokens", type=int, default=100_000, help="stop after this many eval tokens")
    parser.add_argument("--batch-tokens", type=int, default=8192)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--model-dtype", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--no-ce", action="store_true", help="skip CE-loss recovered (causal LMs)")
    parser.add_argument("--metrics", help="metrics.jsonl to append to (default <output_dir>/metrics.jsonl)")
    parser.add_argument("--out", help="also write the results as JSON here")
    parser.add_argument("--quiet", action="store_true", help="do not echo metrics lines to stdout")


def _texts(args: argparse.Namespace, cfg) -> tuple[list[str], str]:
    from kiln_sae.data import load_texts
    from kiln_sae.errors import ConfigError

    if args.data:
        return load_texts({"path": args.data, "val_fraction": 0.0, "dedupe": True}).train, "test"
    if cfg is None or cfg.dataset is None:
        raise ConfigError("evaluate needs eval texts: --data PATH, or --config with a dataset section")
    data = load_texts(cfg.dataset)
    if args.split == "val" and data.val:
        return data.val, "val"
    return data.train, "train" if args.split == "train" else "train (val split empty)"


def run(args: argparse.Namespace) -> int:
    from kiln_sae.checkpoint import load_sae
    from kiln_sae.config import load_config
    from kiln_sae.device import resolve_device
    from kiln_sae.errors import ConfigError, DataError
    from kiln_sae.metrics import MetricsWriter

    cfg = load_config(args.config) if args.config else None
    metrics_path = args.metrics or (os.path.join(cfg.output_dir, "metrics.jsonl") if cfg else None)
    metrics = MetricsWriter(metrics_path, echo=not args.quiet)
    try:
        from kiln_sae.evaluate import evaluate_sae

        device = resolve_device(args.device)
        if not os.path.exists(args.sae):
            raise DataError(f"--sae {args.sae}: no such file or directory")
        sae, meta = load_sae(args.sae, device)
        texts, split = _texts(args, cfg)
        metrics.emit("start", phase="evaluate", resumed=False, step=meta.get("step", 0) or 0,
                     config_hash=cfg.config_hash() if cfg else None, total_steps=None,
                     total_tokens=args.max_tokens, world_size=1, device=str(device), pid=os.getpid())
        result = evaluate_sae(sae, meta, texts, device=str(device), model_dtype=args.model_dtype,
                              batch_tokens=args.batch_tokens, max_tokens=args.max_tokens,
                              model_kind=meta.get("model_kind", cfg.model_kind if cfg else "auto"),
                              with_ce=not args.no_ce)
        result["split"] = "val" if split == "val" else ("test" if split == "test" else "train")
        metrics.emit("eval", step=meta.get("step"), epoch=meta.get("epoch"), **result)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                json.dump(result, fh, indent=2)
                fh.write("\n")
        summary = (f"{result['tokens']} tokens ({split}): EV {result['explained_variance']:.4f}, "
                   f"MSE {result['mse']:.4g}, L0 {result['l0']:.1f}, dead {result['dead_fraction']:.2%} "
                   f"over {result['dead_window_tokens']} tokens")
        if result["ce_loss_recovered"] is not None:
            summary += (f", CE clean {result['ce_clean']:.4f} / SAE {result['ce_sae']:.4f} / zero "
                        f"{result['ce_zero']:.4f} → recovered {result['ce_loss_recovered']:.4f}")
        print(summary, file=sys.stderr)
        metrics.emit("done", phase="evaluate", step=meta.get("step"), tokens=result["tokens"], final=result,
                     reason="completed")
        return 0
    except (ConfigError, DataError) as e:
        metrics.emit("error", phase="evaluate", message=str(e), type=type(e).__name__, step=None)
        raise
    except Exception as e:  # noqa: BLE001 - top-level handler: report, then exit 1
        metrics.emit("error", phase="evaluate", message=str(e), type=type(e).__name__, step=None)
        traceback.print_exc(file=sys.stderr)
        return 1
    finally:
        metrics.close()
