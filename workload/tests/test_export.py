"""SAELens export: files, cfg fields and weights round-trip, and SAELens's forward math on the exported
weights (mirrored here: f = act((x − b_dec)W_enc + b_enc), x̂ = f W_dec + b_dec) reproduces Kiln's SAE on
raw activations with act_scale folded in. bench/saelens_export/check.py does the same with sae-lens itself."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kiln_sae.checkpoint import save_final_sae
from kiln_sae.export import export_saelens
from kiln_sae.sae import SparseAutoencoder


def saved_sae(tmp_path: Path, arch: str, base_model: str, layer: int) -> tuple[SparseAutoencoder, dict]:
    torch.manual_seed(1)
    d, n = 64, 256
    sae = SparseAutoencoder(d, n, architecture=arch, k=8 if arch == "topk" else None)
    with torch.no_grad():  # non-trivial biases so a wrong fold shows up
        sae.b_dec.normal_(0, 0.5)
        sae.b_enc.normal_(0, 0.1)
    meta = {"base_model": base_model, "layer": layer, "hook": "resid_post", "act_scale": 0.37, "d_in": d,
            "n_latents": n, "k": sae.k, "architecture": arch, "context_size": 128}
    save_final_sae(tmp_path / "run", sae, meta)
    return sae.eval(), meta


def saelens_forward(cfg: dict, w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    if cfg["architecture"] == "topk":
        vals, idx = pre.topk(cfg["k"], dim=-1)
        f = torch.zeros_like(pre).scatter(-1, idx, vals.relu())
    else:
        f = pre.relu()
    return f @ w["W_dec"] + w["b_dec"]


@pytest.mark.parametrize("arch", ["topk", "relu"])
def test_export_matches_kiln_reconstruction_on_raw_activations(tmp_path: Path, tiny_llama_path: str,
                                                                arch: str) -> None:
    sae, meta = saved_sae(tmp_path, arch, tiny_llama_path, 2)
    result = export_saelens(tmp_path / "run" / "sae", tmp_path / "export")
    cfg = json.loads((tmp_path / "export" / "cfg.json").read_text())
    w = load_file(str(tmp_path / "export" / "sae_weights.safetensors"))
    assert sorted(w) == ["W_dec", "W_enc", "b_dec", "b_enc"]
    assert (w["W_enc"].shape, w["W_dec"].shape, w["b_enc"].shape, w["b_dec"].shape) == (
        (64, 256), (256, 64), (256,), (64,))
    assert cfg == result.cfg
    assert cfg["architecture"] == {"topk": "topk", "relu": "standard"}[arch]
    assert (cfg["d_in"], cfg["d_sae"], cfg["normalize_activations"], cfg["apply_b_dec_to_input"]) == (
        64, 256, "none", True)
    assert cfg["metadata"]["hook_name"] == "blocks.2.hook_resid_post"
    assert cfg["metadata"]["hf_hook_name"] == "model.layers.2"  # in LlamaForCausalLM
    assert cfg["metadata"]["prepend_bos"] is True and cfg["metadata"]["context_size"] == 128
    if arch == "topk":
        assert cfg["k"] == 8 and cfg["rescale_acts_by_decoder_norm"] is False
    raw = torch.randn(50, 64) * 3.0
    with torch.no_grad():
        kiln = sae(raw * meta["act_scale"]).recon / meta["act_scale"]
    torch.testing.assert_close(saelens_forward(cfg, w, raw), kiln, rtol=1e-4, atol=1e-4)


def test_encoder_export_names_the_bert_block(tmp_path: Path, minilm_path: str) -> None:
    saved_sae(tmp_path, "topk", minilm_path, 3)
    cfg = export_saelens(tmp_path / "run", tmp_path / "out", model_name="all-MiniLM-L6-v2").cfg
    assert cfg["metadata"]["hf_hook_name"] == "encoder.layer.3"
    assert cfg["metadata"]["prepend_bos"] is False and cfg["metadata"]["model_name"] == "all-MiniLM-L6-v2"
