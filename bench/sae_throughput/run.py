"""SAE training-step throughput: Kiln vs sae-lens, same machine, same activations, same d/n/k/dtype policy.

    .venv/bin/python bench/sae_throughput/run.py [--d 384 --n 3072 --k 32 --batch 4096 --steps 20]

Dtype policy (both): bf16 autocast on CUDA (sae-lens ``autocast=True``; Kiln ``mixed_precision: auto``),
plain fp32 on CPU (autocast off for both). sae-lens runs its ``TopKTrainingSAE`` with library defaults
(``rescale_acts_by_decoder_norm=True``, ``apply_b_dec_to_input=True``, dense decode) inside a separate venv
``bench/.work/saelens-venv`` that reuses our torch==2.13.0. Prints the ratio and Kiln's share of the
2·d·n + 10·k·d FLOP count; writes bench/results/sae_throughput-<machine>.json.
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

from steps import flops_per_token, synthetic_activations, time_kiln  # noqa: E402

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


def run_saelens(py: Path, data_path: Path, spec: dict, timeout: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({**spec, "acts_path": str(data_path)}, fh)
    proc = subprocess.run([str(py), str(HERE / "steps.py"), "saelens", fh.name], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(HERE)})
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
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--tokens", type=int, default=131_072, help="activations held in memory")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--skip-saelens", action="store_true")
    p.add_argument("--out", help="JSON path (default bench/results/sae_throughput-<machine>.json)")
    args = p.parse_args()

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    on_gpu = device.type == "cuda"
    log(f"{machine_slug(device)}: d={args.d} n={args.n} k={args.k} batch={args.batch} steps={args.steps}")
    acts = synthetic_activations(args.tokens, args.d, seed=0)
    val = synthetic_activations(8192, args.d, seed=1)
    common = {"n": args.n, "k": args.k, "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
              "lr": args.lr}
    kiln = time_kiln(acts, val, device=device, mixed_precision="auto", **common)
    fpt = flops_per_token(args.d, args.n, args.k)
    kiln["achieved_tflops"] = kiln["tokens_per_s"] * fpt / 1e12
    peak = peak_for(device, "bf16" if on_gpu else "fp32")
    kiln["mfu"] = kiln["achieved_tflops"] / peak if peak else None
    log(f"kiln: {kiln['tokens_per_s']:,.0f} tok/s, {kiln['achieved_tflops']:.3f} TFLOP/s of 2dn+10kd, "
        f"val FVU {kiln['val_fvu']:.3f}")

    saelens: dict | None = None
    if not args.skip_saelens:
        py = ensure_saelens_venv()
        if py is None:
            saelens = {"error": "sae-lens could not be installed beside torch==2.13.0 (see log above)"}
        else:
            with tempfile.TemporaryDirectory() as tmp:
                data_path = Path(tmp) / "acts.pt"
                torch.save({"train": acts, "val": val}, data_path)
                saelens = run_saelens(py, data_path, {**common, "device": str(device), "autocast": on_gpu,
                                                      "tf32": on_gpu}, timeout=1800)
        if "tokens_per_s" in saelens:
            log(f"sae-lens {saelens['sae_lens_version']}: {saelens['tokens_per_s']:,.0f} tok/s, "
                f"val FVU {saelens['val_fvu']:.3f}")
        else:
            log(f"sae-lens failed: {saelens.get('error', '')[-500:]}")

    ratio = kiln["tokens_per_s"] / saelens["tokens_per_s"] if saelens and "tokens_per_s" in saelens else None
    result = {"benchmark": "sae_throughput", "machine": machine_info(device),
              "shape": {"d": args.d, "n": args.n, "k": args.k, "batch_tokens": args.batch},
              "flops_per_token_2dn_10kd": fpt, "dtype_policy": "bf16 autocast" if on_gpu else "fp32",
              "kiln": kiln, "sae_lens": saelens, "kiln_over_saelens": ratio,
              "note": ("val FVU after only warmup+steps updates from each library's own init: a sanity check "
                       "that both steps learn, not a converged-quality comparison")}
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"sae_throughput-{machine_slug(device)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"kiln {kiln['tokens_per_s']:,.0f} tok/s"
          + (f" vs sae-lens {saelens['tokens_per_s']:,.0f} tok/s = {ratio:.2f}x" if ratio else "")
          + (f"; MFU {kiln['mfu']:.1%}" if kiln["mfu"] else "") + f"  -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
