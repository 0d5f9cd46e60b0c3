"""Data-parallel training over torch.distributed (``torchrun --nproc-per-node N``): NCCL on GPUs, gloo on CPU.

Every rank holds the full SAE; each optimiser step's global batch (a function of seed, epoch and step only)
is split by rank, gradients are averaged with one all-reduce, and rank 0 alone writes metrics and
checkpoints. Because the global batch does not depend on the world size, a checkpoint resumes under any
world size. (We all-reduce explicitly instead of wrapping in ``DistributedDataParallel`` because the
decoder-gradient projection must run on the averaged gradient, after the reduction.)
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(timeout_s: float = 600.0) -> DistContext:
    """Join the process group torchrun describes in the environment; a plain process is world size 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return DistContext(rank=rank, world_size=world, local_rank=local_rank)


def shutdown(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_grads_(params: list[torch.nn.Parameter], ctx: DistContext) -> None:
    """Average gradients across ranks with one flat all-reduce."""
    if not ctx.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(ctx.world_size)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_(tensor: torch.Tensor, ctx: DistContext, op: str = "sum") -> torch.Tensor:
    if ctx.active:
        dist.all_reduce(tensor, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op])
    return tensor


def broadcast_(tensors: list[torch.Tensor], ctx: DistContext) -> None:
    """Make every rank hold rank 0's values (initial weights, act_scale): ranks may see different data."""
    if ctx.active:
        for t in tensors:
            dist.broadcast(t, src=0)
