"""Data order: which activation rows each optimiser step reads.

The global batch of (epoch, step) is a slice of a permutation seeded from (seed, epoch) only, so a resumed
run (any world size) reads exactly the rows the uninterrupted run would have. Each rank takes every
world_size-th row of the global batch, then splits that share into gradient-accumulation micro-batches.

Two permutations: ``EpochOrder`` (uniformly random; in-memory sources) and ``BlockShuffledOrder`` (disk caches:
contiguous blocks shuffled, rows shuffled within windows of a few blocks, so each window is read with a few
large sequential reads instead of one page fault per row). ``epoch_order_for`` picks the one a source asks for.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from kiln_sae.rng import epoch_generator

# Block-shuffled order: blocks of ~32 MiB (one sequential read each, rounded to whole batches) in windows of
# 1 GiB; the disk reader holds two windows (training + prefetch). Fixed, not sized from the machine's free
# RAM: the data order depends on them, and a run resumed on another machine must read the same batches.
BLOCK_BYTES = 32 * 2**20
WINDOW_BYTES = 2**30


class ActivationSource(Protocol):
    """Random-access activations (H4b's ActivationCache satisfies this)."""

    num_tokens: int
    d: int

    def read(self, idx: torch.Tensor) -> torch.Tensor: ...


class EpochOrder:
    kind = "cache"  # recorded in checkpoints as data_order

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


class BlockShuffledOrder:
    """A permutation of [0, N) that reads a disk cache in large sequential pieces.

    Rows are cut into contiguous blocks of ``block_rows`` (the last one may be short); each epoch the full
    blocks are shuffled by (seed, epoch) and the short block goes last; consecutive groups of
    ``window_blocks`` blocks form windows, and the rows of each window are shuffled by a seed drawn from the
    same (seed, epoch) generator. ``block_rows`` is a multiple of ``batch_size``, so every window starts on a
    batch boundary: a batch's rows all come from one window (at most ``window_blocks`` blocks). Like
    ``EpochOrder`` it depends on (seed, epoch) and the sizes only, so resume at any world size is unchanged.

    ``on_window(blocks, next_blocks)`` is called when ``global_batch`` first enters a window, with that
    window's blocks and the blocks of the window the run reads after it (the block reader's prefetch).
    """

    kind = "cache-blocks"

    def __init__(self, num_tokens: int, batch_size: int, seed: int, *, block_rows: int, window_blocks: int,
                 on_window: Callable[[Sequence[int], Sequence[int]], None] | None = None) -> None:
        if block_rows <= 0 or block_rows % batch_size != 0 or window_blocks <= 0:
            raise ValueError(f"block_rows ({block_rows}) must be a positive multiple of batch_size ({batch_size}) "
                             f"and window_blocks ({window_blocks}) positive")
        self.num_tokens, self.batch_size, self.seed = num_tokens, batch_size, seed
        self.block_rows, self.window_blocks = block_rows, window_blocks
        self.steps_per_epoch = num_tokens // batch_size
        self.num_blocks = -(-num_tokens // block_rows)
        self.window_rows = block_rows * window_blocks
        # Windows after the last full batch hold only dropped rows: the run never reads them.
        self.windows_per_epoch = -(-self.steps_per_epoch * batch_size // self.window_rows)
        self.on_window = on_window
        self._epochs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # epoch -> (block sequence, window seeds)
        self._window: tuple[int, int] = (-1, -1)
        self._rows = torch.empty(0, dtype=torch.long)

    def _epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        if epoch not in self._epochs:
            gen = epoch_generator(self.seed, epoch)
            full = self.num_tokens // self.block_rows
            blocks = torch.randperm(full, generator=gen)
            if full < self.num_blocks:
                blocks = torch.cat([blocks, torch.tensor([full])])
            seeds = torch.randint(0, 2**62, (max(self.windows_per_epoch, 1),), generator=gen)
            while len(self._epochs) >= 2:  # this epoch and the next (prefetch) are all that is asked for
                self._epochs.pop(min(self._epochs))
            self._epochs[epoch] = (blocks, seeds)
        return self._epochs[epoch]

    def window_blocks_of(self, epoch: int, window: int) -> list[int]:
        blocks, _ = self._epoch(epoch)
        return blocks[window * self.window_blocks:(window + 1) * self.window_blocks].tolist()

    def window_rows_of(self, epoch: int, window: int) -> torch.Tensor:
        """The rows of one window in the order the run reads them."""
        _, seeds = self._epoch(epoch)
        rows = torch.cat([torch.arange(b * self.block_rows, min((b + 1) * self.block_rows, self.num_tokens))
                          for b in self.window_blocks_of(epoch, window)])
        gen = torch.Generator().manual_seed(int(seeds[window]))
        return rows[torch.randperm(rows.numel(), generator=gen)]

    def next_window(self, epoch: int, window: int) -> tuple[int, int]:
        return (epoch, window + 1) if window + 1 < self.windows_per_epoch else (epoch + 1, 0)

    def global_batch(self, epoch: int, step_in_epoch: int) -> torch.Tensor:
        window, offset = divmod(step_in_epoch * self.batch_size, self.window_rows)
        if (epoch, window) != self._window:
            self._rows = self.window_rows_of(epoch, window)
            self._window = (epoch, window)
            if self.on_window is not None:
                self.on_window(self.window_blocks_of(epoch, window),
                               self.window_blocks_of(*self.next_window(epoch, window)))
        return self._rows[offset:offset + self.batch_size]


def block_layout(batch_size: int, row_bytes: int, block_bytes: int | None = None,
                 window_bytes: int | None = None) -> tuple[int, int]:
    """``(block_rows, window_blocks)``: blocks of about ``block_bytes`` (default ``BLOCK_BYTES``) rounded to
    whole batches (one batch when a batch is bigger), as many per window as fit ``window_bytes`` (default
    ``WINDOW_BYTES``; at least one)."""
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    window_bytes = WINDOW_BYTES if window_bytes is None else window_bytes
    block_rows = batch_size * max(1, block_bytes // (batch_size * row_bytes))
    return block_rows, max(1, window_bytes // (block_rows * row_bytes))


def epoch_order_for(source: ActivationSource, num_tokens: int, batch_size: int, seed: int,
                    kind: str | None = None) -> EpochOrder | BlockShuffledOrder:
    """The order a source reads best in (``kind`` None): its own ``epoch_order(num_tokens, batch_size, seed,
    kind)`` when it has one (a disk cache: blocks), else ``EpochOrder``. ``kind`` (a checkpoint's data_order)
    forces one: any source can read either order, so a run resumes with its batches whether the cache is now
    in memory or on disk (e.g. another world size or machine)."""
    make = getattr(source, "epoch_order", None)
    if make is not None:
        return make(num_tokens, batch_size, seed, kind)
    if kind == BlockShuffledOrder.kind:
        row_bytes = source.d * source.read(torch.zeros(1, dtype=torch.long)).element_size()
        block_rows, window_blocks = block_layout(batch_size, row_bytes)
        return BlockShuffledOrder(num_tokens, batch_size, seed, block_rows=block_rows, window_blocks=window_blocks)
    return EpochOrder(num_tokens, batch_size, seed)


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
