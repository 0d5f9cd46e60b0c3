"""The timed SAE training steps, on the same activations: Kiln's, Kiln's previous (unfused) step, and sae-lens's.

Each library is a *contestant*: a ``step(i)`` closure plus a final validation FVU. ``interleave`` times them
in rounds inside one process (A, B, C, then B, C, A, ...), so a machine shared with other jobs slows every
contestant alike and the per-round ratios stay meaningful; the reported ratio is the median over rounds.

When sae-lens is wanted, this file runs inside the sae-lens venv (``python steps.py interleave SPEC.json``),
which also sees our site-packages and ``workload/`` (run.py sets PYTHONPATH), so all contestants share one
process and one torch thread pool. All use activations already in device memory, Adam(0.9, 0.999),
grad-clip 1.0, no dead latents (no AuxK): the steady-state step. FLOP count per token for the sparse TopK
step: 2·d·n + 10·k·d (sae_pii.md §5).
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

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


@dataclass
class Contestant:
    name: str
    step: Callable[[int], None]  # one optimiser step on batch number i
    val_fvu: Callable[[], float]
    info: dict = field(default_factory=dict)


def _batch_start(i: int, batch: int, n_rows: int) -> int:
    return (i * batch) % (n_rows - batch + 1)


def kiln_contestant(acts: torch.Tensor, val: torch.Tensor, *, n: int, k: int, batch: int, device: torch.device,
                    mixed_precision: str, lr: float, compile: bool = False, unfused: bool = False) -> Contestant:
    """Kiln's train_step. ``unfused`` = the engine's step before the fused TopK Function and fused Adam
    (EncodeAt + SparseDecode chained by autograd, foreach Adam), kept to measure before/after in one run."""
    from kiln_sae.batches import TensorSource
    from kiln_sae.device import compute_dtype_for
    from kiln_sae.distributed import DistContext
    from kiln_sae.loop import train_step
    from kiln_sae.optim import ADAM_BETAS, ADAM_EPS, make_optimizer
    from kiln_sae.sae import SparseAutoencoder

    cls = _UnfusedSae() if unfused else SparseAutoencoder
    d = acts.shape[1]
    sae = cls(d, n, k=k, compute_dtype=compute_dtype_for(mixed_precision, device),
              generator=torch.Generator().manual_seed(0)).to(device)
    sae.init_b_dec_(acts[:4096].to(device))
    if compile:
        sae.compile()
    if unfused:
        opt = torch.optim.Adam(list(sae.parameters()), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    else:
        opt = make_optimizer(list(sae.parameters()), lr, device)
    src = TensorSource(acts.to(device))
    ctx = DistContext()

    def step(i: int) -> None:
        start = _batch_start(i, batch, acts.shape[0])
        rows = torch.arange(start, start + batch, device=device)
        train_step(sae, opt, [rows], src, act_scale=1.0, dead_mask=None, lr=lr, grad_clip=1.0, device=device,
                   ctx=ctx)

    def val_fvu() -> float:
        with torch.no_grad():
            return _fvu(sae(val.to(device)).recon, val.to(device))

    return Contestant("kiln_unfused" if unfused else "kiln", step, val_fvu,
                      {"compute_dtype": str(sae.compute_dtype or torch.float32),
                       "optimizer": "Adam foreach" if unfused else "Adam fused"})


def _UnfusedSae():  # noqa: N802 - a class factory, so kiln_sae is imported only when used
    from kiln_sae.sae import SaeOutput, SparseAutoencoder
    from kiln_sae.sparse_ops import sparse_decode, topk_encode

    class UnfusedSae(SparseAutoencoder):
        def forward(self, x, dead_mask=None):  # the pre-fusion TopK forward (no AuxK: none dead here)
            x = x.float()
            total_var = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
            values, indices, pre = topk_encode(x - self.b_dec, self.W_enc, self.b_enc, self.k, self.compute_dtype)
            recon = sparse_decode(values, indices, self.W_dec, self.compute_dtype).float() + self.b_dec
            err = recon - x
            sq = err.pow(2).sum()
            _ = (x - recon).detach()  # the old step built the AuxK residual unconditionally
            active = values > 0
            fired = torch.zeros(self.n_latents, device=x.device).index_add_(
                0, indices.reshape(-1), active.reshape(-1).float()) > 0
            zero = torch.zeros((), device=x.device)
            return SaeOutput(recon=recon, values=values, indices=indices, pre_acts=pre, aux_loss=zero,
                             loss=sq / total_var, mse=sq / err.numel(), fvu=sq / total_var,
                             l0=active.sum(-1).float().mean(), l1=None, fired=fired)

    return UnfusedSae


def saelens_contestant(acts: torch.Tensor, val: torch.Tensor, *, n: int, k: int, batch: int, device: torch.device,
                       autocast: bool, lr: float, sparse: bool = False) -> Contestant:
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

    def step(i: int) -> None:
        start = _batch_start(i, batch, acts.shape[0])
        sae.train()
        with amp:
            out = sae.training_forward_pass(TrainStepInput(sae_in=acts[start:start + batch], coefficients={},
                                                           dead_neuron_mask=dead, n_training_steps=i,
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

    def val_fvu() -> float:
        with torch.no_grad():
            return _fvu(sae(val.to(device)), val.to(device))

    return Contestant("sae_lens", step, val_fvu,
                      {"sae_lens_version": sae_lens.__version__, "optimizer": "Adam (torch default: foreach)",
                       "flags": {"autocast": autocast, "dtype": "float32", "use_sparse_activations": sparse,
                                 "rescale_acts_by_decoder_norm": cfg.rescale_acts_by_decoder_norm,
                                 "apply_b_dec_to_input": cfg.apply_b_dec_to_input}})


def _peak(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 1e9, 3) if device.type == "cuda" else None


def interleave(contestants: list[Contestant], *, batch: int, rounds: int, steps_per_round: int, warmup: int,
               device: torch.device) -> dict:
    """Warm each up, then time ``rounds`` rounds of ``steps_per_round`` steps each, rotating the order per
    round. Returns per-contestant totals, per-round tokens/s, and the final validation FVU."""
    for c in contestants:
        for i in range(warmup):
            c.step(i)
    _sync(device)
    per_round: dict[str, list[float]] = {c.name: [] for c in contestants}
    seconds = {c.name: 0.0 for c in contestants}
    for r in range(rounds):
        shift = r % len(contestants)
        for c in contestants[shift:] + contestants[:shift]:
            t0 = time.perf_counter()
            for i in range(steps_per_round):
                c.step(warmup + r * steps_per_round + i)
            _sync(device)
            dt = time.perf_counter() - t0
            seconds[c.name] += dt
            per_round[c.name].append(steps_per_round * batch / dt)
    steps = rounds * steps_per_round
    return {c.name: {**c.info, "tokens_per_s": steps * batch / seconds[c.name],
                     "tokens_per_s_per_round": [round(v, 1) for v in per_round[c.name]], "seconds": seconds[c.name],
                     "steps": steps, "val_fvu": c.val_fvu(), "peak_mem_gb": _peak(device)} for c in contestants}


def median_ratio(result: dict, a: str, b: str) -> float | None:
    if a not in result or b not in result:
        return None
    return statistics.median(x / y for x, y in zip(result[a]["tokens_per_s_per_round"],
                                                   result[b]["tokens_per_s_per_round"], strict=True))


def time_kiln(acts: torch.Tensor, val: torch.Tensor, *, n: int, k: int, batch: int, steps: int, warmup: int,
              device: torch.device, mixed_precision: str, lr: float, compile: bool = False) -> dict:
    """Kiln alone (gpu_reference_job.py): one round of ``steps`` steps."""
    c = kiln_contestant(acts, val, n=n, k=k, batch=batch, device=device, mixed_precision=mixed_precision, lr=lr,
                        compile=compile)
    return interleave([c], batch=batch, rounds=1, steps_per_round=steps, warmup=warmup, device=device)["kiln"]


def time_saelens(acts: torch.Tensor, val: torch.Tensor, *, n: int, k: int, batch: int, steps: int, warmup: int,
                 device: torch.device, autocast: bool, lr: float, sparse: bool = False) -> dict:
    """sae-lens alone (gpu_reference_job.py, where sae-lens is importable beside Kiln)."""
    c = saelens_contestant(acts, val, n=n, k=k, batch=batch, device=device, autocast=autocast, lr=lr, sparse=sparse)
    return interleave([c], batch=batch, rounds=1, steps_per_round=steps, warmup=warmup, device=device)["sae_lens"]


def run_interleaved(spec: dict) -> dict:
    """The whole comparison from a JSON-able spec (run.py passes it to the sae-lens venv)."""
    retained = False
    if spec.get("retain_freed_heap"):
        from kiln_sae.runtime import retain_freed_heap

        retained = retain_freed_heap()
    data = torch.load(spec["acts_path"])
    device = torch.device(spec["device"])
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    if spec.get("tf32") and device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    acts, val = data["train"], data["val"]
    shape = {"n": spec["n"], "k": spec["k"], "batch": spec["batch"], "device": device, "lr": spec["lr"]}
    contestants = [kiln_contestant(acts, val, mixed_precision=spec["mixed_precision"], **shape)]
    if spec.get("before"):
        contestants.append(kiln_contestant(acts, val, mixed_precision=spec["mixed_precision"], unfused=True,
                                           **shape))
    if spec.get("saelens"):
        contestants.append(saelens_contestant(acts, val, autocast=spec["autocast"], **shape))
    result = interleave(contestants, batch=spec["batch"], rounds=spec["rounds"],
                        steps_per_round=spec["steps_per_round"], warmup=spec["warmup"], device=device)
    return {"contestants": result, "torch_threads": torch.get_num_threads(), "freed_heap_retained": retained,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "interleave":
    print(json.dumps(run_interleaved(json.loads(open(sys.argv[2]).read()))))
