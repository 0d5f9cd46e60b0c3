"""Disk activation cache read speed: random rows through mmap (the old path) vs block-shuffled windows read
with large sequential reads and a prefetch thread (kiln_sae.block_reader), same cache, same process.

    .venv/bin/python bench/cache_read/run.py [--gb 2.5 --d 4096 --batch 4096 --rounds 2 --random-seconds 20]

Builds a bf16 disk cache (kiln_sae.cache's writer, 256 MiB shards) of random numbers under the system temp
directory and deletes it at the end. Before every measurement the shards are evicted from the page cache
with posix_fadvise(POSIX_FADV_DONTNEED) (they are fsynced, so clean) and the evicted share is checked with
mincore(2). Per round: (a) ``cache.read`` of uniformly random batches (``EpochOrder``) through
``np.load(mmap_mode="r")`` for ``--random-seconds``; (b) a full epoch of ``BlockShuffledOrder`` batches read
through the block reader (default layout: 32 MiB blocks, 1 GiB windows). No compute between reads: this is
the reader's rate alone. Writes bench/results/cache_read.json.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import mmap
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workload"))

from kiln_sae.batches import BlockShuffledOrder, EpochOrder  # noqa: E402
from kiln_sae.cache import ActivationCache, _write_disk  # noqa: E402

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def log(msg: str) -> None:
    print(f"[cache-read] {msg}", file=sys.stderr, flush=True)


def resident_fraction(path: Path) -> float:
    """Share of the file's pages in the page cache (mincore on a fresh shared mapping)."""
    size = path.stat().st_size
    page = mmap.PAGESIZE
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            vec = ctypes.create_string_buffer((size + page - 1) // page)
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return sum(b & 1 for b in vec.raw) / len(vec.raw)
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def evict(files: list[Path], check: bool = True) -> float:
    """posix_fadvise(DONTNEED) every shard; returns the share of pages still resident afterwards."""
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    if not check:
        return float("nan")
    sizes = [f.stat().st_size for f in files]
    return sum(resident_fraction(f) * s for f, s in zip(files, sizes, strict=True)) / sum(sizes)


def cold(root: Path, files: list[Path], previous: ActivationCache | None = None,
         check: bool = True) -> tuple[ActivationCache, float]:
    """A freshly opened cache with its shards evicted (and the share left resident, when ``check``). The
    caller hands over its previous cache so its memory maps are gone first: DONTNEED leaves mapped pages."""
    del previous
    gc.collect()
    left = evict(files, check)
    return ActivationCache.open(root), left


def build(root: Path, rows: int, d: int) -> ActivationCache:
    gen = np.random.default_rng(0)
    chunk = 32_768

    def chunks():
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            yield torch.from_numpy(gen.integers(-2**15, 2**15, (n, d), dtype=np.int16)).view(torch.bfloat16)

    return _write_disk(chunks(), root, d, torch.bfloat16, "bench", 256 * 2**20)


def random_rows(root: Path, files: list[Path], batch: int, seconds: float) -> dict:
    """Uniformly random batches through mmap, each from a cold page cache: the cache is reopened and evicted
    before every batch (not timed), as when it is hundreds of times bigger than RAM and a batch's rows
    (and the kernel's read-around pages) are never found there."""
    order = EpochOrder(ActivationCache.open(root).num_tokens, batch, seed=1)
    timed, n, left = 0.0, 0, []
    cache = None
    while timed < seconds and n < order.steps_per_epoch:
        cache, frac = cold(root, files, cache, check=n == 0)
        left.append(frac)
        idx = order.global_batch(0, n)
        t0 = time.perf_counter()
        cache.read(idx)
        timed += time.perf_counter() - t0
        n += 1
    row_bytes = cache.row_bytes
    del cache
    return _rate(n * batch, row_bytes, timed) | {"batches": n, "resident_after_evict": round(left[0], 4)}


def windowed(root: Path, files: list[Path], batch: int) -> dict:
    """One epoch of block-shuffled batches through the block reader, from a cold page cache. The reader's
    two window buffers are allocated and touched first (timed apart: a one-time cost per run, large on this
    VM where first-touch page faults run at ~0.2 GB/s)."""
    cache, left = cold(root, files)
    order = cache.epoch_order(cache.num_tokens, batch, seed=1)
    assert isinstance(order, BlockShuffledOrder) and cache.reader is not None
    t0 = time.perf_counter()
    for i in (0, 1):
        cache.reader._buffer(i).fill(0)
    first_touch = time.perf_counter() - t0
    t0 = time.perf_counter()
    stalls = 0.0
    for step in range(order.steps_per_epoch):
        s0 = time.perf_counter()
        idx = order.global_batch(0, step)  # entering a window waits for its prefetch (or reads it)
        stalls += time.perf_counter() - s0
        cache.read(idx)
    elapsed = time.perf_counter() - t0
    out = _rate(order.steps_per_epoch * batch, cache.row_bytes, elapsed) | {
        "batches": order.steps_per_epoch, "block_rows": order.block_rows, "window_blocks": order.window_blocks,
        "windows": order.windows_per_epoch, "wait_for_window_s": round(stalls, 3),
        "bytes_read_from_files_gb": round(cache.reader.bytes_read / 1e9, 3),
        "window_loads_gb_per_s": round(cache.reader.bytes_read / max(cache.reader.read_seconds, 1e-9) / 1e9, 4),
        "gather_s": round(elapsed - stalls, 3),
        "resident_window_bytes": cache.reader.resident_bytes, "buffers_first_touch_s": round(first_touch, 3),
        "resident_after_evict": round(left, 4)}
    cache.close()
    return out


def sequential(root: Path, files: list[Path]) -> dict:
    """The disk's ceiling: every shard read front to back in 8 MiB preads into one reused buffer, cold."""
    _, left = cold(root, files)
    buf = memoryview(bytearray(8 * 2**20))
    total, t0 = 0, time.perf_counter()
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            offset = 0
            while n := os.preadv(fd, [buf], offset):
                offset += n
            total += offset
        finally:
            os.close(fd)
    elapsed = time.perf_counter() - t0
    return {"bytes": total, "seconds": round(elapsed, 3), "gb_per_s": round(total / elapsed / 1e9, 4),
            "resident_after_evict": round(left, 4)}


def _rate(rows: int, row_bytes: int, seconds: float) -> dict:
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds, 1),
            "gb_per_s": round(rows * row_bytes / seconds / 1e9, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.5, help="cache size in GB (keep it <= 3 here)")
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--random-seconds", type=float, default=20.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cache_read.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    rows = int(args.gb * 1e9) // (args.d * 2)
    root = Path(tempfile.mkdtemp(prefix="kiln-cache-read-"))
    result: dict = {}
    try:
        t0 = time.perf_counter()
        cache = build(root / "cache", rows, args.d)
        write_s = time.perf_counter() - t0
        files = sorted((root / "cache").glob("shard-*.npy"))
        log(f"wrote {rows} rows x {args.d} bf16 ({rows * args.d * 2 / 1e9:.2f} GB, {len(files)} shards) in "
            f"{write_s:.1f} s")
        del cache
        rounds = []
        for r in range(args.rounds):
            a = random_rows(root / "cache", files, args.batch, args.random_seconds)
            log(f"round {r}: random rows {a['gb_per_s']} GB/s ({a['batches']} batches, "
                f"{a['resident_after_evict']:.1%} resident after evict)")
            b = windowed(root / "cache", files, args.batch)
            left = b["resident_after_evict"]
            log(f"round {r}: windowed {b['gb_per_s']} GB/s ({b['batches']} batches, waited "
                f"{b['wait_for_window_s']} s for windows, gathers {b['gather_s']} s, window loads "
                f"{b['window_loads_gb_per_s']} GB/s, {left:.1%} resident after evict)")
            c = sequential(root / "cache", files)
            log(f"round {r}: plain sequential read of the shards {c['gb_per_s']} GB/s")
            rounds.append({"random_rows_mmap": a, "windowed_blocks": b, "sequential_ceiling": c,
                           "windowed_share_of_sequential": round(b["gb_per_s"] / c["gb_per_s"], 3),
                           "ratio_windowed_over_random": round(b["gb_per_s"] / a["gb_per_s"], 2)})
        ratios = [x["ratio_windowed_over_random"] for x in rounds]
        result = {
            "benchmark": "cache_read",
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "cpu_count": os.cpu_count(), "mem_total_gb": round(os.sysconf("SC_PHYS_PAGES")
                                                                           * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
                        "temp_dir_filesystem": _filesystem(root),
                        "loadavg_1_5_15_before": [round(x, 2) for x in load_before],
                        "loadavg_1_5_15_after": [round(x, 2) for x in os.getloadavg()]},
            "cache": {"rows": rows, "d": args.d, "dtype": "bfloat16", "gb": round(rows * args.d * 2 / 1e9, 3),
                      "shards": len(files), "write_s_with_fsync": round(write_s, 1)},
            "batch_rows": args.batch,
            "eviction": "posix_fadvise(POSIX_FADV_DONTNEED) on every shard before each measurement; "
                        "resident_after_evict = share of pages mincore(2) still reports in the page cache",
            "method": "(a) cache.read of uniformly random EpochOrder batches through np.load(mmap_mode='r') "
                      f"for {args.random_seconds} s of reads, the page cache evicted before every batch; (b) one "
                      "full epoch of BlockShuffledOrder batches through the block reader (pread of whole blocks, "
                      "next window prefetched on a thread; its two buffers touched first, timed apart); no "
                      "compute between reads; (c) the shard files read front to back (the disk's sequential "
                      "ceiling); each round runs (a), (b), (c)",
            "rounds": rounds,
            "ratio_windowed_over_random_median": round(statistics.median(ratios), 2),
        }
        print(json.dumps({k: result[k] for k in ("rounds", "ratio_windowed_over_random_median")}, indent=1))
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.out}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _filesystem(path: Path) -> str:
    best = ("", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mount, fstype = line.split()[:3]
            if str(path).startswith(mount) and len(mount) > len(best[0]):
                best = (mount, f"{fstype} on {dev}")
    except OSError:
        pass
    return best[1]


if __name__ == "__main__":
    sys.exit(main())
