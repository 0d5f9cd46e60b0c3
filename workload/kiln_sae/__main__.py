"""``python -m kiln_sae prepare|train|evaluate|export|probe|detect``.

Each command lives in its own module under ``kiln_sae.commands`` exposing ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported lazily so ``--help`` stays fast
and a command's heavy imports (torch, transformers, presidio) are paid only when it runs.

Exit codes: 0 ok, 2 bad input (config, data, arguments), 1 failure.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from kiln_sae.errors import ConfigError, DataError
from kiln_sae.runtime import tune_cpu_runtime

COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("kiln_sae.commands.prepare", "read and filter the dataset, extract and cache activations"),
    "train": ("kiln_sae.commands.train", "train a sparse autoencoder (resumes from the newest valid checkpoint)"),
    "evaluate": ("kiln_sae.commands.evaluate", "evaluate an SAE: MSE, explained variance, L0, dead latents, CE recovered"),
    "export": ("kiln_sae.commands.export", "export an SAE in SAELens format (cfg.json + sae_weights.safetensors)"),
    "probe": ("kiln_sae.commands.probe", "train and evaluate the PII detector on SAE latents (and the raw-activation baseline)"),
    "detect": ("kiln_sae.commands.detect", "find PII spans in text or JSONL with a trained detector"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kiln_sae", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser = build_parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.print_usage(sys.stderr)
            print(f"error: unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        parser.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    # Before any command module imports torch: libgomp reads OMP_WAIT_POLICY when it loads (runtime.py).
    tune_cpu_runtime()
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"python -m kiln_sae {name}", description=module.HELP)
    module.add_arguments(parser)
    try:
        args = parser.parse_args(rest)
    except SystemExit as e:  # argparse exits 2 on bad arguments, 0 on --help
        return int(e.code or 0)
    try:
        return int(module.run(args))
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
