"""Activation cache: memory and disk give the same rows; half-written, damaged or stale caches are rebuilt;
a complete one is reused without a forward pass."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kiln_sae.activations import ActivationExtractor
from kiln_sae.cache import MANIFEST, ActivationCache, IncompleteCacheError, build_activation_cache
from kiln_sae.errors import DataError
from kiln_sae.models import load_truncated_model

TEXTS = [f"Document {i}: the cache stores activations for sentence number {i} of the test." for i in range(12)]


@pytest.fixture(scope="module")
def extractor(tiny_llama_path: str) -> ActivationExtractor:
    return ActivationExtractor(load_truncated_model(tiny_llama_path, 1, "cpu", "fp32"), context_size=32)


def count_forwards(extractor: ActivationExtractor, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = extractor.loaded.run_to_layer
    monkeypatch.setattr(extractor.loaded, "run_to_layer", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    return calls


def test_memory_and_sharded_disk_caches_hold_the_same_rows(extractor, tmp_path: Path) -> None:
    mem = build_activation_cache(extractor, TEXTS, batch_tokens=128, cache_dir=None, max_memory_bytes=2**30)
    assert mem.location == "memory" and mem.num_tokens == extractor.count_tokens(TEXTS) and mem.d == 64
    # max_memory_bytes=0 forces disk; tiny shards force several of them.
    disk = build_activation_cache(extractor, TEXTS, batch_tokens=128, cache_dir=str(tmp_path / "c"),
                                  max_memory_bytes=0, shard_bytes=64 * 4 * 37)
    assert disk.location == "disk" and disk.num_tokens == mem.num_tokens
    assert len(json.loads((tmp_path / "c" / MANIFEST).read_text())["shards"]) > 3
    idx = torch.randint(0, mem.num_tokens, (200,))
    torch.testing.assert_close(disk.read(idx), mem.read(idx), rtol=0, atol=0)
    all_rows = torch.cat(list(extractor.iter_batches(TEXTS, 128)))
    torch.testing.assert_close(mem.read(torch.arange(mem.num_tokens)), all_rows, rtol=0, atol=0)


def test_complete_cache_is_reused_without_forward(extractor, tmp_path: Path, monkeypatch) -> None:
    build_activation_cache(extractor, TEXTS, batch_tokens=128, cache_dir=str(tmp_path), max_memory_bytes=0)
    calls = count_forwards(extractor, monkeypatch)
    again = build_activation_cache(extractor, TEXTS, batch_tokens=128, cache_dir=str(tmp_path),
                                   max_memory_bytes=0)
    assert calls == [] and again.location == "disk"
    reopened = ActivationCache.open(tmp_path)
    assert reopened.num_tokens == again.num_tokens


def test_half_written_damaged_or_stale_cache_is_rebuilt(extractor, tmp_path: Path, monkeypatch) -> None:
    first = build_activation_cache(extractor, TEXTS, batch_tokens=128, cache_dir=str(tmp_path),
                                   max_memory_bytes=0, shard_bytes=64 * 4 * 50)
    expected = first.read(torch.arange(first.num_tokens)).clone()
    shard = tmp_path / "shard-00001.npy"
    shard.write_bytes(shard.read_bytes()[:-100])  # a crash mid-write of a shard
    with pytest.raises(IncompleteCacheError, match="shard-00001.npy"):
        ActivationCache.open(tmp_path)
    calls = count_forwards(extractor, monkeypatch)
    rebuilt = build_activation_cache(extractor, TEXTS, batch_tokens=128, cache_dir=str(tmp_path),
                                     max_memory_bytes=0)
    assert calls and torch.equal(rebuilt.read(torch.arange(rebuilt.num_tokens)), expected)
    (tmp_path / MANIFEST).unlink()  # a crash before the manifest: the cache is not complete
    with pytest.raises(IncompleteCacheError, match="no manifest.json"):
        ActivationCache.open(tmp_path)
    built = build_activation_cache(extractor, TEXTS, batch_tokens=128, cache_dir=str(tmp_path), max_memory_bytes=0)
    with pytest.raises(IncompleteCacheError, match="other settings"):
        ActivationCache.open(tmp_path, fingerprint="0" * 32)
    calls.clear()
    other = build_activation_cache(extractor, TEXTS[:3], batch_tokens=128, cache_dir=str(tmp_path),
                                   max_memory_bytes=0)
    assert calls and other.num_tokens < built.num_tokens


def test_bf16_activations_round_trip_through_disk(tiny_llama_path: str, tmp_path: Path) -> None:
    ex = ActivationExtractor(load_truncated_model(tiny_llama_path, 0, "cpu", "bf16"), context_size=32)
    mem = build_activation_cache(ex, TEXTS[:4], batch_tokens=128, cache_dir=None, max_memory_bytes=2**30)
    disk = build_activation_cache(ex, TEXTS[:4], batch_tokens=128, cache_dir=str(tmp_path), max_memory_bytes=0)
    assert disk.dtype == torch.bfloat16
    idx = torch.arange(disk.num_tokens).flip(0)
    assert torch.equal(disk.read(idx), mem.read(idx))


def test_too_big_for_memory_without_a_directory_is_a_data_error(extractor) -> None:
    with pytest.raises(DataError, match="more than the 0.0 GiB memory budget"):
        build_activation_cache(extractor, TEXTS, batch_tokens=128, cache_dir=None, max_memory_bytes=10)
