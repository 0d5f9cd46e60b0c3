"""Under torchrun (2 CPU processes, gloo) each rank extracts its share of the texts into its own part and
every rank then reads the union: the same rows as a single-process cache, in part order."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from kiln_sae.activations import ActivationExtractor
from kiln_sae.cache import build_activation_cache
from kiln_sae.models import load_truncated_model

TEXTS = [f"Rank test document {i} has a few words about caching activations." for i in range(9)]

WORKER = r"""
import json, sys, torch
from pathlib import Path
from kiln_sae.activations import ActivationExtractor
from kiln_sae.distributed import init_distributed, shutdown
from kiln_sae.models import load_truncated_model
from kiln_sae.pipeline import cache_split

model, out, texts = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
ctx = init_distributed()
ex = ActivationExtractor(load_truncated_model(model, 1, "cpu", "fp32"), context_size=32)
cache = cache_split(ex, texts, out / "cache", mode="auto", rank=ctx.rank, world_size=ctx.world_size)
rows = cache.read(torch.arange(cache.num_tokens))
torch.save(rows, out / f"rows-{ctx.rank}.pt")
shutdown(ctx)
"""


def test_two_ranks_build_parts_and_read_the_union(tmp_path: Path, tiny_llama_path: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "--no-python", sys.executable, "-c", WORKER, tiny_llama_path, str(tmp_path),
         json.dumps(TEXTS)],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    parts = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert parts == ["part-000-of-002", "part-001-of-002"]
    rank0, rank1 = torch.load(tmp_path / "rows-0.pt"), torch.load(tmp_path / "rows-1.pt")
    assert torch.equal(rank0, rank1)  # every rank sees every row
    ex = ActivationExtractor(load_truncated_model(tiny_llama_path, 1, "cpu", "fp32"), context_size=32)
    expected = torch.cat([build_activation_cache(ex, TEXTS[r::2], batch_tokens=16_384, cache_dir=None,
                                                 max_memory_bytes=2**30).read(torch.arange(n))
                          for r, n in ((0, ex.count_tokens(TEXTS[0::2])), (1, ex.count_tokens(TEXTS[1::2])))])
    torch.testing.assert_close(rank0, expected, rtol=1e-5, atol=1e-5)
