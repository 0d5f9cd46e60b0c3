"""One optimiser step and one validation pass. The orchestration (resume, logging, checkpoints) is in
trainer.py; these functions only do the arithmetic so they are easy to read and to benchmark."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kiln_sae.batches import ActivationSource
from kiln_sae.distributed import DistContext, all_reduce_, all_reduce_grads_
from kiln_sae.optim import normalize_grad_, set_lr
from kiln_sae.sae import SparseAutoencoder

# Order of the per-step statistics vector (all-reduced as one tensor under DDP).
STAT_NAMES = ("loss", "mse", "fvu", "l0", "l1")


@dataclass
class StepResult:
    stats: torch.Tensor  # [len(STAT_NAMES)] averaged over micro-batches (and ranks)
    fired: torch.Tensor  # [n] bool


def train_step(sae: SparseAutoencoder, optimizer: torch.optim.Optimizer, micro_batches: list[torch.Tensor],
               source: ActivationSource, *, act_scale: float, dead_mask: torch.Tensor | None, lr: float,
               grad_clip: float, device: torch.device, ctx: DistContext) -> StepResult:
    optimizer.zero_grad(set_to_none=True)
    stats = torch.zeros(len(STAT_NAMES), device=device)
    fired = torch.zeros(sae.n_latents, dtype=torch.bool, device=device)
    for rows in micro_batches:
        x = source.read(rows).to(device=device, dtype=torch.float32, non_blocking=True) * act_scale
        out = sae(x, dead_mask)
        (out.loss / len(micro_batches)).backward()
        l1 = out.l1 if out.l1 is not None else torch.zeros((), device=device)
        stats += torch.stack([out.loss, out.mse, out.fvu, out.l0, l1]).detach() / len(micro_batches)
        fired |= out.fired
    params = [p for p in sae.parameters() if p.requires_grad]
    if ctx.active:
        all_reduce_grads_(params, ctx)
        all_reduce_(stats, ctx).div_(ctx.world_size)
        fired = all_reduce_(fired.to(torch.uint8), ctx, "max").bool()
    sae.remove_parallel_grad_()
    if sae.k is not None:
        normalize_grad_(params)  # TopK: Adam on the unit-norm gradient (optim.py says why)
    if grad_clip > 0 and (sae.k is None or grad_clip < 1.0):  # a unit-norm gradient is never clipped at >= 1
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    set_lr(optimizer, lr)
    optimizer.step()
    sae.set_decoder_norm_()
    return StepResult(stats=stats, fired=fired)


@torch.no_grad()
def validation_pass(sae: SparseAutoencoder, source: ActivationSource, *, act_scale: float, batch_size: int,
                    device: torch.device, ctx: DistContext, rank_local: bool = False) -> dict[str, float]:
    """Metrics over the whole validation set (each rank takes a contiguous share — or, with ``rank_local``
    data, all of its own rows; sums are all-reduced).

    explained_variance = 1 − Σ‖x−x̂‖² / Σ‖x−x̄‖² with x̄ the mean over the whole set; ``loss`` is the training
    objective without AuxK; ``dead_fraction`` = latents that never fired on the validation set."""
    n = source.num_tokens
    lo, hi = (0, n) if rank_local else (n * ctx.rank // ctx.world_size, n * (ctx.rank + 1) // ctx.world_size)
    sums = torch.zeros(6, dtype=torch.float64, device=device)  # sq_err, Σx², count, l0, l1, per-token sq
    sum_x = torch.zeros(source.d, dtype=torch.float64, device=device)
    fired = torch.zeros(sae.n_latents, dtype=torch.bool, device=device)
    for start in range(lo, hi, batch_size):
        rows = torch.arange(start, min(start + batch_size, hi))
        x = source.read(rows).to(device=device, dtype=torch.float32) * act_scale
        out = sae(x)
        err = (out.recon - x).double().pow(2).sum()
        l1 = out.l1 if out.l1 is not None else torch.zeros((), device=device)
        sums += torch.stack([err, x.double().pow(2).sum(), torch.tensor(float(len(rows)), device=device,
                             dtype=torch.float64), out.l0.double() * len(rows), l1.double() * len(rows), err])
        sum_x += x.double().sum(0)
        fired |= out.fired
    all_reduce_(sums, ctx)
    all_reduce_(sum_x, ctx)
    fired = all_reduce_(fired.to(torch.uint8), ctx, "max").bool()
    sq, sq_x, count, l0, l1 = (float(v) for v in sums[:5])
    count = max(count, 1.0)
    total_var = max(sq_x - float(sum_x.pow(2).sum()) / count, 1e-12)
    fvu = sq / total_var
    loss = fvu if sae.k is not None else sq / count + sae.l1_coefficient * l1 / count
    return {"loss": loss, "mse": sq / (count * source.d), "l0": l0 / count, "explained_variance": 1.0 - fvu,
            "dead_fraction": 1.0 - float(fired.float().mean()), "l1": l1 / count if sae.k is None else None}
