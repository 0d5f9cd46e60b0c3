"""The activation cache: extract a dataset's activations once, read random rows every epoch.

Memory (one ``[N, d]`` host tensor) when the exact size — counted with the tokenizer before any forward
pass — fits ``max_memory_bytes``; otherwise disk: ``shard-NNNNN.npy`` files plus ``manifest.json``.

Reading a disk cache: training asks for ``epoch_order`` — a ``BlockShuffledOrder`` (kiln_sae.batches) tied
to a ``BlockReader`` (kiln_sae.block_reader) that reads each window's blocks with large sequential reads
and prefetches the next window on a background thread; ``read`` serves rows of the resident window from
RAM. Any other rows (validation, the init sample, tests) come through ``np.load(..., mmap_mode="r")``,
touching only the pages they need. Both paths return the same numbers.

Crash safety: each shard is written to a temp name, fsynced and renamed; the manifest is written the same
way *last*. No manifest (or a manifest whose shards are missing or the wrong shape, or whose fingerprint is
another model/layer/dataset) means the cache is incomplete or stale: ``open`` raises and ``build`` starts over.
bf16 activations are stored as their raw 16 bits (numpy has no bfloat16) and viewed back on read.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kiln_sae.activations import ActivationExtractor
from kiln_sae.batches import BlockShuffledOrder, EpochOrder, block_layout
from kiln_sae.block_reader import BlockReader, ShardFile
from kiln_sae.errors import DataError

MANIFEST = "manifest.json"
CACHE_VERSION = 1
SHARD_BYTES = 256 * 2**20
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_NP_STORAGE = {torch.float32: np.float32, torch.bfloat16: np.int16, torch.float16: np.float16}


class IncompleteCacheError(DataError):
    """The cache directory holds no complete cache for these settings; build it again."""


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class ActivationCache:
    """``num_tokens × d`` activations with random row access (satisfies kiln_sae.batches.ActivationSource)."""

    def __init__(self, *, d: int, dtype: torch.dtype, memory: torch.Tensor | None = None,
                 shards: Sequence[np.ndarray] = (), path: str | None = None, block_bytes: int | None = None,
                 window_bytes: int | None = None) -> None:
        """``block_bytes``/``window_bytes``: the disk read layout (kiln_sae.batches.block_layout; None: its
        defaults, which the data order depends on: change them only in tests and benchmarks)."""
        self.d, self.dtype, self.path = d, dtype, path
        self.block_bytes, self.window_bytes = block_bytes, window_bytes
        self._memory = memory
        self._shards = list(shards)
        sizes = [memory.shape[0]] if memory is not None else [s.shape[0] for s in self._shards]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.num_tokens = int(self._starts[-1])
        self.location = "memory" if memory is not None else "disk"
        self.row_bytes = d * torch.finfo(dtype).bits // 8
        self.reader: BlockReader | None = None

    def epoch_order(self, num_tokens: int, batch_size: int, seed: int,
                    kind: str | None = None) -> EpochOrder | BlockShuffledOrder:
        """The training order for rows [0, num_tokens): by default uniformly random in memory, block-shuffled
        on disk (read through a new ``BlockReader``, replacing an earlier one); ``kind`` forces one."""
        self.close()
        files = [_shard_file(s) for s in self._shards]
        blocks = kind == BlockShuffledOrder.kind or (kind is None and self._memory is None)
        if not blocks:
            return EpochOrder(num_tokens, batch_size, seed)
        block_rows, window_blocks = block_layout(batch_size, self.row_bytes, self.block_bytes, self.window_bytes)
        if self._memory is not None or any(f is None for f in files):
            return BlockShuffledOrder(num_tokens, batch_size, seed, block_rows=block_rows,
                                      window_blocks=window_blocks)
        shard_files = [ShardFile(f[0], f[1], int(start), int(s.shape[0]))
                       for f, start, s in zip(files, self._starts, self._shards, strict=False) if f is not None]
        self.reader = BlockReader(shard_files, row_bytes=self.row_bytes, dtype=_NP_STORAGE[self.dtype], d=self.d,
                                  num_rows=self.num_tokens, block_rows=block_rows, window_blocks=window_blocks)
        return BlockShuffledOrder(num_tokens, batch_size, seed, block_rows=block_rows, window_blocks=window_blocks,
                                  on_window=self.reader.enter)

    def close(self) -> None:
        """Stop the block reader's prefetch and free its windows (reads still work, through mmap)."""
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    @classmethod
    def open(cls, cache_dir: str | os.PathLike[str], fingerprint: str | None = None) -> ActivationCache:
        """Open a complete disk cache; ``IncompleteCacheError`` when it is half-written, damaged or stale."""
        root = Path(cache_dir)
        manifest = _read_manifest(root)
        if fingerprint is not None and manifest["fingerprint"] != fingerprint:
            raise IncompleteCacheError(f"{root}: cache was built for other settings (model, layer, context "
                                       "or data changed)")
        dtype, d = _DTYPES[manifest["dtype"]], manifest["d"]
        shards = []
        for entry in manifest["shards"]:
            file = root / entry["file"]
            try:
                arr = np.load(file, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise IncompleteCacheError(f"{file}: unreadable shard ({e})") from e
            if arr.shape != (entry["rows"], d) or arr.dtype != _NP_STORAGE[dtype]:
                raise IncompleteCacheError(f"{file}: shape {arr.shape} {arr.dtype}, manifest says "
                                           f"({entry['rows']}, {d}) {manifest['dtype']}")
            shards.append(arr)
        cache = cls(d=d, dtype=dtype, shards=shards, path=str(root))
        if cache.num_tokens != manifest["num_tokens"]:
            raise IncompleteCacheError(f"{root}: shards hold {cache.num_tokens} rows, manifest says "
                                       f"{manifest['num_tokens']}")
        return cache

    @classmethod
    def union(cls, parts: Sequence[ActivationCache]) -> ActivationCache:
        """Disk caches (e.g. one per DDP rank) read as one, rows in part order."""
        if not parts or any(p._memory is not None for p in parts):
            raise ValueError("union() needs one or more disk caches")
        if len({(p.d, p.dtype) for p in parts}) != 1:
            raise ValueError("union() parts differ in width or dtype")
        return cls(d=parts[0].d, dtype=parts[0].dtype, shards=[s for p in parts for s in p._shards],
                   path=parts[0].path, block_bytes=parts[0].block_bytes, window_bytes=parts[0].window_bytes)

    def read(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` (any order, repeats allowed) as a ``[len(idx), d]`` cpu tensor of ``self.dtype``."""
        if self._memory is not None:
            return self._memory.index_select(0, idx.to(torch.long))
        flat = idx.to(torch.long).cpu().numpy()
        if flat.size and (flat.min() < 0 or flat.max() >= self.num_tokens):
            raise IndexError(f"activation rows must be in [0, {self.num_tokens})")
        out = self.reader.gather(flat) if self.reader is not None and flat.size else None
        if out is None:
            out = self._read_mapped(flat)
        tensor = torch.from_numpy(out)
        return tensor.view(torch.bfloat16) if self.dtype == torch.bfloat16 else tensor

    def _read_mapped(self, flat: np.ndarray) -> np.ndarray:
        order = np.argsort(flat, kind="stable")  # sorted reads: sequential pages within each shard
        rows = flat[order]
        shard_of = np.searchsorted(self._starts, rows, side="right") - 1
        out = np.empty((flat.size, self.d), dtype=_NP_STORAGE[self.dtype])
        for s in np.unique(shard_of):
            sel = shard_of == s
            out[order[sel]] = self._shards[s][rows[sel] - self._starts[s]]
        return out


def _shard_file(shard: np.ndarray) -> tuple[str, int] | None:
    """``(path, byte offset of the data)`` of a shard opened with ``np.load(mmap_mode="r")``; None otherwise."""
    if not isinstance(shard, np.memmap) or shard.filename is None or not shard.flags.c_contiguous:
        return None
    return str(shard.filename), int(shard.offset)


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise IncompleteCacheError(f"{root}: no {MANIFEST} (cache missing or half-written)") from e
    except (OSError, json.JSONDecodeError) as e:
        raise IncompleteCacheError(f"{path}: unreadable ({e})") from e
    ok = (isinstance(manifest, dict) and manifest.get("version") == CACHE_VERSION
          and manifest.get("dtype") in _DTYPES and isinstance(manifest.get("d"), int)
          and isinstance(manifest.get("num_tokens"), int) and isinstance(manifest.get("fingerprint"), str)
          and isinstance(manifest.get("shards"), list)
          and all(isinstance(s, dict) and isinstance(s.get("file"), str) and isinstance(s.get("rows"), int)
                  and "/" not in s["file"] for s in manifest["shards"]))
    if not ok:
        raise IncompleteCacheError(f"{path}: not a version-{CACHE_VERSION} activation-cache manifest")
    return manifest


def fingerprint_for(model_name: str, layer: int, dtype: torch.dtype, context_size: int,
                    texts: Sequence[str]) -> str:
    """What the cached numbers depend on: model, layer, dtype, context, and every text in order (the
    window follows from the model's tokenizer and the context). Computable without loading the model."""
    h = hashlib.sha256()
    h.update(json.dumps([model_name, layer, dtype_name(dtype), context_size, CACHE_VERSION]).encode())
    for text in texts:
        h.update(hashlib.sha1(text.encode("utf-8")).digest())
    return h.hexdigest()[:32]


def cache_fingerprint(extractor: ActivationExtractor, texts: Sequence[str]) -> str:
    loaded = extractor.loaded
    return fingerprint_for(loaded.name, loaded.layer, loaded.dtype, extractor.context_size, texts)


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_activation_cache(extractor: ActivationExtractor, texts: Sequence[str], *, batch_tokens: int,
                           cache_dir: str | None, max_memory_bytes: int, mode: str = "auto",
                           shard_bytes: int = SHARD_BYTES) -> ActivationCache:
    """Extract ``texts`` once into memory or disk (see module doc); reuses a complete matching disk cache.

    ``mode``: ``auto`` (memory if it fits, else disk), ``memory`` or ``disk``.
    """
    if mode not in ("auto", "memory", "disk"):
        raise ValueError(f"cache mode must be auto, memory or disk, got {mode!r}")
    fingerprint = cache_fingerprint(extractor, texts)
    if cache_dir is not None and mode != "memory":
        try:
            return ActivationCache.open(cache_dir, fingerprint)
        except IncompleteCacheError:
            pass  # build below
    n_tokens = extractor.count_tokens(texts)
    dtype = extractor.loaded.dtype
    if n_tokens == 0:
        raise DataError("the dataset has no content tokens to extract activations from")
    need = n_tokens * extractor.d * torch.finfo(dtype).bits // 8
    use_memory = mode == "memory" or (mode == "auto" and need <= max_memory_bytes)
    if not use_memory and cache_dir is None:
        raise DataError(f"activations need {need / 2**30:.1f} GiB, more than the {max_memory_bytes / 2**30:.1f} "
                        "GiB memory budget: give a cache directory (activation_cache: disk) or use fewer tokens")
    batches: Iterable[torch.Tensor] = extractor.iter_batches(texts, batch_tokens)
    if use_memory:
        return _fill_memory(batches, n_tokens, extractor.d, dtype)
    return _write_disk(batches, Path(cache_dir), extractor.d, dtype, fingerprint, shard_bytes)  # type: ignore[arg-type]


def _fill_memory(batches: Iterable[torch.Tensor], n_tokens: int, d: int, dtype: torch.dtype) -> ActivationCache:
    memory = torch.empty((n_tokens, d), dtype=dtype)
    row = 0
    for acts in batches:
        memory[row:row + acts.shape[0]] = acts.to("cpu", dtype)
        row += acts.shape[0]
    if row != n_tokens:
        raise RuntimeError(f"extracted {row} tokens, the tokenizer count said {n_tokens}")
    return ActivationCache(d=d, dtype=dtype, memory=memory)


def _write_disk(batches: Iterable[torch.Tensor], root: Path, d: int, dtype: torch.dtype, fingerprint: str,
                shard_bytes: int) -> ActivationCache:
    if root.exists():
        shutil.rmtree(root)  # a half-written or stale cache: nothing in it can be trusted
    root.mkdir(parents=True)
    rows_per_shard = max(1, shard_bytes // (d * torch.finfo(dtype).bits // 8))
    shards: list[dict[str, Any]] = []
    pending: list[torch.Tensor] = []
    pending_rows = 0

    def flush(final: bool) -> None:
        nonlocal pending, pending_rows
        while pending_rows >= rows_per_shard or (final and pending_rows > 0):
            block = torch.cat(pending)
            shard, rest = block[:rows_per_shard], block[rows_per_shard:]
            storage = shard.view(torch.int16) if dtype == torch.bfloat16 else shard
            name = f"shard-{len(shards):05d}.npy"
            _write_atomic(root / name, lambda fh, a=storage.contiguous().numpy(): np.save(fh, a))
            shards.append({"file": name, "rows": int(shard.shape[0])})
            pending, pending_rows = ([rest] if rest.shape[0] else []), int(rest.shape[0])

    for acts in batches:
        pending.append(acts.to("cpu", dtype))
        pending_rows += acts.shape[0]
        flush(final=False)
    flush(final=True)
    manifest = {"version": CACHE_VERSION, "fingerprint": fingerprint, "d": d, "dtype": dtype_name(dtype),
                "num_tokens": sum(s["rows"] for s in shards), "shards": shards}
    _write_atomic(root / MANIFEST, lambda fh: fh.write((json.dumps(manifest, indent=1) + "\n").encode()))
    _fsync_dir(root)
    return ActivationCache.open(root, fingerprint)
