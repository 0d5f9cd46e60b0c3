"""``python -m kiln_sae train --config job.yaml [--set key=value ...]``

Trains an SAE, resuming from the newest valid checkpoint in ``output_dir`` by default. Progress goes to
``<output_dir>/metrics.jsonl`` (and stdout) per docs/metrics-protocol.md. SIGTERM finishes the current step,
saves a checkpoint and exits 0 with a ``done`` line whose reason is ``sigterm``.

Activations come from the dataset in the config (read, extracted and cached by kiln_sae.data/activations/
cache), or — for precomputed activations, tests and benchmarks — from ``--activations FILE.safetensors``
holding a ``train`` tensor [tokens, d] and optionally a ``val`` tensor.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import traceback
from typing import Any

HELP = "train a sparse autoencoder (resumes from the newest valid checkpoint)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config (see workload/README.md); required unless --print-schema")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (dotted for nested, value parsed as YAML), e.g. --set k=64 "
                             "--set early_stopping.patience=3; repeatable")
    parser.add_argument("--activations", help="safetensors file with 'train' [tokens, d] (and optional 'val') "
                                              "activations; skips dataset reading and extraction")
    parser.add_argument("--print-schema", action="store_true", help="print the config's JSON Schema and exit")
    parser.add_argument("--quiet", action="store_true", help="do not echo metrics lines to stdout")


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    import yaml

    from kiln_sae.errors import ConfigError

    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set batch_size=8192")
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = yaml.safe_load(value)
    return raw


def _load_raw(path: str) -> dict[str, Any]:
    import yaml

    from kiln_sae.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError as e:
        raise ConfigError(f"--config: file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"--config: {path} is not valid YAML: {e}") from e
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"--config: {path} must hold a mapping of keys to values")
    return raw


def _streamed(cfg, ctx, stream, num_tokens: int):
    from kiln_sae.shuffle_buffer import StreamedActivations

    per_rank = cfg.batch_size // ctx.world_size
    return StreamedActivations(stream, num_tokens, batch_size=per_rank,
                               capacity=cfg.shuffle_buffer_tokens // ctx.world_size, seed=cfg.seed)


# Rows per chunk when an --activations file is streamed (activation_cache: none): the size of one packed
# extraction batch on CPU, so the buffer mixes across chunks as it would with a live model.
FILE_STREAM_CHUNK = 1024


def _sources_from_file(path: str, cfg=None, ctx=None):
    from safetensors import SafetensorError, safe_open

    from kiln_sae.batches import TensorSource
    from kiln_sae.errors import DataError

    try:
        with safe_open(path, framework="pt") as fh:
            keys = set(fh.keys())
            if "train" not in keys:
                raise DataError(f"--activations {path}: no 'train' tensor (found: {sorted(keys)})")
            train = TensorSource(fh.get_tensor("train"))
            val = TensorSource(fh.get_tensor("val")) if "val" in keys else None
    except (OSError, ValueError, SafetensorError) as e:
        # SafetensorError (a bad header, a truncated body) is not an OSError/ValueError: without it a corrupt
        # file would exit 1 like a bug instead of 2 like any other bad input.
        raise DataError(f"--activations {path}: cannot read it as safetensors ({e})") from e
    if cfg is not None and cfg.activation_cache == "none":
        # Stream the file's rows (this rank's share, in file order) through the shuffle buffer: the same code
        # path as a live extraction stream, without a model.
        share = train.acts[ctx.rank::ctx.world_size]
        def chunks():
            return (share[s:s + FILE_STREAM_CHUNK] for s in range(0, share.shape[0], FILE_STREAM_CHUNK))

        return _streamed(cfg, ctx, chunks, share.shape[0]), val
    return train, val


def _sources_from_dataset(cfg, ctx):
    from kiln_sae.errors import ConfigError

    from kiln_sae.pipeline import build_sources, build_stream

    if cfg.dataset is None:
        raise ConfigError("dataset: required (path or name), unless precomputed activations are passed with "
                          "--activations FILE.safetensors")
    if cfg.activation_cache == "none":
        stream, num_tokens, val = build_stream(cfg, ctx)
        return _streamed(cfg, ctx, stream, num_tokens), val
    return build_sources(cfg, ctx)


def report_early_error(raw: Any, err: Exception, phase: str, *, echo: bool) -> None:
    """An ``error`` line for a failure before the run's MetricsWriter exists (an invalid config): written to
    ``<output_dir>/metrics.jsonl`` when the raw config names a usable output_dir, so Kiln's control plane,
    which watches that file, sees why the job ended. Rank 0 only under torchrun, like every metrics line."""
    import os

    from kiln_sae.metrics import MetricsWriter

    out = raw.get("output_dir") if isinstance(raw, dict) else None
    if not isinstance(out, str) or not out or os.environ.get("RANK", "0") != "0":
        return
    try:
        with MetricsWriter(os.path.join(out, "metrics.jsonl"), echo=echo) as metrics:
            metrics.emit("error", phase=phase, message=str(err), type=type(err).__name__, step=None)
    except OSError:  # an unwritable output_dir: the message still reaches stderr through the caller
        pass


def run(args: argparse.Namespace) -> int:
    from kiln_sae.config import config_json_schema, load_config
    from kiln_sae.errors import ConfigError, DataError

    if args.print_schema:
        print(json.dumps(config_json_schema(), indent=2))
        return 0
    if not args.config and not args.overrides:
        raise ConfigError("--config is required (or --set key=value for every required key)")
    raw = _load_raw(args.config) if args.config else {}
    try:
        cfg = load_config(apply_overrides(raw, args.overrides))
    except ConfigError as e:
        report_early_error(raw, e, "train", echo=not args.quiet)
        raise

    import os

    from kiln_sae.distributed import init_distributed, shutdown
    from kiln_sae.metrics import MetricsWriter
    from kiln_sae.tracking import open_tracker
    from kiln_sae.trainer import Trainer

    logging.basicConfig(level=os.environ.get("KILN_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx = init_distributed()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    metrics = MetricsWriter(os.path.join(cfg.output_dir, "metrics.jsonl"), echo=not args.quiet, enabled=ctx.is_main)
    trainer = None
    try:
        if args.activations:
            train, val = _sources_from_file(args.activations, cfg, ctx)
        else:
            train, val = _sources_from_dataset(cfg, ctx)
        # Both sources hold every row on every rank (the pipeline extracts per rank, then opens the union), so
        # each rank reads its slice of the global batch: the order is independent of the world size.
        trainer = Trainer(cfg, train, val, metrics=metrics, stop=stop, ctx=ctx)
        trainer.tracker = open_tracker(cfg.wandb, cfg.to_dict(), cfg.output_dir, resume_id=trainer.state.wandb_id,
                                       enabled=ctx.is_main)
        trainer.state.wandb_id = getattr(trainer.tracker, "run_id", None) or trainer.state.wandb_id
        trainer.run()
        return 0
    except (ConfigError, DataError) as e:
        metrics.emit("error", phase="train", message=str(e), type=type(e).__name__,
                     step=trainer.state.step if trainer else None)
        raise
    except Exception as e:  # noqa: BLE001 - the top-level handler: report, then exit 1
        metrics.emit("error", phase="train", message=str(e), type=type(e).__name__,
                     step=trainer.state.step if trainer else None)
        traceback.print_exc(file=sys.stderr)
        return 1
    finally:
        metrics.close()
        shutdown(ctx)
