"""The two timed SAE training steps, on the same activations: Kiln's and sae-lens's.

``time_kiln`` runs in our venv. ``time_saelens`` runs inside the sae-lens venv (``python steps.py saelens
ARGS.json``), because sae-lens and its dependencies live there, not in the package's own environment.
Both use activations already in device memory, Adam(0.9, 0.999), grad-clip 1.0, no dead latents (no AuxK):
the steady-state step. FLOP count per token for the sparse TopK step: 2·d·n + 10·k·d (sae_pii.md §5).
"""
from __future__ import annotations

import json
import sys
import time

import torch


def flops_per_token(d: int, n: int, k: int) -> int:
    return 2 * d * n + 10 * k * d


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_activations(tokens: int, d: int, seed: int = 0, device: str | torch.device = "cpu") -> torch.Tensor:
    """Sparse non-negative codes over 4·d random unit features, plus noise: structured enough that
    reconstruction quality means something, and identical for both libraries. Built on ``device``."""
    g = torch.Generator(device=device).manual_seed(seed)
    n_feats = 4 * d
    feats = torch.nn.functional.normalize(torch.randn(n_feats, d, generator=g, device=device), dim=1)
    out = torch.empty(tokens, d, device=device)
    for s in range(0, tokens, 8192):
        e = min(s + 8192, tokens)
        active = torch.rand(e - s, n_feats, generator=g, device=device) < 16 / n_feats
        codes = active.float() * torch.rand(e - s, n_feats, generator=g, device=device)
        out[s:e] = codes @ feats + 0.05 * torch.randn(e - s, d, generator=g, device=device)
    return out * (d ** 0.5) / out.norm(dim=1).mean()  # mean norm √d, as Kiln normalises


def _fvu(recon: torch.Tensor, x: torch.Tensor) -> float:
    return float((recon.float() - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def time_kiln(acts: torch.Tensor, val: torch.Tensor, *, n: int, k: int, batch: int, steps: int, warmup: int,
              device: torch.device, mixed_precision: str, lr: float, compile: bool = False) -> dict:
    from kiln_sae.batches import TensorSource
    from kiln_sae.device import compute_dtype_for
    from kiln_sae.distributed import DistContext
    from kiln_sae.loop import train_step
    from kiln_sae.optim import make_optimizer
    from kiln_sae.sae import SparseAutoencoder

    d = acts.shape[1]
    sae = SparseAutoencoder(d, n, k=k, compute_dtype=compute_dtype_for(mixed_precision, device),
                            generator=torch.Generator().manual_seed(0)).to(device)
    sae.init_b_dec_(acts[:4096].to(device))
    if compile:
        sae.compile()
    opt = make_optimizer(list(sae.parameters()), lr, device)
    src = TensorSource(acts.to(device))
    n_rows = acts.shape[0]
    ctx = DistContext()

    def run(count: int, offset: int) -> None:
        for i in range(count):
            start = ((offset + i) * batch) % (n_rows - batch + 1)
            rows = torch.arange(start, start + batch, device=device)
            train_step(sae, opt, [rows], src, act_scale=1.0, dead_mask=None, lr=lr, grad_clip=1.0, device=device,
                       ctx=ctx)

    run(warmup, 0)
    _sync(device)
    t0 = time.perf_counter()
    run(steps, warmup)
    _sync(device)
    elapsed = time.perf_counter() - t0
    with torch.no_grad():
        fvu = _fvu(sae(val.to(device)).recon, val.to(device))
    return {"tokens_per_s": steps * batch / elapsed, "seconds": elapsed, "steps": steps, "val_fvu": fvu,
            "compute_dtype": str(sae.compute_dtype or torch.float32), "peak_mem_gb": _peak(device)}


def _peak(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 1e9, 3) if device.type == "cuda" else None


def time_saelens(acts: torch.Tensor, val: torch.Tensor, *, n: int, k: int, batch: int, steps: int, warmup: int,
                 device: torch.device, autocast: bool, lr: float, sparse: bool = False) -> dict:
    """Mirrors sae_lens.training.sae_trainer.SAETrainer._train_step (autocast, forward, firing stats,
    backward, clip 1.0, Adam step) for TopKTrainingSAE."""
    import contextlib

    import sae_lens
    from sae_lens.saes.sae import TrainStepInput
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

    d = acts.shape[1]
    torch.manual_seed(0)
    cfg = TopKTrainingSAEConfig(d_in=d, d_sae=n, k=k, dtype="float32", device=str(device),
                                use_sparse_activations=sparse)
    sae = TopKTrainingSAE(cfg)
    opt = torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999))
    acts = acts.to(device)
    dead = torch.zeros(n, dtype=torch.bool, device=device)
    since_fired = torch.zeros(n, device=device)
    amp = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    n_rows = acts.shape[0]

    def run(count: int, offset: int) -> None:
        for i in range(count):
            start = ((offset + i) * batch) % (n_rows - batch + 1)
            sae.train()
            with amp:
                out = sae.training_forward_pass(TrainStepInput(sae_in=acts[start:start + batch], coefficients={},
                                                               dead_neuron_mask=dead, n_training_steps=offset + i,
                                                               is_logging_step=False))
                with torch.no_grad():
                    did_fire = out.feature_acts.bool().float().sum(-2).bool()
                    if did_fire.is_sparse:
                        did_fire = did_fire.to_dense()
                    since_fired.add_(1)
                    since_fired[did_fire] = 0
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
            opt.step()
            opt.zero_grad()

    run(warmup, 0)
    _sync(device)
    t0 = time.perf_counter()
    run(steps, warmup)
    _sync(device)
    elapsed = time.perf_counter() - t0
    with torch.no_grad():
        fvu = _fvu(sae(val.to(device)), val.to(device))
    return {"tokens_per_s": steps * batch / elapsed, "seconds": elapsed, "steps": steps, "val_fvu": fvu,
            "sae_lens_version": sae_lens.__version__, "peak_mem_gb": _peak(device),
            "flags": {"autocast": autocast, "dtype": "float32", "use_sparse_activations": sparse,
                      "rescale_acts_by_decoder_norm": cfg.rescale_acts_by_decoder_norm,
                      "apply_b_dec_to_input": cfg.apply_b_dec_to_input}}


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "saelens":
    spec = json.loads(open(sys.argv[2]).read())
    data = torch.load(spec.pop("acts_path"))
    dev = torch.device(spec.pop("device"))
    if spec.pop("tf32", False) and dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    print(json.dumps(time_saelens(data["train"], data["val"], device=dev, **spec)))
