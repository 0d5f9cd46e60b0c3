"""The activations both libraries train on: MiniLM layer 3 (d=384) over generated chat, extracted once.

    .venv/bin/python bench/sae_quality/activations.py [--train-tokens 1200000 --heldout-tokens 100000]
        [--out bench/.work/sae_quality/minilm-l3.safetensors]

Training text is chat from the train templates of ``kiln_sae.pii.generate``; the held-out text comes from the
*test* templates with another seed, so the held-out tokens share no template with anything either SAE saw.
Activations are raw (no act_scale): each library applies its own input scaling, as its users would.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "bench" / ".work" / "sae_quality" / "minilm-l3.safetensors"
MODEL, LAYER, CONTEXT = "minilm", 3, 128


def chat_texts(n: int, split: str, seed: int) -> list[str]:
    from kiln_sae.chat import render_conversation
    from kiln_sae.pii.generate import Generator

    return [render_conversation(c, f"{split}:{i}") for i, c in enumerate(Generator(seed=seed).conversations(n, split))]


def texts_for_tokens(extractor, tokens: int, split: str, seed: int) -> list[str]:
    """Enough conversations for ``tokens`` content tokens (counted with the tokenizer, no forward)."""
    n = 2000
    while True:
        texts = chat_texts(n, split, seed)
        have = extractor.count_tokens(texts)
        if have >= tokens:
            return texts
        n = int(n * tokens / max(have, 1) * 1.05) + 1


def extract(extractor, texts: list[str], tokens: int) -> torch.Tensor:
    parts, have, t0 = [], 0, time.perf_counter()
    for batch in extractor.iter_batches(texts, batch_tokens=8192):
        parts.append(batch.float().cpu())
        have += batch.shape[0]
        if have >= tokens:
            break
    acts = torch.cat(parts)[:tokens].contiguous()
    print(f"  {acts.shape[0]:,} tokens in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return acts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train-tokens", type=int, default=1_200_000)
    p.add_argument("--heldout-tokens", type=int, default=100_000)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from safetensors.torch import save_file

    from kiln_sae.activations import ActivationExtractor
    from kiln_sae.models import load_truncated_model

    extractor = ActivationExtractor(load_truncated_model(MODEL, LAYER, "cpu", "fp32"), CONTEXT)
    tensors = {}
    for name, split, seed, tokens in (("train", "train", 1, args.train_tokens), ("heldout", "test", 2,
                                                                                  args.heldout_tokens)):
        print(f"{name}: chat from the {split} templates, seed {seed}", file=sys.stderr)
        tensors[name] = extract(extractor, texts_for_tokens(extractor, tokens, split, seed), tokens)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out), metadata={"model": MODEL, "layer": str(LAYER), "context_size": str(CONTEXT)})
    print(f"-> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
