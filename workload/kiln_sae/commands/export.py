"""``python -m kiln_sae export --sae DIR --out DIR``: write the SAE in SAELens format (``cfg.json`` +
``sae_weights.safetensors``, act_scale folded into the weights so raw activations go straight in).
Load it with ``sae_lens.SAE.load_from_disk(OUT)``. Prints one ``artifact`` line per file (paths relative to
``--out``'s parent, the run's output dir when ``--out`` is ``<output_dir>/saelens``).
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

HELP = "export an SAE in SAELens format (cfg.json + sae_weights.safetensors)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sae", required=True, help="SAE dir (<output_dir>/sae), output dir or checkpoint file")
    parser.add_argument("--out", required=True, help="directory to write cfg.json and sae_weights.safetensors")
    parser.add_argument("--model-name", help="model_name for SAELens/TransformerLens (default: base_model)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--metrics", help="metrics.jsonl to append the artifact lines to")
    parser.add_argument("--quiet", action="store_true", help="do not echo metrics lines to stdout")


def run(args: argparse.Namespace) -> int:
    from kiln_sae.checkpoint import sha256_file
    from kiln_sae.errors import ConfigError, DataError
    from kiln_sae.export import export_saelens
    from kiln_sae.metrics import MetricsWriter

    metrics = MetricsWriter(args.metrics, echo=not args.quiet)
    try:
        if not os.path.exists(args.sae):
            raise DataError(f"--sae {args.sae}: no such file or directory")
        result = export_saelens(args.sae, args.out, model_name=args.model_name, dtype=args.dtype)
        base = os.path.dirname(os.path.abspath(args.out))
        for path in result.files:
            metrics.emit("artifact", path=os.path.relpath(path, base), sha256=sha256_file(path),
                         bytes=path.stat().st_size, role="saelens_export")
        print(f"exported {result.cfg['architecture']} SAE d_in={result.cfg['d_in']} d_sae={result.cfg['d_sae']} "
              f"hook {result.cfg['metadata']['hook_name']} to {args.out}", file=sys.stderr)
        return 0
    except (ConfigError, DataError) as e:
        metrics.emit("error", phase="export", message=str(e), type=type(e).__name__, step=None)
        raise
    except Exception as e:  # noqa: BLE001 - top-level handler: report, then exit 1
        metrics.emit("error", phase="export", message=str(e), type=type(e).__name__, step=None)
        traceback.print_exc(file=sys.stderr)
        return 1
    finally:
        metrics.close()
