"""Dataset → activation sources for ``train`` and ``prepare``: read and filter texts, load the model cut at
block L, extract, cache.

Caches live in ``<output_dir>/activations/{train,val}`` and carry a fingerprint of model, layer, dtype,
context and texts, so ``prepare`` followed by ``train`` (or a restarted ``train``) extracts once.
``activation_cache``: ``auto`` = memory when it fits half the host's available RAM, else disk; ``memory``;
``disk``. ``none`` (the data does not fit anywhere): ``build_stream`` gives a re-runnable extraction
stream that ``train`` feeds through ``shuffle_buffer.StreamedActivations``; ``build_sources`` refuses it.

Under torchrun every rank reads the same texts (deterministic), rank r extracts texts[r::W] into its own
disk part, all ranks wait at a barrier, then each opens the union of the parts — every rank can read any
row, which the world-size-independent data order needs. The parts must be on a filesystem all ranks
share (one machine, or a shared volume).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kiln_sae.activations import ActivationExtractor
from kiln_sae.cache import ActivationCache, IncompleteCacheError, build_activation_cache, fingerprint_for
from kiln_sae.data import PreparedTexts, load_texts
from kiln_sae.errors import ConfigError
from kiln_sae.models import load_truncated_model, resolve_dtype

_log = logging.getLogger("kiln_sae.pipeline")
DEFAULT_BATCH_TOKENS = 16_384


def batch_tokens_for(device: Any) -> int:
    """Tokens per extraction forward: 64k on a GPU keeps it busy (an 8B model's first dozen blocks at 64k
    tokens need a few GB of activations); 16k on CPU keeps host memory small."""
    return 65_536 if str(device).startswith("cuda") else DEFAULT_BATCH_TOKENS


def memory_budget_bytes(fraction: float = 0.5) -> int:
    """A share of the RAM the OS reports as available right now."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * fraction)
    except (ValueError, OSError):  # not POSIX: assume a modest 8 GiB
        return 8 * 2**30


def _cache_mode(cfg: Any) -> str:
    mode = getattr(cfg, "activation_cache", "auto")
    if mode == "none":
        raise ConfigError("activation_cache: 'none' streams through build_stream, not build_sources (a bug: "
                          "please report)")
    return mode


def build_extractor(cfg: Any, device: Any) -> ActivationExtractor:
    loaded = load_truncated_model(cfg.base_model, cfg.layer, device, cfg.model_dtype, cfg.model_kind)
    return ActivationExtractor(loaded, cfg.context_size)


def read_dataset(cfg: Any) -> PreparedTexts:
    if cfg.dataset is None:
        raise ConfigError("dataset: required to extract activations (or pass --activations FILE)")
    data = load_texts(cfg.dataset)
    _log.info("dataset: %s", data.report.as_dict())
    return data


def cache_split(extractor: ActivationExtractor, texts: list[str], root: Path, *, mode: str, rank: int = 0,
                world_size: int = 1, batch_tokens: int = DEFAULT_BATCH_TOKENS) -> ActivationCache | None:
    """One split's cache (None for an empty split), per-rank parts under torchrun."""
    if not texts:
        return None
    if world_size == 1:
        return build_activation_cache(extractor, texts, batch_tokens=batch_tokens, cache_dir=str(root),
                                      max_memory_bytes=memory_budget_bytes(), mode=mode)
    import torch.distributed as dist

    part = root / f"part-{rank:03d}-of-{world_size:03d}"
    build_activation_cache(extractor, texts[rank::world_size], batch_tokens=batch_tokens, cache_dir=str(part),
                           max_memory_bytes=0, mode="disk")
    dist.barrier()  # bounded by the process group's timeout (init_distributed)
    return ActivationCache.union([ActivationCache.open(root / f"part-{r:03d}-of-{world_size:03d}")
                                  for r in range(world_size) if texts[r::world_size]])


def reuse_caches(cfg: Any, device: Any, root: Path,
                 data: PreparedTexts) -> tuple[ActivationCache, ActivationCache | None] | None:
    """Complete caches from ``prepare`` or an earlier attempt, found without loading the model (for an 8B
    model that saves a multi-GB read on every restart); None when any split has to be extracted."""
    dtype = resolve_dtype(cfg.model_dtype, device)
    opened: list[ActivationCache | None] = []
    for split, texts in (("train", data.train), ("val", data.val)):
        if not texts:
            opened.append(None)
            continue
        try:
            fp = fingerprint_for(cfg.base_model, cfg.layer, dtype, cfg.context_size, texts)
            opened.append(ActivationCache.open(root / split, fp))
        except IncompleteCacheError:
            return None
    assert opened[0] is not None
    _log.info("activations: reusing the complete cache in %s", root)
    return opened[0], opened[1]


def build_sources(cfg: Any, ctx: Any) -> tuple[ActivationCache, ActivationCache | None]:
    """``(train, val)`` activation sources for the trainer (kiln_sae.commands.train)."""
    from kiln_sae.device import resolve_device

    mode = _cache_mode(cfg)
    data = read_dataset(cfg)
    device = resolve_device(cfg.device, ctx.local_rank)
    root = Path(cfg.output_dir) / "activations"
    rank, world = ctx.rank, ctx.world_size
    if world == 1 and mode != "memory":
        reused = reuse_caches(cfg, device, root, data)
        if reused is not None:
            return reused
    extractor = build_extractor(cfg, device)
    bt = batch_tokens_for(device)
    train = cache_split(extractor, data.train, root / "train", mode=mode, rank=rank, world_size=world,
                        batch_tokens=bt)
    val = cache_split(extractor, data.val, root / "val", mode=mode, rank=rank, world_size=world, batch_tokens=bt)
    assert train is not None  # load_texts raises when no training text is left
    _log.info("activations: train %d tokens (%s), val %d tokens", train.num_tokens, train.location,
              val.num_tokens if val is not None else 0)
    del extractor  # free the model's memory before the SAE claims the device
    return train, val


def build_stream(cfg: Any, ctx: Any) -> tuple[Callable[[], Iterator[Any]], int, ActivationCache | None]:
    """For ``activation_cache: none``: ``(stream, train_tokens, val)``.

    ``stream()`` re-runs extraction over this rank's share of the training texts (``texts[rank::W]``) and
    yields ``[n, d]`` activation chunks in a fixed order — what ``kiln_sae.shuffle_buffer.ShuffleBuffer``
    takes; ``train_tokens`` is this rank's exact token count (tokenizer only) for step and ETA arithmetic.
    The validation split is small, so it is still cached (memory or disk, as ``auto``).
    """
    from kiln_sae.device import resolve_device

    data = read_dataset(cfg)
    device = resolve_device(cfg.device, ctx.local_rank)
    extractor = build_extractor(cfg, device)
    bt = batch_tokens_for(device)
    share = data.train[ctx.rank::ctx.world_size]
    val = cache_split(extractor, data.val, Path(cfg.output_dir) / "activations" / "val", mode="auto",
                      rank=ctx.rank, world_size=ctx.world_size, batch_tokens=bt)
    return (lambda: extractor.iter_batches(share, bt)), extractor.count_tokens(share), val
