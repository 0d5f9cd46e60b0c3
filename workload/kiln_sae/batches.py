"""Data order: which activation rows each optimiser step reads.

The global batch of (epoch, step) is a slice of a permutation seeded from (seed, epoch) only, so a resumed
run (any world size) reads exactly the rows the uninterrupted run would have. Each rank takes every
world_size-th row of the global batch, then splits that share into gradient-accumulation micro-batches.
"""
from __future__ import annotations

from typing import Protocol

import torch

from kiln_sae.rng import epoch_generator


class ActivationSource(Protocol):
    """Random-access activations (H4b's ActivationCache satisfies this)."""

    num_tokens: int
    d: int

    def read(self, idx: torch.Tensor) -> torch.Tensor: ...


class EpochOrder:
    def __init__(self, num_tokens: int, batch_size: int, seed: int) -> None:
        self.num_tokens, self.batch_size, self.seed = num_tokens, batch_size, seed
        self.steps_per_epoch = num_tokens // batch_size  # the ragged tail is dropped, reshuffled next epoch
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def global_batch(self, epoch: int, step_in_epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            self._perm = torch.randperm(self.num_tokens, generator=epoch_generator(self.seed, epoch))
            self._epoch = epoch
        start = step_in_epoch * self.batch_size
        return self._perm[start:start + self.batch_size]


def rank_micro_batches(global_batch: torch.Tensor, rank: int, world_size: int, accum: int) -> list[torch.Tensor]:
    share = global_batch[rank::world_size]
    return [m for m in share.chunk(accum) if m.numel() > 0]


def sample_rows(num_tokens: int, count: int, seed: int) -> torch.Tensor:
    """A fixed sample of rows (for act_scale and the pre-bias init), sorted for sequential reads."""
    gen = torch.Generator().manual_seed(seed + 99_991)
    return torch.randperm(num_tokens, generator=gen)[: min(count, num_tokens)].sort().values


class TensorSource:
    """An in-memory [N, d] tensor as an ActivationSource (``--activations`` files, tests, benchmarks)."""

    def __init__(self, acts: torch.Tensor) -> None:
        if acts.ndim != 2:
            raise ValueError(f"activations must be [tokens, d], got shape {tuple(acts.shape)}")
        self.acts = acts
        self.num_tokens, self.d = int(acts.shape[0]), int(acts.shape[1])

    def read(self, idx: torch.Tensor) -> torch.Tensor:
        return self.acts[idx]
