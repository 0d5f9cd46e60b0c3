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

from kiln_sae.errors import DataError
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


class StreamedActivations:
    """The training source for ``activation_cache: none``: a re-runnable stream of [n, d] chunks (this rank's
    share) behind a ShuffleBuffer, addressed by (epoch, step in epoch) instead of by row.

    ``batch(epoch, i)`` continues the live iterator when called in order and otherwise (first call, resume,
    a new epoch) regenerates the epoch's batches and skips to ``i``, so a resumed run reads exactly the
    batches the uninterrupted run would have. ``num_tokens`` (exact, from the tokenizer) fixes the number of
    steps per epoch before anything is extracted."""

    def __init__(self, stream: Callable[[], Iterable[torch.Tensor]], num_tokens: int, *, batch_size: int,
                 capacity: int, seed: int) -> None:
        self.stream, self.num_tokens, self.batch_size = stream, int(num_tokens), batch_size
        self.buffer = ShuffleBuffer(stream, capacity=max(capacity, 2 * batch_size), batch_size=batch_size,
                                    seed=seed)
        self._live: Iterator[torch.Tensor] | None = None
        self._next: tuple[int, int] | None = None
        self._d: int | None = None

    @property
    def steps_per_epoch(self) -> int:
        # The buffer emits every whole batch of the epoch: floor(rows / batch_size) of them.
        return self.num_tokens // self.batch_size

    @property
    def d(self) -> int:
        if self._d is None:
            self._d = int(self.head(1).shape[1])
        return self._d

    def head(self, count: int) -> torch.Tensor:
        """The first ``count`` rows of the stream in stream order (the init sample for act_scale and b_dec)."""
        got: list[torch.Tensor] = []
        n = 0
        for chunk in self.stream():
            got.append(chunk[: count - n])
            n += got[-1].shape[0]
            if n >= count:
                break
        if not got:
            raise DataError("the activation stream is empty: no training tokens to stream")
        return torch.cat(got)

    def batch(self, epoch: int, step_in_epoch: int) -> torch.Tensor:
        if self._live is None or self._next != (epoch, step_in_epoch):
            self._live = iter(self.buffer.batches(epoch, skip=step_in_epoch))
        try:
            out = next(self._live)
        except StopIteration:
            raise DataError(f"the activation stream ended before step {step_in_epoch} of epoch {epoch}: it "
                             f"yielded fewer than the {self.num_tokens} tokens it was counted at") from None
        self._next = (epoch, step_in_epoch + 1)
        return out
