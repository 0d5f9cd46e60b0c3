"""Which of Kiln's init and scaling choices costs quality per token? One change at a time against Kiln at a
fixed learning rate (the same rate as a sae-lens run in run.py's cache), same data, tokens and seed.

    .venv/bin/python bench/sae_quality/ablations.py [--n 6144 --k 64 --lr 0.004 --tokens 1000000]

Kiln and sae-lens differ in: input normalisation (Kiln scales activations to mean norm √d, sae-lens uses them
raw), linear warm-up (Kiln min(1000, 5 % of steps), sae-lens none), Adam eps (6.25e-10 vs torch's 1e-8),
b_dec init (geometric median vs zeros), and the decoder (unit-norm rows with the parallel gradient removed, vs
free norms initialised at 0.1 with latents rescaled by them). The first four are switched here one by one; the
decoder parametrisation is not (it would need a second SAE class in kiln_sae). AuxK is idle in both at these
budgets (Kiln: dead after 10M tokens; sae-lens: after 1,000 steps), so its coefficient does not matter here.
Writes bench/results/sae_quality_ablations.json.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from machine import machine_info  # noqa: E402


@contextlib.contextmanager
def adam_eps(value: float):
    from kiln_sae import optim

    old, optim.ADAM_EPS = optim.ADAM_EPS, value  # make_optimizer reads the module constant at call time
    try:
        yield
    finally:
        optim.ADAM_EPS = old


@contextlib.contextmanager
def zero_b_dec():
    import torch

    from kiln_sae.sae import SparseAutoencoder

    old = SparseAutoencoder.init_b_dec_
    SparseAutoencoder.init_b_dec_ = lambda self, sample, iters=50: torch.nn.init.zeros_(self.b_dec)
    try:
        yield
    finally:
        SparseAutoencoder.init_b_dec_ = old


VARIANTS = {
    "no warm-up": ({"warmup_steps": 0}, contextlib.nullcontext),
    "Adam eps 1e-8": ({}, lambda: adam_eps(1e-8)),
    "raw activations (normalize_activations: false)": ({"normalize_activations": False}, contextlib.nullcontext),
    "b_dec init zeros": ({}, zero_b_dec),
}


def add_saelens_reference(doc: dict, args) -> None:
    """sae-lens at the same learning rate, from run.py's cache of sae-lens runs (same data, tokens, seed)."""
    cached = ROOT / "bench" / ".work" / "sae_quality" / "runs" / \
        f"saelens-n{args.n}-k{args.k}-t{args.tokens}-b4096-s0-lr{args.lr}.json"
    if cached.exists():
        sl = json.loads(cached.read_text())
        doc["sae_lens_same_lr"] = {"explained_variance": sl["heldout"]["explained_variance"],
                                   "dead_fraction": sl["heldout"]["dead_fraction"], "source": cached.name}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=6144)
    p.add_argument("--k", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.004)
    p.add_argument("--tokens", type=int, default=1_000_000)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sae_quality_ablations.json")
    p.add_argument("--reference-only", action="store_true", help="only add the cached sae-lens run to --out")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from safetensors.torch import load_file

    from activations import DEFAULT_OUT
    from kiln_side import train_kiln

    data = load_file(str(DEFAULT_OUT))
    doc = {"benchmark": "sae_quality_ablations", "machine": machine_info(), "n": args.n, "k": args.k,
           "learning_rate": args.lr, "tokens": args.tokens, "variants": {}}
    if args.reference_only:  # the sae-lens run may finish after the variants: add it to the existing JSON
        doc = json.loads(args.out.read_text())
        add_saelens_reference(doc, args)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        return 0
    add_saelens_reference(doc, args)
    sweep = json.loads((ROOT / "bench" / "results" / "lr_sweep.json").read_text())["cells"]
    for cell in sweep.values():  # Kiln as shipped at this rate: the sweep ran exactly this (same code path, seed 0)
        if (cell["data"], cell["n"], cell["k"], cell["tokens"], cell["batch_size"]) == ("minilm", args.n, args.k,
                                                                                          args.tokens, 4096):
            for r in cell["runs"]:
                if r["learning_rate"] == args.lr:
                    doc["variants"]["kiln as shipped (lr_sweep.json)"] = {
                        "explained_variance": r["explained_variance"], "dead_fraction": r["dead_fraction"]}
    for name, (overrides, ctx) in VARIANTS.items():
        with ctx():
            r = train_kiln(data["train"], data["heldout"], n=args.n, k=args.k, tokens=args.tokens,
                           learning_rate=args.lr, curve_points=0, **overrides)
        doc["variants"][name] = {"explained_variance": r["heldout"]["explained_variance"],
                                 "dead_fraction": r["heldout"]["dead_fraction"], "overrides": overrides}
        print(f"[ablations] {name}: EV {r['heldout']['explained_variance']:.4f}", file=sys.stderr, flush=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
