"""Export a Kiln SAE in SAELens's on-disk format: ``cfg.json`` + ``sae_weights.safetensors``.

Checked against sae-lens 6.54 (``SAE.load_from_disk``; bench/saelens_export/check.py loads it for real).
Kiln and SAELens compute the same thing: ``f = act((x − b_dec)·W_enc + b_enc)``, ``x̂ = f·W_dec + b_dec``,
where act is ReLU-after-TopK (``topk``) or ReLU (SAELens ``standard``). Kiln's SAE sees ``s·x_raw``
(``act_scale``); the export folds s in so raw activations go straight in, with no normalisation step:

    W_enc' = s·W_enc,  b_enc' = b_enc,  W_dec' = W_dec / s,  b_dec' = b_dec / s

since ((x − b_dec/s)·sW_enc + b_enc) equals ((sx − b_dec)·W_enc + b_enc), and (f·W_dec + b_dec)/s is the
reconstruction in raw units. TopK picks are unchanged (same pre-activations). Decoder rows are then no
longer unit norm, so ``rescale_acts_by_decoder_norm`` is false.

``hook_name`` follows TransformerLens (``blocks.L.hook_resid_post``, what SAELens tooling keys on);
``hf_hook_name`` names the same tensor as a Hugging Face module path (the output of block L, e.g.
``model.layers.12``), found by building the model on the meta device.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from kiln_sae.errors import DataError

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
# cfg.json files without a version ≥ 6 are run through SAELens's pre-6.0 key migration, so we state one.
SAELENS_FORMAT_VERSION = "6.0.0"
_ARCH = {"topk": "topk", "relu": "standard"}


@dataclass
class SaeLensExport:
    out_dir: Path
    cfg: dict[str, Any]
    files: list[Path]


def fold_scale(weights: dict[str, torch.Tensor], act_scale: float) -> dict[str, torch.Tensor]:
    s = float(act_scale)
    return {"W_enc": weights["W_enc"] * s, "b_enc": weights["b_enc"].clone(), "W_dec": weights["W_dec"] / s,
            "b_dec": weights["b_dec"] / s}


def hf_hook_name(base_model: str, layer: int, kind: str) -> str | None:
    """Module path of block ``layer`` in AutoModelForCausalLM (causal) or AutoModel (encoder); None when
    the config cannot be read here (e.g. a hub id on a machine without the hub)."""
    try:
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

        from kiln_sae.models import find_blocks, resolve_model_path

        config = AutoConfig.from_pretrained(resolve_model_path(base_model))
        with torch.device("meta"):
            model = (AutoModelForCausalLM if kind == "causal" else AutoModel).from_config(config)
        block = find_blocks(model)[layer]
        return next(name for name, module in model.named_modules() if module is block)
    except Exception:  # best effort: the field is informational, the export is valid without it
        return None


def export_saelens(sae_path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                   model_name: str | None = None, dtype: str = "float32") -> SaeLensExport:
    from safetensors.torch import save_file

    from kiln_sae.checkpoint import load_sae
    from kiln_sae.models import detect_kind, resolve_model_path

    sae, meta = load_sae(sae_path)
    arch = meta.get("architecture", "topk")
    if arch not in _ARCH:
        raise DataError(f"{sae_path}: architecture {arch!r} has no SAELens equivalent")
    if dtype not in ("float32", "bfloat16", "float16"):
        raise DataError(f"--dtype {dtype!r}: choose float32, bfloat16 or float16")
    layer = int(meta["layer"])
    kind = meta.get("model_kind")
    if kind not in ("causal", "encoder"):
        try:
            from transformers import AutoConfig

            kind = detect_kind(AutoConfig.from_pretrained(resolve_model_path(meta["base_model"])), "auto")
        except Exception:  # unreadable config here: assume the common case (Kiln's reference job is a Llama)
            kind = "causal"
    weights = fold_scale({k: v.detach().float().cpu() for k, v in sae.state_dict().items()},
                         float(meta.get("act_scale") or 1.0))
    cfg: dict[str, Any] = {
        "architecture": _ARCH[arch], "d_in": int(meta["d_in"]), "d_sae": int(meta["n_latents"]),
        "dtype": dtype, "device": "cpu", "apply_b_dec_to_input": True, "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": SAELENS_FORMAT_VERSION, "sae_lens_training_version": None,
            "model_name": model_name or meta["base_model"], "hook_name": f"blocks.{layer}.hook_resid_post",
            "hook_head_index": None, "hf_hook_name": hf_hook_name(meta["base_model"], layer, kind),
            "prepend_bos": kind == "causal", "exclude_special_tokens": True,
            "context_size": meta.get("context_size"), "dataset_path": meta.get("dataset"),
            "model_from_pretrained_kwargs": {},
            "kiln": {"act_scale_folded": float(meta.get("act_scale") or 1.0), "layer": layer,
                     "hook": meta.get("hook", "resid_post"), "model_kind": kind},
        },
    }
    if arch == "topk":
        cfg["k"] = int(meta["k"])
        cfg["rescale_acts_by_decoder_norm"] = False
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch_dtype = getattr(torch, dtype)
    weights_path, cfg_path = out / WEIGHTS_FILE, out / CFG_FILE
    tmp = weights_path.with_name(f".{WEIGHTS_FILE}.tmp-{os.getpid()}")
    save_file({k: v.to(torch_dtype).contiguous() for k, v in weights.items()}, str(tmp))
    os.replace(tmp, weights_path)
    tmp_cfg = cfg_path.with_name(f".{CFG_FILE}.tmp-{os.getpid()}")
    tmp_cfg.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_cfg, cfg_path)
    return SaeLensExport(out, cfg, [cfg_path, weights_path])
