"""Per-token residual activations with character offsets, for the probes and the detector.

A thin adapter over ``kiln_sae.activations.ActivationExtractor.extract_with_offsets`` (sliding windows merged
back so every character-bearing token appears once) that turns its output into what alignment needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class TokenFeatures:
    acts: torch.Tensor  # [T, d] float32 cpu
    offsets: np.ndarray  # [T, 2] int64 char offsets into the text
    valid: np.ndarray  # [T] bool: a real, character-bearing token


class FeatureSource:
    """Loads the base model once; ``extract(texts)`` returns one TokenFeatures per text."""

    def __init__(self, base_model: str, layer: int, *, context_size: int = 256, device: str = "cpu",
                 model_kind: str = "auto", batch_size: int = 32) -> None:
        from kiln_sae.activations import ActivationExtractor
        from kiln_sae.models import load_truncated_model

        self.loaded = load_truncated_model(base_model, layer, device, "fp32", model_kind)
        self.context_size = context_size
        self.device = device
        self.batch_size = batch_size
        self._extractor = ActivationExtractor(self.loaded, context_size, device)

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    def extract(self, texts: list[str]) -> list[TokenFeatures]:
        out = []
        for i in range(0, len(texts), self.batch_size):
            for ta in self._extractor.extract_with_offsets(texts[i:i + self.batch_size]):
                offsets = np.asarray(ta.offsets, dtype=np.int64).reshape(-1, 2)
                valid = ~np.asarray(ta.special_mask, dtype=bool) & (offsets[:, 1] > offsets[:, 0])
                out.append(TokenFeatures(ta.acts.float().cpu(), offsets, valid))
        return out
