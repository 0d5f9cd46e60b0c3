"""Evaluate a trained SAE on held-out texts: reconstruction (MSE, FVU/EV, normalised MSE), sparsity (L0, dead
fraction over the eval window) and, for causal LMs, CE-loss recovered — formulas in kiln_sae.metrics_math.

CE-loss recovered splices into the *full* model's forward at block L, through a forward hook that replaces
the block's output at content tokens only (special tokens such as BOS keep their clean value: the SAE never
trained on them, and BOS's outlier norm would otherwise dominate the damage). Three runs per batch on the
same tokens: clean, SAE reconstruction, zero ablation. CE is the mean next-token cross-entropy over every
real (non-pad) target token.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from kiln_sae.activations import ActivationExtractor, batch_tensors, pack_by_length
from kiln_sae.metrics_math import ReconstructionStats, SparsityStats, ce_loss_recovered
from kiln_sae.models import (block_output, detect_kind, find_blocks, load_full_causal_model, load_truncated_model,
                             resolve_model_path)


class _Evaluator:
    """Accumulates reconstruction and sparsity metrics for one SAE in its input space (raw × act_scale)."""

    def __init__(self, sae: torch.nn.Module, act_scale: float) -> None:
        self.sae, self.scale = sae, act_scale
        self.recon = ReconstructionStats()
        self.sparsity = SparsityStats(int(sae.n_latents))
        self.loss_sum = 0.0

    @torch.inference_mode()
    def add(self, raw: torch.Tensor) -> torch.Tensor:
        """Add a ``[N, d]`` batch of raw activations; returns the reconstruction in raw space."""
        x = raw.float().to(next(self.sae.parameters()).device) * self.scale
        out = self.sae(x)
        self.recon.add(x, out.recon)
        if out.values is not None and out.indices is not None:
            self.sparsity.add_sparse(out.values, out.indices)
        else:
            self.sparsity.add_dense(out.pre_acts)
        self.loss_sum += float(out.loss) * x.shape[0]
        return out.recon / self.scale

    def result(self) -> dict[str, Any]:
        tokens = self.recon.n
        return {"tokens": tokens, "loss": self.loss_sum / tokens if tokens else None, "mse": self.recon.mse(),
                "explained_variance": self.recon.explained_variance(), "fvu": self.recon.fvu(),
                "normalized_mse": self.recon.normalized_mse(), "l0": self.sparsity.l0(),
                "dead_fraction": self.sparsity.dead_fraction(), "dead_window_tokens": tokens}


def evaluate_reconstruction(sae: torch.nn.Module, act_scale: float, batches: Iterable[torch.Tensor], *,
                            max_tokens: int | None = None) -> dict[str, Any]:
    """Metrics over raw activation batches (e.g. ``extractor.iter_batches(val_texts, …)``)."""
    ev = _Evaluator(sae, act_scale)
    for raw in batches:
        ev.add(raw)
        if max_tokens is not None and ev.recon.n >= max_tokens:
            break
    return ev.result()


def _splice_hook(keep: torch.Tensor, slot: dict[str, Any]) -> Callable[..., Any]:
    """Forward hook on block L: records the clean output, or replaces content tokens with ``slot['new']``."""

    def hook(_module: torch.nn.Module, _args: Any, output: Any) -> Any:
        hidden = block_output(output)
        if slot.get("new") is None:
            slot["clean"] = hidden[keep].detach()
            return None
        patched = hidden.clone()
        patched[keep] = slot["new"].to(hidden.dtype)
        return (patched, *output[1:]) if isinstance(output, tuple) else patched

    return hook


def _next_token_ce(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    valid = mask[:, 1:].bool()
    ce = F.cross_entropy(logits[:, :-1][valid].float(), ids[:, 1:][valid], reduction="sum")
    return float(ce), int(valid.sum())


@torch.inference_mode()
def evaluate_causal(sae: torch.nn.Module, act_scale: float, extractor: ActivationExtractor, texts: list[str], *,
                    batch_tokens: int, max_tokens: int | None = None) -> dict[str, Any]:
    """Reconstruction metrics plus CE clean / with SAE / zero-ablated, on the same batches of ``texts``."""
    loaded = extractor.loaded
    model, block = loaded.model, find_blocks(loaded.model)[loaded.layer]
    ev = _Evaluator(sae, act_scale)
    ce = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    targets = 0
    for batch in pack_by_length(extractor.training_windows(texts), batch_tokens):
        ids, mask, keep = (t.to(loaded.device) for t in batch_tensors(batch, extractor.tok.pad_token_id))
        slot: dict[str, Any] = {"new": None}
        handle = block.register_forward_hook(_splice_hook(keep, slot))
        try:
            for run in ("clean", "sae", "zero"):
                if run == "sae":
                    slot["new"] = ev.add(slot["clean"])
                elif run == "zero":
                    slot["new"] = torch.zeros_like(slot["clean"])
                logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
                total, count = _next_token_ce(logits, ids, mask)
                ce[run] += total
            targets += count
        finally:
            handle.remove()
        if max_tokens is not None and ev.recon.n >= max_tokens:
            break
    result = ev.result()
    clean, with_sae, zero = (ce[k] / max(targets, 1) for k in ("clean", "sae", "zero"))
    result.update({"ce_clean": clean, "ce_sae": with_sae, "ce_zero": zero,
                   "ce_loss_recovered": ce_loss_recovered(clean, with_sae, zero),
                   "delta_lm_loss": with_sae - clean, "ce_target_tokens": targets})
    return result


def evaluate_sae(sae: torch.nn.Module, meta: dict[str, Any], texts: list[str], *, device: str = "cpu",
                 model_dtype: str = "auto", batch_tokens: int = 4096, max_tokens: int | None = None,
                 model_kind: str = "auto", with_ce: bool = True) -> dict[str, Any]:
    """Load the SAE's base model and evaluate on ``texts`` (CE-loss recovered for causal LMs only)."""
    layer, context = int(meta["layer"]), int(meta.get("context_size") or 256)
    scale = float(meta.get("act_scale") or 1.0)
    from transformers import AutoConfig

    from kiln_sae.errors import ConfigError

    try:
        config = AutoConfig.from_pretrained(resolve_model_path(meta["base_model"]))
    except (OSError, ValueError) as e:
        raise ConfigError(f"base_model {meta['base_model']!r} of the SAE: cannot load its config ({e})") from e
    if detect_kind(config, model_kind) == "causal" and with_ce:
        # The full LM also serves extraction (run_to_layer stops at block L): one copy of the weights.
        full = load_full_causal_model(meta["base_model"], layer, device, model_dtype)
        return evaluate_causal(sae, scale, ActivationExtractor(full, context), texts,
                               batch_tokens=batch_tokens, max_tokens=max_tokens)
    loaded = load_truncated_model(meta["base_model"], layer, device, model_dtype, model_kind)
    extractor = ActivationExtractor(loaded, context)
    result = evaluate_reconstruction(sae, scale, extractor.iter_batches(texts, batch_tokens),
                                     max_tokens=max_tokens)
    result.update({"ce_clean": None, "ce_sae": None, "ce_zero": None, "ce_loss_recovered": None,
                   "delta_lm_loss": None})
    return result
