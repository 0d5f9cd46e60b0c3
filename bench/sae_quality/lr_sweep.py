"""Learning-rate sweep behind ``learning_rate: auto`` (docs/learning-rate.md): Kiln's trainer, every other
setting at its default, held-out EV per learning rate, per cell of (data, d, n, k, batch, token budget).

    .venv/bin/python bench/sae_quality/lr_sweep.py [--cells all|NAME,...] [--out bench/results/lr_sweep.json]

Per cell the search starts at three rates a factor 2 apart around a guess and extends one factor of 2 past
whichever edge wins (at most twice), so the best rate is bracketed; ``lr_opt`` is the vertex of a parabola
through the best three points in (log2 lr, EV), clamped to the bracket. Results are appended to the JSON after
every run and runs already there are skipped, so an interrupted sweep resumes where it stopped.
Real cells use MiniLM layer 3 activations (activations.py); ``synth`` cells use planted sparse features
(a fixed dictionary of 4,096 random unit directions, 16 active per token, 5 % noise) at other widths d, so the
d-dependence can be measured at a CPU-affordable cost.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from activations import DEFAULT_OUT  # noqa: E402
from kiln_side import train_kiln  # noqa: E402
from machine import machine_info  # noqa: E402
from synthetic import planted_features  # noqa: E402

ROOT = HERE.parents[1]
# name: (data, d, n, k, batch, tokens, first guess). Ordered by what the rule needs most, cheapest first where equal.
# The guesses of the MiniLM cells are those of the first sweep (raw FVU gradient, bench/results/lr_sweep-rawgrad.json)
# times ~0.6, snapped to the 1e-3·2^j grid: the unit-norm gradient moved n3072-k32-t1M's optimum from 5.9e-3 to
# ~4e-3 (docs/learning-rate.md), so the old guesses would often have started at the grid's upper edge.
CELLS = {
    "n3072-k32-b4096-t1M": ("minilm", 384, 3072, 32, 4096, 1_000_000, 4e-3),
    "n6144-k64-b4096-t1M": ("minilm", 384, 6144, 64, 4096, 1_000_000, 4e-3),
    "n3072-k32-b4096-t250k": ("minilm", 384, 3072, 32, 4096, 250_000, 8e-3),
    "n3072-k16-b4096-t1M": ("minilm", 384, 3072, 16, 4096, 1_000_000, 4e-3),
    "n6144-k32-b4096-t1M": ("minilm", 384, 6144, 32, 4096, 1_000_000, 4e-3),
    "n3072-k32-b1024-t250k": ("minilm", 384, 3072, 32, 1024, 250_000, 2e-3),
    "n3072-k32-b1024-t1M": ("minilm", 384, 3072, 32, 1024, 1_000_000, 2e-3),
    "synth-d192-n3072-k32-b1024-t250k": ("synth", 192, 3072, 32, 1024, 250_000, 4e-3),
    "synth-d384-n3072-k32-b1024-t250k": ("synth", 384, 3072, 32, 1024, 250_000, 4e-3),
    "synth-d768-n3072-k32-b1024-t250k": ("synth", 768, 3072, 32, 1024, 250_000, 2e-3),
    # 32x expansion at a quarter of the budget: a 1M-token cell at n=12288 cost ~4 min per rate on the shared CPU.
    "n12288-k64-b4096-t250k": ("minilm", 384, 12288, 64, 4096, 250_000, 4e-3),
}
MAX_EXTENSIONS = 2


def load_data(kind: str, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "synth":
        return planted_features(1_000_000, d, seed=1), planted_features(65_536, d, seed=2)
    from safetensors.torch import load_file

    t = load_file(str(DEFAULT_OUT))
    return t["train"], t["heldout"]


def lr_opt(points: dict[float, float]) -> float:
    """Vertex of the parabola through the best point and its two neighbours in log2(lr); clamped to them."""
    lrs = sorted(points)
    i = max(range(len(lrs)), key=lambda j: points[lrs[j]])
    i = min(max(i, 1), len(lrs) - 2)
    xs = [math.log2(lrs[j]) for j in (i - 1, i, i + 1)]
    ys = [points[lrs[j]] for j in (i - 1, i, i + 1)]
    denom = (xs[0] - xs[1]) * (xs[0] - xs[2]) * (xs[1] - xs[2])
    a = (xs[2] * (ys[1] - ys[0]) + xs[1] * (ys[0] - ys[2]) + xs[0] * (ys[2] - ys[1])) / denom
    b = (xs[2] ** 2 * (ys[0] - ys[1]) + xs[1] ** 2 * (ys[2] - ys[0]) + xs[0] ** 2 * (ys[1] - ys[2])) / denom
    vertex = -b / (2 * a) if a < 0 else xs[1]
    return 2 ** min(max(vertex, xs[0]), xs[2])


def run_cell(name: str, spec: tuple, results: dict, save) -> None:
    kind, d, n, k, batch, tokens, guess = spec
    cell = results.setdefault(name, {"data": kind, "d": d, "n": n, "k": k, "batch_size": batch, "tokens": tokens,
                                     "steps": tokens // batch, "runs": []})
    data = None
    done = {r["learning_rate"]: r["explained_variance"] for r in cell["runs"]}

    def ev_at(lr: float) -> float:
        nonlocal data
        lr = float(f"{lr:.3g}")
        if lr not in done:
            data = data or load_data(kind, d)
            r = train_kiln(data[0], data[1], n=n, k=k, tokens=tokens, batch_size=batch, learning_rate=lr,
                           curve_points=0)
            cell["runs"].append({"learning_rate": lr, "explained_variance": r["heldout"]["explained_variance"],
                                 "dead_fraction": r["heldout"]["dead_fraction"], "train_s": round(r["train_s"], 1),
                                 "load_1min": os.getloadavg()[0]})
            done[lr] = cell["runs"][-1]["explained_variance"]
            print(f"[lr-sweep] {name} lr {lr:.3g}: EV {done[lr]:.4f} ({r['train_s']:.0f} s)", file=sys.stderr,
                  flush=True)
            save()
        return done[lr]

    lrs = [guess / 2, guess, guess * 2]
    for lr in lrs:
        ev_at(lr)
    for _ in range(MAX_EXTENSIONS):
        ranked = sorted(done)
        best = max(ranked, key=done.get)
        if best == ranked[0]:
            ev_at(best / 2)
        elif best == ranked[-1]:
            ev_at(best * 2)
        else:
            break
    cell["lr_opt"] = lr_opt(done)
    cell["best_ev"] = max(done.values())
    save()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", default="all")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lr_sweep.json")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: the dev box is shared; the first sweep ran with 2)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = list(CELLS) if args.cells == "all" else args.cells.split(",")
    doc = json.loads(args.out.read_text()) if args.out.exists() else {"benchmark": "lr_sweep", "cells": {}}
    doc["machine"] = machine_info()
    # What the trainer stepped Adam on: the sweep must be re-run (to a fresh --out) when this changes.
    doc["trainer_gradient"] = "TopK gradient rescaled to unit global norm before each Adam step (kiln_sae/optim.py)"

    def save() -> None:
        args.out.write_text(json.dumps(doc, indent=1) + "\n")

    t0 = time.perf_counter()
    for name in names:
        run_cell(name, CELLS[name], doc["cells"], save)
    doc["wall_s_this_invocation"] = round(time.perf_counter() - t0, 1)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
