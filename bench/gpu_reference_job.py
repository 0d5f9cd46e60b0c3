"""What Kiln's reference job costs on one big GPU (built for an H200; finishes in well under 8 minutes).

    .venv/bin/python bench/gpu_reference_job.py            # on the GPU machine
    .venv/bin/python bench/gpu_reference_job.py --small    # CPU smoke test at tiny shapes (numbers meaningless)

1. Activation extraction: a random-weight model with Llama-3.1-8B's shape (d=4096, GQA 32/8 heads, MLP 14336,
   vocab 128256), only 13 blocks (the forward stops after layer 12, as Kiln's truncated model does), bf16.
2. SAE training step: d=4096, n=32768, k=64, 4096 tokens per step, bf16 compute with fp32 master weights;
   tokens/s and MFU against the 2·d·n + 10·k·d FLOP count at the GPU's dense bf16 peak.
3. The same step in sae-lens (TopKTrainingSAE, autocast bf16) when ``sae_lens`` is importable.
4. Projection for the reference job — 40M tokens extracted once (cached), 10 SAE epochs = 400M SAE tokens —
   in wall time and dollars at Lambda's H100 price.
5. Quality at equal tokens and time to a target EV (bench/sae_quality's method, on the GPU): Kiln's defaults
   (``learning_rate: auto``, bf16) and sae-lens's defaults (lr 3e-4, fp32: autocast is off by default) train
   on the same planted-feature activations at d=4096, n=32768, k=64 for the same tokens, scored by one script
   on the same held-out rows; the speed that counts is the time to sae-lens's final EV, beside tokens/s.
JSON goes to bench/results/gpu_reference_job-<gpu>.json (``--small``: bench/.work/, never committed as GPU data).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "sae_throughput"))
sys.path.insert(1, str(ROOT / "bench" / "sae_quality"))

from run import machine_info, machine_slug, peak_for  # noqa: E402
from steps import flops_per_token, synthetic_activations, time_kiln, time_saelens  # noqa: E402

# Lambda lists gpu_8x_h100_sxm5 at 2392 cents/hour (providers.md §1.3): $2.99 per H100-hour.
LAMBDA_H100_USD_PER_GPU_HOUR = 23.92 / 8
REFERENCE_TOKENS, REFERENCE_EPOCHS = 40_000_000, 10

FULL = {"d": 4096, "mlp": 14336, "heads": 32, "kv_heads": 8, "vocab": 128256, "blocks": 13, "context": 256,
        "seqs": 64, "n": 32768, "k": 64, "batch": 4096, "sae_tokens": 262_144, "steps": 60, "warmup": 5,
        # Quality: 1M distinct planted-feature rows (16.8 GB fp32 on the GPU), 4M tokens = 977 steps: sae-lens's
        # dense fp32 step (~1.6 GFLOP/token) keeps this under ~3 minutes even without tensor cores.
        "quality_rows": 1_048_576, "quality_tokens": 4_000_000, "quality_heldout": 65_536}
SMALL = {"d": 64, "mlp": 128, "heads": 4, "kv_heads": 2, "vocab": 1000, "blocks": 13, "context": 32, "seqs": 8,
         "n": 512, "k": 8, "batch": 256, "sae_tokens": 4096, "steps": 5, "warmup": 1,
         "quality_rows": 16_384, "quality_tokens": 32_768, "quality_heldout": 4096}


def log(msg: str) -> None:
    print(f"[gpu-reference] {msg}", file=sys.stderr, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_extraction(s: dict, device: torch.device, dtype: torch.dtype, iters: int) -> dict:
    from transformers import LlamaConfig, LlamaModel

    cfg = LlamaConfig(hidden_size=s["d"], intermediate_size=s["mlp"], num_attention_heads=s["heads"],
                      num_key_value_heads=s["kv_heads"], vocab_size=s["vocab"], num_hidden_layers=s["blocks"],
                      max_position_embeddings=8192, rope_theta=500000.0)
    t0 = time.perf_counter()
    with torch.device(device):
        torch.manual_seed(0)
        model = LlamaModel(cfg).to(dtype).eval()
    sync(device)
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, s["vocab"], (s["seqs"], s["context"]), device=device)
    tokens = ids.numel()

    captured: list[torch.Tensor] = []
    # The residual stream leaving block 12 (the last of the 13), before the final norm Kiln never runs.
    model.layers[-1].register_forward_hook(
        lambda _m, _i, out: captured.append(out[0] if isinstance(out, tuple) else out))

    def forward() -> torch.Tensor:
        captured.clear()
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)
        return captured[-1]

    acts = forward()  # warm-up (kernels, allocator)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        acts = forward()
    sync(device)
    elapsed = time.perf_counter() - t0
    result = {"tokens_per_s": iters * tokens / elapsed, "tokens_per_forward": tokens, "iters": iters,
              "model_params": params, "build_s": round(build_s, 2), "act_shape": list(acts.shape),
              "dtype": str(dtype), "peak_mem_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2)
              if device.type == "cuda" else None}
    del model, acts
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def measure_quality(s: dict, device: torch.device) -> dict:
    """Kiln's defaults vs sae-lens's defaults at equal tokens, one held-out scorer, time to sae-lens's final EV."""
    from kiln_side import train_kiln
    from synthetic import planted_features
    from targets import time_to, tokens_to

    train = planted_features(s["quality_rows"], s["d"], seed=1, device=device)
    heldout = planted_features(s["quality_heldout"], s["d"], seed=2, device=device)
    common = {"n": s["n"], "k": s["k"], "tokens": s["quality_tokens"], "batch_size": s["batch"], "curve_points": 16,
              "device": str(device)}
    kiln = train_kiln(train, heldout, **common)
    log(f"quality: Kiln defaults EV {kiln['heldout']['explained_variance']:.4f} ({kiln['learning_rate_reason']})")
    out: dict = {"data": f"planted features (bench/sae_quality/synthetic.py), {s['quality_rows']:,} rows",
                 "kiln_defaults": kiln}
    if importlib.util.find_spec("sae_lens") is None:
        out["sae_lens"] = {"skipped": "sae_lens is not importable here"}
        return out
    from saelens_side import train_saelens

    sl = train_saelens(train, heldout, **common)
    log(f"quality: sae-lens defaults EV {sl['heldout']['explained_variance']:.4f}")
    target = sl["curve"][-1]["explained_variance"]
    tk, ts = time_to(kiln["curve"], target), time_to(sl["curve"], target)
    out.update({"saelens_defaults": sl, "target_ev_curve": target,
                "kiln_tokens_to_target": tokens_to(kiln["curve"], target),
                "saelens_tokens_to_target": tokens_to(sl["curve"], target),
                "time_to_target": {"kiln_s": tk, "saelens_s": ts, "saelens_over_kiln": ts / tk if tk and ts else None},
                "tokens_per_s_ratio": kiln["tokens_per_s"] / sl["tokens_per_s"]})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", action="store_true", help="tiny shapes on CPU (a smoke test of this script)")
    p.add_argument("--out", help="JSON path")
    args = p.parse_args()
    s = SMALL if args.small else FULL
    device = torch.device("cpu" if args.small or not torch.cuda.is_available() else "cuda")
    if device.type == "cpu" and not args.small:
        log("no CUDA device: use --small for a CPU smoke test")
        return 2
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    dtype = torch.bfloat16
    started = time.perf_counter()

    log("activation extraction (random Llama-3.1-8B shape, 13 blocks)")
    extraction = measure_extraction(s, device, dtype, iters=3 if args.small else 10)
    log(f"extraction: {extraction['tokens_per_s']:,.0f} tok/s")

    log(f"SAE d={s['d']} n={s['n']} k={s['k']}")
    acts = synthetic_activations(s["sae_tokens"], s["d"], seed=0, device=device)
    val = synthetic_activations(4096, s["d"], seed=1, device=device)
    common = {"n": s["n"], "k": s["k"], "batch": s["batch"], "steps": s["steps"], "warmup": s["warmup"],
              "lr": 2e-4 / (s["n"] / 2**14) ** 0.5}
    kiln = time_kiln(acts, val, device=device, mixed_precision="bf16", **common)
    fpt = flops_per_token(s["d"], s["n"], s["k"])
    kiln["achieved_tflops"] = kiln["tokens_per_s"] * fpt / 1e12
    peak = peak_for(device, "bf16")
    kiln["mfu"] = kiln["achieved_tflops"] / peak if peak else None
    log(f"kiln SAE: {kiln['tokens_per_s']:,.0f} tok/s, {kiln['achieved_tflops']:.1f} TFLOP/s")

    saelens: dict = {"skipped": "sae_lens is not importable here"}
    if importlib.util.find_spec("sae_lens") is not None:
        try:
            saelens = time_saelens(acts, val, device=device, autocast=True, **common)
            log(f"sae-lens SAE: {saelens['tokens_per_s']:,.0f} tok/s")
        except Exception as e:  # noqa: BLE001 - report, keep Kiln's numbers
            saelens = {"error": f"{type(e).__name__}: {e}"}

    log(f"quality at equal tokens: {s['quality_tokens']:,} tokens")
    try:
        quality = measure_quality(s, device)
    except Exception as e:  # noqa: BLE001 - report, keep the throughput numbers
        quality = {"error": f"{type(e).__name__}: {e}"}
    if device.type == "cuda":
        torch.cuda.empty_cache()

    sae_tokens = REFERENCE_TOKENS * REFERENCE_EPOCHS
    extract_s = REFERENCE_TOKENS / extraction["tokens_per_s"]
    train_s = sae_tokens / kiln["tokens_per_s"]
    hours = (extract_s + train_s) / 3600
    projection = {"tokens": REFERENCE_TOKENS, "epochs": REFERENCE_EPOCHS, "extract_s": round(extract_s, 1),
                  "sae_train_s": round(train_s, 1), "total_min": round(hours * 60, 2),
                  "usd_at_lambda_h100": round(hours * LAMBDA_H100_USD_PER_GPU_HOUR, 3),
                  "price_usd_per_gpu_hour": round(LAMBDA_H100_USD_PER_GPU_HOUR, 3),
                  "assumes": "this GPU's measured rates; activations cached once, read from memory for 10 epochs; "
                             "excludes model download, data reading and machine start-up"}
    if "tokens_per_s" in saelens:
        projection["saelens_sae_train_s"] = round(sae_tokens / saelens["tokens_per_s"], 1)
    result = {"benchmark": "gpu_reference_job", "small": args.small, "machine": machine_info(device), "shapes": s,
              "extraction": extraction, "sae_flops_per_token_2dn_10kd": fpt, "kiln_sae": kiln, "sae_lens": saelens,
              "kiln_over_saelens": kiln["tokens_per_s"] / saelens["tokens_per_s"] if "tokens_per_s" in saelens
              else None, "quality": quality, "projection": projection, "wall_s": round(time.perf_counter() - started, 1)}
    default = (ROOT / "bench" / ".work" / "gpu_reference_job-small.json" if args.small
               else ROOT / "bench" / "results" / f"gpu_reference_job-{machine_slug(device)}.json")
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"extraction {extraction['tokens_per_s']:,.0f} tok/s; SAE {kiln['tokens_per_s']:,.0f} tok/s"
          + (f" (MFU {kiln['mfu']:.1%})" if kiln["mfu"] else "")
          + f"; reference job {projection['total_min']} min, ${projection['usd_at_lambda_h100']}  -> {out}")
    tt = quality.get("time_to_target") if isinstance(quality, dict) else None
    if tt:
        kd, sd = quality["kiln_defaults"]["heldout"], quality["saelens_defaults"]["heldout"]
        print(f"quality at {s['quality_tokens']:,} tokens: Kiln EV {kd['explained_variance']:.4f} dead "
              f"{kd['dead_fraction']:.1%}, sae-lens EV {sd['explained_variance']:.4f} dead {sd['dead_fraction']:.1%}; "
              "time to sae-lens's final EV: "
              + (f"{tt['saelens_over_kiln']:.1f}x faster" if tt["saelens_over_kiln"] else "Kiln never reached it"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
