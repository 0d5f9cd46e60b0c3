"""Whole blocks of a sharded ``.npy`` activation cache read with large sequential reads, one window in RAM
and the next one loaded on a background thread while the current one trains.

A disk cache bigger than the page cache read one random row at a time (``np.load(mmap_mode="r")`` and
fancy indexing) costs one page fault per row: ~0.1 GB/s. ``BlockShuffledOrder`` (kiln_sae.batches) reads
a window of a few whole blocks at a time, so the reader can fetch each block with ``readinto`` at its offset
in the shard file (a few MiB per system call) and serve every batch of the window from memory.

Memory: two window buffers (``2 × window_blocks × block_rows × row bytes``), allocated on first use: the
window being trained on and the one being prefetched. Blocks are evicted by overwriting: the buffer of the
finished window receives the next prefetch.

Threads: at most one prefetch thread at a time, a daemon that checks a cancel flag between reads of
``_CHUNK_BYTES``, so ``close()`` (also run at interpreter exit, e.g. after SIGTERM's checkpoint) returns
within one chunk's read. An exception in the thread is raised again in the training thread by ``enter``.
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_CHUNK_BYTES = 8 * 2**20


@dataclass(frozen=True)
class ShardFile:
    """Rows ``[start, start + rows)`` of the cache, stored C-contiguous from byte ``offset`` of ``path``."""

    path: str
    offset: int
    start: int
    rows: int


@dataclass
class _Load:
    """One window being read into one buffer (by the prefetch thread, or inline)."""

    blocks: tuple[int, ...]
    buffer: int
    thread: threading.Thread | None = None
    error: BaseException | None = None


@dataclass
class _Shared:
    """What the prefetch thread and the exit hook share (never the reader itself, so it can be collected)."""

    cancel: threading.Event = field(default_factory=threading.Event)
    pending: _Load | None = None


def _stop(shared: _Shared, timeout: float) -> None:
    shared.cancel.set()
    load = shared.pending
    if load is not None and load.thread is not None:
        load.thread.join(timeout)


class BlockReader:
    """Serves rows of the current window from RAM (``gather``); ``enter`` moves to the next window."""

    def __init__(self, shards: Sequence[ShardFile], *, row_bytes: int, dtype: np.dtype, d: int, num_rows: int,
                 block_rows: int, window_blocks: int) -> None:
        self.shards = list(shards)
        self.row_bytes, self.dtype, self.d, self.num_rows = row_bytes, np.dtype(dtype), d, num_rows
        self.block_rows, self.window_blocks = block_rows, window_blocks
        self.window_capacity = min(block_rows * window_blocks, num_rows)
        self._starts = np.array([s.start for s in self.shards] + [num_rows], dtype=np.int64)
        num_blocks = -(-num_rows // block_rows)
        self._buffers: list[np.ndarray | None] = [None, None]
        self._current: tuple[int, ...] = ()
        self._current_buffer = 0
        self._slot = np.full(num_blocks, -1, dtype=np.int64)  # block -> slot in the current buffer, or -1
        self.bytes_read = 0
        self.blocks_read = 0
        self.read_seconds = 0.0  # wall time spent loading windows (on the thread or inline)
        self._shared = _Shared()
        self._finalizer = weakref.finalize(self, _stop, self._shared, 10.0)

    # ---- the training thread -------------------------------------------------------------------------
    def enter(self, blocks: Sequence[int], next_blocks: Sequence[int]) -> None:
        """Make ``blocks`` the resident window (waiting for its prefetch, or reading it now), then start
        reading ``next_blocks`` into the other buffer."""
        want = tuple(int(b) for b in blocks)
        if want != self._current:
            load = self._take_pending(want)
            if load is None:
                load = _Load(want, 1 - self._current_buffer)
                self._read_window(load)
            self._activate(load)
        nxt = tuple(int(b) for b in next_blocks)
        if nxt and nxt != self._current:
            self._prefetch(nxt)

    def gather(self, rows: np.ndarray) -> np.ndarray | None:
        """Rows ``rows`` (int64, in range) from the resident window, or None when any of them is not in it."""
        if not self._current:
            return None
        slots = self._slot[rows // self.block_rows]
        if (slots < 0).any():
            return None
        buffer = self._buffers[self._current_buffer]
        assert buffer is not None
        return np.take(buffer, slots * self.block_rows + rows % self.block_rows, axis=0)

    @property
    def resident_bytes(self) -> int:
        return sum(b.nbytes for b in self._buffers if b is not None)

    def close(self) -> None:
        """Stop the prefetch (within one chunk's read) and free both buffers."""
        _stop(self._shared, 10.0)
        self._shared.pending = None
        self._shared.cancel.clear()
        self._buffers = [None, None]
        self._current = ()
        self._slot.fill(-1)

    # ---- loading -------------------------------------------------------------------------------------
    def _activate(self, load: _Load) -> None:
        self._slot.fill(-1)
        self._slot[list(load.blocks)] = np.arange(len(load.blocks))
        self._current, self._current_buffer = load.blocks, load.buffer

    def _take_pending(self, want: tuple[int, ...] | None) -> _Load | None:
        """The finished prefetch of ``want`` (its error raised here), or None after cancelling another one."""
        load, self._shared.pending = self._shared.pending, None
        if load is None or load.thread is None:
            return None
        if load.blocks != want:
            self._shared.cancel.set()
        load.thread.join()
        self._shared.cancel.clear()
        if load.blocks != want:
            return None
        if load.error is not None:
            raise load.error
        return load

    def _prefetch(self, blocks: tuple[int, ...]) -> None:
        pending = self._shared.pending
        if pending is not None and pending.blocks == blocks:
            return
        self._take_pending(None)
        load = _Load(blocks, 1 - self._current_buffer)
        self._buffer(load.buffer)  # allocated here, not on the thread: a MemoryError belongs to this one
        load.thread = threading.Thread(target=self._run_prefetch, args=(load,), name="kiln-cache-prefetch",
                                       daemon=True)
        self._shared.pending = load
        load.thread.start()

    def _run_prefetch(self, load: _Load) -> None:
        try:
            self._read_window(load)
        except BaseException as e:  # noqa: BLE001 - handed to the training thread by enter()
            load.error = e

    def _buffer(self, index: int) -> np.ndarray:
        buffer = self._buffers[index]
        if buffer is None:
            buffer = np.empty((self.window_capacity, self.d), dtype=self.dtype)
            self._buffers[index] = buffer
        return buffer

    def _read_window(self, load: _Load) -> None:
        t0 = time.perf_counter()
        try:
            self._fill(load)
        finally:
            self.read_seconds += time.perf_counter() - t0

    def _fill(self, load: _Load) -> None:
        buffer = self._buffer(load.buffer)
        flat = buffer.reshape(-1).view(np.uint8)
        for slot, block in enumerate(load.blocks):
            lo = block * self.block_rows
            hi = min(lo + self.block_rows, self.num_rows)
            dest = slot * self.block_rows * self.row_bytes
            self._read_rows(lo, hi, memoryview(flat)[dest:dest + (hi - lo) * self.row_bytes])
            self.blocks_read += 1

    def _read_rows(self, lo: int, hi: int, out: memoryview) -> None:
        """Rows [lo, hi) into ``out``: one sequential read per shard they span, in chunks."""
        first = int(np.searchsorted(self._starts, lo, side="right")) - 1
        pos = 0
        for shard in self.shards[first:]:
            if shard.start >= hi:
                break
            a, b = max(lo, shard.start), min(hi, shard.start + shard.rows)
            offset = shard.offset + (a - shard.start) * self.row_bytes
            end = pos + (b - a) * self.row_bytes
            fd = os.open(shard.path, os.O_RDONLY)
            try:
                while pos < end:
                    if self._shared.cancel.is_set():
                        raise _Cancelled()
                    n = os.preadv(fd, [out[pos:min(end, pos + _CHUNK_BYTES)]], offset)
                    if n <= 0:
                        raise OSError(f"{shard.path}: unexpected end of file at byte {offset} (truncated shard?)")
                    pos, offset = pos + n, offset + n
                    self.bytes_read += n
            finally:
                os.close(fd)


class _Cancelled(Exception):
    """The prefetch was cancelled (close, or a different window was asked for)."""
