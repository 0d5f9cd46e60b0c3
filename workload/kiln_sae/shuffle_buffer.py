"""A seeded shuffling buffer for streamed activations (``activation_cache: none``: the data does not fit).

Chunks from an iterator (e.g. ``ActivationExtractor.iter_batches``) fill a buffer of ``capacity`` rows;
whenever it is full, it is permuted with a generator seeded from (seed, epoch) and the first half is emitted
as batches of ``batch_size`` rows, the second half stays to mix with what comes next (SAELens' mixing
buffer). The output depends only on (seed, epoch, the input stream), so a resumed run regenerates the same
batches and skips the ones it already trained on: ``batches(epoch, skip=n)``. Skipping costs re-reading the
stream, which is the price of not caching.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch

from kiln_sae.rng import epoch_generator


class ShuffleBuffer:
    def __init__(self, stream: Callable[[], Iterable[torch.Tensor]], *, capacity: int, batch_size: int,
                 seed: int) -> None:
        if capacity < 2 * batch_size:
            raise ValueError(f"capacity ({capacity}) must hold at least two batches of {batch_size} rows")
        self.stream, self.capacity, self.batch_size, self.seed = stream, capacity, batch_size, seed

    def batches(self, epoch: int, skip: int = 0) -> Iterator[torch.Tensor]:
        """Batches of exactly ``batch_size`` rows for ``epoch`` (a ragged final remainder is dropped),
        omitting the first ``skip``."""
        gen = epoch_generator(self.seed, epoch)
        held: list[torch.Tensor] = []
        n_held = 0
        emitted = 0

        def drain(buffer: torch.Tensor, keep: int) -> Iterator[torch.Tensor]:
            nonlocal emitted
            out = buffer[: buffer.shape[0] - keep]
            for s in range(0, out.shape[0] - self.batch_size + 1, self.batch_size):
                if emitted >= skip:
                    yield out[s:s + self.batch_size]
                emitted += 1

        for chunk in self.stream():
            held.append(chunk)
            n_held += chunk.shape[0]
            if n_held < self.capacity:
                continue
            buffer = torch.cat(held)
            buffer = buffer[torch.randperm(buffer.shape[0], generator=gen)]
            keep = buffer.shape[0] // 2
            # Emit a whole number of batches; the rest stays in the buffer.
            emit_rows = ((buffer.shape[0] - keep) // self.batch_size) * self.batch_size
            keep = buffer.shape[0] - emit_rows
            yield from drain(buffer, keep)
            held, n_held = [buffer[emit_rows:]], keep
        if n_held:
            buffer = torch.cat(held)
            buffer = buffer[torch.randperm(buffer.shape[0], generator=gen)]
            yield from drain(buffer, buffer.shape[0] % self.batch_size)
