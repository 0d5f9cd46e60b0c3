"""Fit ``learning_rate: auto`` to the sweep: least squares on log(lr_opt) over the MiniLM cells.

    .venv/bin/python bench/sae_quality/fit_rule.py [bench/results/lr_sweep.json]

Model (the scaling argument is in docs/learning-rate.md):

    log lr_opt = log LR_REF − γ·log(S / 244) + μ·log(m / m_ref)      (d = 384 in every MiniLM cell)

S = optimiser steps, m = B·k/n = how many tokens each latent fires on per batch on average, m_ref = 4096·32/3072.
lr_opt per cell is recomputed here from its runs (lr_sweep.lr_opt: the vertex of a parabola through the best
three points in log2 lr); a cell whose best rate is at the edge of its grid is reported but not fitted, and HELD_OUT cells are predicted,
not fitted.
The planted-feature cells (other d) are reported with their own lr_opt only: see docs/learning-rate.md for why
they do not pin δ. Prints the fit and each cell's residual, and writes both into the sweep JSON under "fit".
Also prints, per bracketed cell, the held-out EV and dead fraction at a few shares of lr_opt (EV from the
parabola through the best three points, dead fraction interpolated linearly in log2 lr): the evidence for
DEAD_LATENT_MARGIN, the share of the EV-optimal rate that ``auto`` takes.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[2]
M_REF = 4096 * 32 / 3072
# Run after the fit was made, at a shape outside it (32x expansion, 61 steps): an out-of-sample check of the rule.
HELD_OUT = {"n12288-k64-b4096-t250k"}


def cell_optimum(cell: dict) -> tuple[float | None, bool]:
    from lr_sweep import lr_opt

    points = {r["learning_rate"]: r["explained_variance"] for r in cell["runs"]}
    if len(points) < 3:
        return None, False
    ranked = sorted(points)
    best = max(ranked, key=points.get)
    if best in (ranked[0], ranked[-1]):
        return best, False  # not bracketed: the optimum is at or beyond this edge of the grid
    return lr_opt(points), True


SHARES = (0.5, 0.6, 0.7, 0.8, 1.0)


def at_share(cell: dict, opt: float, share: float) -> tuple[float, float]:
    """(EV, dead fraction) at share·lr_opt, inside the measured grid: EV on the parabola through the best three
    points in log2 lr (lr_sweep.lr_opt's), dead fraction linear in log2 lr between the two nearest rates."""
    runs = sorted(cell["runs"], key=lambda r: r["learning_rate"])
    xs = [math.log2(r["learning_rate"]) for r in runs]
    x = min(max(math.log2(opt * share), xs[0]), xs[-1])
    i = max(range(len(runs)), key=lambda j: runs[j]["explained_variance"])
    i = min(max(i, 1), len(runs) - 2)
    ev = float(np.polyval(np.polyfit(xs[i - 1:i + 2], [runs[j]["explained_variance"] for j in (i - 1, i, i + 1)], 2), x))
    dead = float(np.interp(x, xs, [r["dead_fraction"] for r in runs]))
    return ev, dead


def fit(cells: dict) -> dict:
    rows, ys, names, table, held = [], [], [], {}, []
    for name, c in cells.items():
        opt, bracketed = cell_optimum(c)
        m = c["batch_size"] * c["k"] / c["n"]
        table[name] = {"data": c["data"], "d": c["d"], "n": c["n"], "k": c["k"], "batch_size": c["batch_size"],
                       "steps": c["steps"], "m": round(m, 2), "lr_opt": opt, "bracketed": bracketed,
                       "best_ev": max(r["explained_variance"] for r in c["runs"]) if c["runs"] else None}
        if opt is None or not bracketed or c["data"] != "minilm":
            continue
        table[name]["ev_dead_at_share_of_lr_opt"] = {str(f): [round(v, 4) for v in at_share(c, opt, f)]
                                                     for f in SHARES}
        if name in HELD_OUT:
            held.append((name, [1.0, -math.log(c["steps"] / 244), math.log(m / M_REF)], math.log(opt)))
            continue
        rows.append([1.0, -math.log(c["steps"] / 244), math.log(m / M_REF)])
        ys.append(math.log(opt))
        names.append(name)
    x, y = np.array(rows), np.array(ys)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    pred = x @ coef
    for n, p, t in zip(names, pred, y):
        table[n]["fitted_over_measured"] = round(math.exp(p - t), 3)
    for n, row, t in held:
        table[n]["held_out_predicted_over_measured"] = round(math.exp(float(np.array(row) @ coef) - t), 3)
    return {"lr_ref": math.exp(coef[0]), "steps_exp": float(coef[1]), "density_exp": float(coef[2]),
            "fitted_cells": names, "cells": table}


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else ROOT / "bench" / "results" / "lr_sweep.json"
    doc = json.loads(path.read_text())
    result = fit(doc["cells"])
    doc["fit"] = result
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"LR_REF {result['lr_ref']:.4g}  steps exponent {result['steps_exp']:.3f}  density exponent "
          f"{result['density_exp']:.3f}  ({len(result['fitted_cells'])} cells)")
    for name, c in result["cells"].items():
        opt = "—" if c["lr_opt"] is None else f"{c['lr_opt']:.3g}"
        print(f"  {name:36s} S {c['steps']:4d}  m {c['m']:5.1f}  lr_opt {opt:>8s}{'' if c['bracketed'] else ' (grid edge)'}"
              f"  best EV {c['best_ev']:.4f}  fit/measured "
              f"{c.get('fitted_over_measured', c.get('held_out_predicted_over_measured', '—'))}")
    print("EV / dead fraction at a share of each cell's lr_opt:")
    for name, c in result["cells"].items():
        if "ev_dead_at_share_of_lr_opt" in c:
            print(f"  {name:36s} " + "  ".join(f"{f}: {ev:.4f} / {dead:.1%}" for f, (ev, dead)
                                               in c["ev_dead_at_share_of_lr_opt"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
