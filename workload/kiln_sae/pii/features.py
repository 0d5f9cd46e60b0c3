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
    shape: np.ndarray | None = None  # [T, N_SHAPE] orthographic bits (pii.shape); None in caches made before them

    def with_shape(self, text: str) -> "TokenFeatures":
        """These features with their shape bits (computed from ``text``, the string the offsets index)."""
        if self.shape is None:
            from kiln_sae.pii.shape import token_shapes

            self.shape = token_shapes(text, self.offsets, self.valid)
        return self


class MultiLayerModel:
    """A ``LoadedModel`` look-alike whose ``run_to_layer`` returns the residual streams after several blocks,
    concatenated per token (``[B, T, d·len(layers)]``) from one forward that stops after the last of them.
    The extractor only needs ``model``, ``tokenizer``, ``device``, ``d_model`` and ``run_to_layer``."""

    def __init__(self, loaded: Any, layers: list[int]) -> None:
        self._loaded = loaded
        self.layers = sorted(layers)
        self.model, self.tokenizer, self.device = loaded.model, loaded.tokenizer, loaded.device
        self.kind, self.name, self.layer, self.dtype = loaded.kind, loaded.name, loaded.layer, loaded.dtype
        self.n_layers = loaded.n_layers
        self.d_model = loaded.d_model * len(self.layers)

    def run_to_layer(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        from kiln_sae.models import StopForward, block_output, find_blocks

        blocks = find_blocks(self.model)
        captured: dict[int, torch.Tensor] = {}
        last = self.layers[-1]

        def hook_for(i: int):
            def hook(_m: Any, _a: Any, output: Any) -> None:
                captured[i] = block_output(output)
                if i == last:
                    raise StopForward
            return hook

        handles = [blocks[i].register_forward_hook(hook_for(i)) for i in self.layers]
        try:
            try:
                self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            except StopForward:
                pass
        finally:
            for h in handles:
                h.remove()
        return torch.cat([captured[i] for i in self.layers], dim=-1)


class FeatureSource:
    """Loads the base model once; ``extract(texts)`` returns one TokenFeatures per text. With ``layers``
    (several block indices) each token's features are those residual streams concatenated; ``layer`` is
    then the last of them. With ``line_breaks`` the model reads each text with its escaped line breaks shown as
    real ones (``escape.shown_line_breaks``; same length, so the offsets index the text as given)."""

    def __init__(self, base_model: str, layer: int, *, context_size: int = 256, device: str = "cpu",
                 model_kind: str = "auto", batch_size: int = 32, layers: list[int] | None = None,
                 line_breaks: bool = False) -> None:
        from kiln_sae.activations import ActivationExtractor
        from kiln_sae.models import load_truncated_model

        self.layers = sorted(layers) if layers else None
        if self.layers:
            layer = self.layers[-1]
        self.loaded = load_truncated_model(base_model, layer, device, "fp32", model_kind)
        if self.layers and self.layers != [layer]:
            self.loaded = MultiLayerModel(self.loaded, self.layers)
        self.context_size = context_size
        self.line_breaks = line_breaks
        self.device = device
        self.batch_size = batch_size
        self._extractor = ActivationExtractor(self.loaded, context_size, device)

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    def extract(self, texts: list[str]) -> list[TokenFeatures]:
        out = []
        if self.line_breaks:
            from kiln_sae.pii.escape import shown_line_breaks

            texts = [shown_line_breaks(t) for t in texts]
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i:i + self.batch_size]
            for text, ta in zip(batch, self._extractor.extract_with_offsets(batch), strict=True):
                offsets = np.asarray(ta.offsets, dtype=np.int64).reshape(-1, 2)
                valid = ~np.asarray(ta.special_mask, dtype=bool) & (offsets[:, 1] > offsets[:, 0])
                out.append(TokenFeatures(ta.acts.float().cpu(), offsets, valid).with_shape(text))
        return out
