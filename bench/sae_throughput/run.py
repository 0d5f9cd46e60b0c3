"""SAE training-step throughput: Kiln vs sae-lens, same machine, same activations, same d/n/k/dtype policy.

    .venv/bin/python bench/sae_throughput/run.py [--d 384 --n 3072 --k 32 --batch 4096 --rounds 5 --steps 4]

Dtype policy (both): bf16 autocast on CUDA (sae-lens ``autocast=True``; Kiln ``mixed_precision: auto``),
plain fp32 on CPU (autocast off for both). sae-lens runs its ``TopKTrainingSAE`` with library defaults
(``rescale_acts_by_decoder_norm=True``, ``apply_b_dec_to_input=True``, dense decode) inside a separate venv
``bench/.work/saelens-venv`` that reuses our torch==2.13.0; Kiln (and Kiln's previous, unfused step, for a
before/after) run in that same process, interleaved round by round (steps.py), with the same torch thread
count and the same CPU runtime settings (``--cpu-runtime kiln``, the default: what ``python -m kiln_sae``
sets, kiln_sae/runtime.py: passive OpenMP waits and freed heap kept for reuse; ``default``: neither). On a
machine shared with other jobs, spinning OpenMP waits cost Kiln's many short parallel ops far more than
sae-lens's few large ones. Prints the ratio and Kiln's share of the 2·d·n + 10·k·d FLOP count; writes
bench/results/sae_throughput-<machine>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORK = ROOT / "bench" / ".work"
SAELENS_VENV = WORK / "saelens-venv"
sys.path.insert(0, str(HERE))

from steps import flops_per_token, median_ratio, synthetic_activations  # noqa: E402

# Dense bf16 / TF32 tensor-core peaks (datasheet, no 2:4 sparsity), as in sae_pii.md §5.
PEAK_TFLOPS = {"H100": {"bf16": 989.5, "fp32": 494.5}, "H200": {"bf16": 989.5, "fp32": 494.5},
               "A100": {"bf16": 312.0, "fp32": 156.0}, "B200": {"bf16": 2250.0, "fp32": 1100.0}}


def log(msg: str) -> None:
    print(f"[sae-throughput] {msg}", file=sys.stderr)


def machine_info(device: torch.device) -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def machine_slug(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).lower().replace("nvidia", "").strip().replace(" ", "-")
    return f"cpu-{os.cpu_count()}core"


def peak_for(device: torch.device, dtype: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_TFLOPS.items():
        if key in name:
            return peaks[dtype]
    return None


def ensure_saelens_venv() -> Path | None:
    """The sae-lens venv (created on first use). It sees our site-packages through a .pth file, and a
    constraints file pins torch==2.13.0 so pip never replaces (and never downloads) torch."""
    py = SAELENS_VENV / "bin" / "python"
    if not py.exists():
        log(f"creating {SAELENS_VENV}")
        venv.EnvBuilder(with_pip=True).create(SAELENS_VENV)
        site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True, timeout=120).stdout.strip()
        Path(site, "kiln-base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if subprocess.run([str(py), "-c", "import sae_lens"], capture_output=True, timeout=300).returncode != 0:
        constraints = WORK / "constraints.txt"
        constraints.write_text("torch==2.13.0\n")
        log("installing sae-lens (first run only)")
        done = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(constraints), "sae-lens"],
                              capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            log(f"sae-lens could not be installed beside torch==2.13.0:\n{done.stderr[-2000:]}")
            return None
    return py


def run_in_process(py: Path, spec: dict, timeout: float, cpu_runtime: str) -> dict:
    """All contestants in one fresh process of ``py`` (the sae-lens venv, which also sees workload/ for
    kiln_sae; or this interpreter without sae-lens): fresh, so the OpenMP settings apply from torch's import."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "workload")])}
    env.pop("OMP_WAIT_POLICY", None)
    if cpu_runtime == "kiln":
        env["OMP_WAIT_POLICY"] = "PASSIVE"  # as kiln_sae.runtime.passive_openmp_waits; read at torch's import
    proc = subprocess.run([str(py), str(HERE / "steps.py"), "interleave", fh.name], capture_output=True, text=True,
                          timeout=timeout, env=env)
    os.unlink(fh.name)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--n", type=int, default=3072)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the ratio is their median)")
    p.add_argument("--steps", type=int, default=4, help="timed steps per contestant per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--tokens", type=int, default=131_072, help="activations held in memory")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--threads", type=int, default=0, help="torch threads for every contestant (0: torch's default)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--cpu-runtime", default="kiln", choices=("kiln", "default"),
                   help="process settings for every contestant: kiln = what python -m kiln_sae sets (passive OpenMP "
                        "waits, freed heap kept), default = the libraries' defaults")
    p.add_argument("--skip-saelens", action="store_true")
    p.add_argument("--skip-before", action="store_true", help="omit Kiln's previous (unfused) step")
    p.add_argument("--out", help="JSON path (default bench/results/sae_throughput-<machine>.json)")
    args = p.parse_args()

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    on_gpu = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    log(f"{machine_slug(device)}: d={args.d} n={args.n} k={args.k} batch={args.batch} "
        f"rounds={args.rounds}x{args.steps} steps")
    acts = synthetic_activations(args.tokens, args.d, seed=0)
    val = synthetic_activations(8192, args.d, seed=1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "acts.pt"
        torch.save({"train": acts, "val": val}, data_path)
        spec = {"acts_path": str(data_path), "device": str(device), "n": args.n, "k": args.k, "batch": args.batch,
                "lr": args.lr, "rounds": args.rounds, "steps_per_round": args.steps, "warmup": args.warmup,
                "threads": args.threads or torch.get_num_threads(), "tf32": on_gpu,
                "mixed_precision": "auto", "autocast": on_gpu, "before": not args.skip_before,
                "saelens": not args.skip_saelens, "retain_freed_heap": args.cpu_runtime == "kiln"}
        py = None if args.skip_saelens else ensure_saelens_venv()
        if py is None:
            if not args.skip_saelens:
                log("sae-lens unavailable: timing Kiln alone")
            spec["saelens"] = False
        run = run_in_process(py or Path(sys.executable), spec, timeout=3600, cpu_runtime=args.cpu_runtime)
    if "error" in run:
        log(f"timing failed: {run['error'][-1500:]}")
        return 1
    res = run["contestants"]
    kiln = res["kiln"]
    fpt = flops_per_token(args.d, args.n, args.k)
    kiln["achieved_tflops"] = kiln["tokens_per_s"] * fpt / 1e12
    peak = peak_for(device, "bf16" if on_gpu else "fp32")
    kiln["mfu"] = kiln["achieved_tflops"] / peak if peak else None
    for name, c in res.items():
        log(f"{name}: {c['tokens_per_s']:,.0f} tok/s (rounds {c['tokens_per_s_per_round']}), "
            f"val FVU {c['val_fvu']:.3f}")
    ratio = median_ratio(res, "kiln", "sae_lens")
    speedup = median_ratio(res, "kiln", "kiln_unfused")
    info = machine_info(device)
    info["torch_threads"] = run["torch_threads"]
    info["cpu_runtime"] = {"settings": args.cpu_runtime, "omp_wait_policy": run["omp_wait_policy"],
                           "freed_heap_retained": run["freed_heap_retained"]}
    info["loadavg_1_5_15_before"] = [round(v, 2) for v in load_before]
    info["loadavg_1_5_15_after"] = [round(v, 2) for v in os.getloadavg()]
    result = {"benchmark": "sae_throughput", "machine": info,
              "shape": {"d": args.d, "n": args.n, "k": args.k, "batch_tokens": args.batch},
              "flops_per_token_2dn_10kd": fpt, "dtype_policy": "bf16 autocast" if on_gpu else "fp32",
              "method": (f"one process, {args.rounds} rounds x {args.steps} steps per contestant, order rotated "
                         "each round after warm-up; ratios are the median of per-round ratios"),
              "kiln": kiln, "kiln_before": res.get("kiln_unfused"), "sae_lens": res.get("sae_lens"),
              "kiln_over_saelens": ratio, "kiln_over_kiln_before": speedup,
              "note": ("val FVU after only warmup+steps updates from each library's own init: a sanity check "
                       "that every step learns, not a converged-quality comparison")}
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"sae_throughput-{machine_slug(device)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"kiln {kiln['tokens_per_s']:,.0f} tok/s"
          + (f" vs sae-lens {res['sae_lens']['tokens_per_s']:,.0f} tok/s = {ratio:.2f}x (median of rounds)"
             if ratio else "")
          + (f"; {speedup:.2f}x Kiln's previous step" if speedup else "")
          + (f"; MFU {kiln['mfu']:.1%}" if kiln["mfu"] else "") + f"  -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
