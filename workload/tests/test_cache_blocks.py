"""Disk caches read in a block-shuffled order through the block reader: the order is a deterministic
permutation made of whole blocks, the reader returns exactly the rows of the random-access path within its
memory bound, prefetch errors reach the training thread, and a killed-and-resumed run on a disk cache ends
bitwise identical to an uninterrupted one (also when the cache moved between memory and disk)."""
from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from kiln_sae import batches
from kiln_sae.batches import BlockShuffledOrder, EpochOrder, TensorSource, block_layout, epoch_order_for
from kiln_sae.cache import ActivationCache, _write_disk
from kiln_sae.config import load_config
from kiln_sae.trainer import Trainer

D = 8
ROW_BYTES = D * 4  # float32


def make_cache(root: Path, rows: torch.Tensor, *, shard_rows: int = 300, block_bytes: int = 128 * ROW_BYTES,
               window_bytes: int = 3 * 128 * ROW_BYTES) -> ActivationCache:
    chunks = list(rows.split(97))  # ragged chunks: shards fill across them
    cache = _write_disk(chunks, root, D, torch.float32, "test", shard_bytes=shard_rows * ROW_BYTES)
    cache.block_bytes, cache.window_bytes = block_bytes, window_bytes
    return cache


def random_rows(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(seed))


def all_batches(order, epoch: int) -> list[torch.Tensor]:
    return [order.global_batch(epoch, s) for s in range(order.steps_per_epoch)]


@pytest.mark.parametrize(("n", "batch", "block_rows", "window_blocks"),
                         [(1000, 64, 128, 3), (1024, 128, 128, 2), (100, 10, 30, 1), (5000, 50, 500, 4)])
def test_block_order_is_a_deterministic_permutation_of_whole_block_windows(n, batch, block_rows, window_blocks):
    order = BlockShuffledOrder(n, batch, seed=7, block_rows=block_rows, window_blocks=window_blocks)
    window_rows = block_rows * window_blocks
    for epoch in range(3):
        windows = [order.window_rows_of(epoch, w) for w in range(-(-order.num_blocks // window_blocks))]
        full = torch.cat(windows)
        assert torch.equal(full.sort().values, torch.arange(n))  # a permutation of [0, N)
        for w, rows in enumerate(windows):
            blocks = Counter((rows // block_rows).tolist())
            # Whole blocks: every block in the window contributes all of its rows.
            assert all(count == min(block_rows, n - b * block_rows) for b, count in blocks.items())
            assert len(blocks) <= window_blocks
            assert sorted(blocks) == sorted(order.window_blocks_of(epoch, w))
        got = all_batches(order, epoch)
        assert len(got) == n // batch
        assert torch.equal(torch.cat(got), full[:len(got) * batch])
        for step, rows in enumerate(got):
            assert len(set((rows // block_rows).tolist())) <= window_blocks  # from at most G blocks
            w = step * batch // window_rows
            assert set((rows // block_rows).tolist()) <= set(order.window_blocks_of(epoch, w))
        # The short block (if any) is always last; the full blocks are shuffled per epoch.
        seq = [b for w in range(len(windows)) for b in order.window_blocks_of(epoch, w)]
        if n % block_rows:
            assert seq[-1] == n // block_rows
    again = BlockShuffledOrder(n, batch, seed=7, block_rows=block_rows, window_blocks=window_blocks)
    assert all(torch.equal(a, b) for a, b in zip(all_batches(again, 1), all_batches(order, 1), strict=True))
    other_epoch = torch.cat(all_batches(order, 2))
    assert not torch.equal(other_epoch, torch.cat(all_batches(order, 1)))
    other_seed = BlockShuffledOrder(n, batch, seed=8, block_rows=block_rows, window_blocks=window_blocks)
    assert not torch.equal(torch.cat(all_batches(other_seed, 1)), torch.cat(all_batches(order, 1)))


def test_block_layout_rounds_blocks_to_batches_and_bounds_the_window():
    assert block_layout(4096, 8192, 32 * 2**20, 2**30) == (4096, 32)  # the reference job: 32 MiB, 1 GiB
    assert block_layout(100, 10, 4_000, 10_000) == (400, 2)
    assert block_layout(100, 10, 500, 100) == (100, 1)  # a batch bigger than a block: one batch, one block
    with pytest.raises(ValueError, match="multiple of batch_size"):
        BlockShuffledOrder(100, 30, 0, block_rows=40, window_blocks=2)


def test_memory_sources_keep_the_random_order(tmp_path):
    rows = random_rows(600)
    mem = ActivationCache(d=D, dtype=torch.float32, memory=rows)
    for source in (mem, TensorSource(rows)):
        order = epoch_order_for(source, 600, 50, seed=3)
        assert type(order) is EpochOrder
        assert torch.equal(order.global_batch(1, 2), EpochOrder(600, 50, 3).global_batch(1, 2))
    disk = make_cache(tmp_path / "c", rows)
    assert type(epoch_order_for(disk, 600, 64, seed=3)) is BlockShuffledOrder


def test_reader_returns_the_random_access_rows_within_its_memory_bound(tmp_path):
    rows = random_rows(1000)
    cache = make_cache(tmp_path / "c", rows)  # shards of 300 rows: blocks of 128 span shard boundaries
    order = cache.epoch_order(1000, 64, seed=5)
    reader = cache.reader
    assert isinstance(order, BlockShuffledOrder) and reader is not None
    window_bytes = order.window_rows * ROW_BYTES
    peak = 0
    for epoch in range(3):
        for step in range(order.steps_per_epoch):
            idx = order.global_batch(epoch, step)
            assert reader.gather(idx.numpy()) is not None  # served from the resident window
            got = cache.read(idx)
            assert torch.equal(got, rows[idx])
            assert np.array_equal(got.numpy(), cache._read_mapped(idx.numpy()))
            peak = max(peak, reader.resident_bytes)
    assert 0 < peak <= 2 * window_bytes
    assert reader.bytes_read >= 3 * 960 * ROW_BYTES  # every window read whole, from the files
    # Rows outside the window fall back to the mapped path, with the same numbers.
    outside = torch.tensor([0, 999, 500])
    assert torch.equal(cache.read(outside), rows[outside])
    cache.close()
    assert reader.resident_bytes == 0 and reader._shared.pending is None


def test_next_window_is_prefetched_on_a_thread(tmp_path):
    cache = make_cache(tmp_path / "c", random_rows(1000))
    order = cache.epoch_order(1000, 64, seed=5)
    reader = cache.reader
    order.global_batch(0, 0)
    pending = reader._shared.pending
    assert pending is not None and pending.thread is not None
    assert list(pending.blocks) == order.window_blocks_of(0, 1)
    pending.thread.join(10)
    read_before = reader.blocks_read
    order.global_batch(0, order.window_rows // 64)  # enters window 1: already loaded, no read inline
    assert reader._current == tuple(order.window_blocks_of(0, 1))
    assert reader.blocks_read - read_before <= len(order.window_blocks_of(0, 2))  # only the next prefetch
    last = order.steps_per_epoch - 1
    order.global_batch(0, last)  # the epoch's last window prefetches the next epoch's first
    assert list(reader._shared.pending.blocks) == order.window_blocks_of(1, 0)
    cache.close()
    assert not pending.thread.is_alive()


def test_a_failed_prefetch_is_raised_in_the_training_thread(tmp_path):
    cache = make_cache(tmp_path / "c", random_rows(1000))
    order = cache.epoch_order(1000, 64, seed=5)
    reader = cache.reader
    order.global_batch(0, 0)
    reader._shared.pending.thread.join(10)
    # The prefetched window is fine; break the files for the one after it.
    reader.shards = [type(s)(str(tmp_path / "gone.npy"), s.offset, s.start, s.rows) for s in reader.shards]
    order.global_batch(0, order.window_rows // 64)  # window 1 was prefetched before: served
    reader._shared.pending.thread.join(10)
    with pytest.raises(FileNotFoundError, match="gone.npy"):
        order.global_batch(0, 2 * order.window_rows // 64)
    cache.close()


class StopAfter(threading.Event):
    """A stop flag that turns on at the n-th check (the trainer checks once per step): SIGTERM at step n."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def is_set(self) -> bool:
        self.left -= 1
        return self.left <= 0


def _config(out: Path) -> dict:
    return {"base_model": "m", "layer": 0, "output_dir": str(out), "latents": 32, "k": 4, "epochs": 3,
            "batch_size": 64, "seed": 11, "save_every": None, "log_every": 100}


def _weights(result) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result.sae.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def small_layout(monkeypatch):
    # The layout defaults scaled down so 1000 rows make several windows (and memory sources agree with them).
    monkeypatch.setattr(batches, "BLOCK_BYTES", 128 * ROW_BYTES)
    monkeypatch.setattr(batches, "WINDOW_BYTES", 3 * 128 * ROW_BYTES)


def _open(root: Path) -> ActivationCache:
    return ActivationCache.open(root)  # the module's (patched) layout defaults


@pytest.mark.parametrize("resume_on", ["disk", "memory"])
def test_stopped_and_resumed_run_on_a_disk_cache_is_bitwise_identical(tmp_path, small_layout, resume_on):
    rows = random_rows(1000, seed=1)
    _write_disk(list(rows.split(97)), tmp_path / "cache", D, torch.float32, "test", shard_bytes=300 * ROW_BYTES)
    ref = Trainer(load_config(_config(tmp_path / "ref")), _open(tmp_path / "cache"))
    assert isinstance(ref.order, BlockShuffledOrder) and ref.order.windows_per_epoch == 3
    done = ref.run()
    assert done.reason == "completed" and done.step == 3 * 15

    out = tmp_path / "stopped"
    first = Trainer(load_config(_config(out)), _open(tmp_path / "cache"), stop=StopAfter(20))
    stopped = first.run()
    assert stopped.reason == "sigterm" and stopped.step == 20  # mid-window (6 steps per window) of epoch 1
    # Resume reads the checkpoint's order even if the cache is in memory now (another machine's RAM).
    source = _open(tmp_path / "cache") if resume_on == "disk" else TensorSource(rows.clone())
    second = Trainer(load_config(_config(out)), source)
    assert second.state.step == 20 and isinstance(second.order, BlockShuffledOrder)
    _assert_same(_weights(second.run()), _weights(done))


def test_a_random_order_checkpoint_resumes_on_a_disk_cache_in_its_order(tmp_path, small_layout):
    rows = random_rows(1000, seed=2)
    _write_disk(list(rows.split(97)), tmp_path / "cache", D, torch.float32, "test", shard_bytes=300 * ROW_BYTES)
    done = Trainer(load_config(_config(tmp_path / "ref")), TensorSource(rows)).run()
    out = tmp_path / "moved"
    Trainer(load_config(_config(out)), TensorSource(rows), stop=StopAfter(17)).run()
    cache = _open(tmp_path / "cache")
    resumed = Trainer(load_config(_config(out)), cache)
    assert type(resumed.order) is EpochOrder and cache.reader is None  # random rows through the mapped path
    _assert_same(_weights(resumed.run()), _weights(done))


SIGTERM_WORKER = r"""
import os, signal, sys, threading, time
import torch
from kiln_sae import batches, block_reader
from kiln_sae.cache import ActivationCache
from kiln_sae.config import load_config
from kiln_sae.metrics import MetricsWriter
from kiln_sae.trainer import Trainer

batches.BLOCK_BYTES, batches.WINDOW_BYTES = 128 * 32, 3 * 128 * 32
block_reader._CHUNK_BYTES = 1024
real = os.preadv
def slow(fd, bufs, offset):  # a slow disk: each window's prefetch takes ~1 s, so one is always in flight
    time.sleep(0.08)
    return real(fd, bufs, offset)
block_reader.os.preadv = slow
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
out = sys.argv[2]
cfg = load_config({"base_model": "m", "layer": 0, "output_dir": out, "latents": 32, "k": 4, "epochs": 500,
                   "batch_size": 64, "save_every": None, "log_every": 1})
with MetricsWriter(os.path.join(out, "metrics.jsonl"), echo=True) as metrics:
    result = Trainer(cfg, ActivationCache.open(sys.argv[1]), metrics=metrics, stop=stop).run()
print("reason", result.reason, flush=True)
"""


def test_sigterm_during_a_prefetch_saves_and_exits_promptly(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    _write_disk(list(random_rows(1000).split(97)), tmp_path / "cache", D, torch.float32, "test",
                shard_bytes=300 * ROW_BYTES)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_WORKER, str(tmp_path / "cache"), str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:  # bounded: the worker prints a train line per step
            if line.startswith("{") and json.loads(line)["kind"] == "train":
                break
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        rest, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "reason sigterm" in rest
    assert elapsed < 10  # the in-flight prefetch is cancelled at exit, not read to its end
    assert any(json.loads(x)["kind"] == "checkpoint_saved" for x in rest.splitlines() if x.startswith("{"))
