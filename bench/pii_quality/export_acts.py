"""Write the MiniLM activations of a bench features cache as a safetensors file for ``kiln_sae train --activations``.

    .venv/bin/python bench/pii_quality/export_acts.py CACHE.pt OUT.safetensors

'train' holds every character-bearing token of the cache's train split (the generated train-template messages),
'val' those of its val split. Used to train SAE variants (width, k) without re-extracting a corpus: the same
activations the probes see, from train templates only, so val/test stay unseen by the SAE.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cache, out = Path(argv[0]), Path(argv[1])
    data = torch.load(cache, weights_only=False)
    tensors = {}
    for split in ("train", "val"):
        feats = getattr(data[split], "feats", data[split])
        tensors[split] = torch.cat([f.acts[torch.from_numpy(f.valid)] for f in feats]).contiguous()
        print(f"{split}: {tensors[split].shape[0]} tokens x {tensors[split].shape[1]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
