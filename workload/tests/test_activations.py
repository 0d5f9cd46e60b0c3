"""Activation extraction: the forward stops after block L, and what comes out is exactly resid_post of L
for real (non-pad, non-special) tokens — on the real MiniLM and on a tiny random Llama."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModel

from kiln_sae.activations import ActivationExtractor, estimate_act_scale
from kiln_sae.errors import ConfigError
from kiln_sae.models import LoadedModel, find_blocks, load_tokenizer, load_truncated_model

TEXTS = ["Hello, my name is Alice.", "The quick brown fox jumps over the lazy dog, twice.", "Paris"]
LONG = " ".join(["Sparse autoencoders find features in the residual stream of a language model."] * 6)


def full_hidden(path: str, layer: int, text: str, tok) -> torch.Tensor:
    model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    enc = tok(text, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc, output_hidden_states=True)
    return out.hidden_states[layer + 1][0]


@pytest.mark.parametrize("which,layer", [("tiny_llama_path", 1), ("minilm_path", 2)])
def test_truncated_forward_equals_full_model_hidden_state(request, which: str, layer: int) -> None:
    path = request.getfixturevalue(which)
    loaded = load_truncated_model(path, layer, "cpu", "fp32")
    assert len(find_blocks(loaded.model)) == layer + 1  # later blocks were never loaded
    ex = ActivationExtractor(loaded, context_size=64)
    got = ex.extract_with_offsets([TEXTS[1]])[0]
    want = full_hidden(path, layer, TEXTS[1], loaded.tokenizer)
    assert got.acts.shape == want.shape
    torch.testing.assert_close(got.acts, want, rtol=1e-5, atol=1e-5)


def test_blocks_after_layer_never_run_even_when_loaded(tiny_llama_path: str) -> None:
    model = AutoModel.from_pretrained(tiny_llama_path, dtype=torch.float32).eval()
    calls = {i: 0 for i in range(4)}
    for i, block in enumerate(find_blocks(model)):
        block.register_forward_hook(lambda *_a, i=i: calls.__setitem__(i, calls[i] + 1))
    norm_calls = []
    model.norm.register_forward_hook(lambda *_a: norm_calls.append(1))
    loaded = LoadedModel(model, load_tokenizer(tiny_llama_path), "causal", 64, 4, "tiny", 1, torch.float32,
                         torch.device("cpu"))
    ids = torch.tensor([[1, 70, 71, 72]])
    out = loaded.run_to_layer(ids, torch.ones_like(ids))
    assert out.shape == (1, 4, 64)
    assert calls == {0: 1, 1: 1, 2: 0, 3: 0}
    assert norm_calls == []


@pytest.mark.parametrize("which", ["tiny_llama_path", "minilm_path"])
def test_iter_batches_excludes_padding_and_special_tokens(request, which: str) -> None:
    path = request.getfixturevalue(which)
    loaded = load_truncated_model(path, 1, "cpu", "fp32")
    ex = ActivationExtractor(loaded, context_size=64)
    n_content = [len(loaded.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TEXTS]
    batched = torch.cat(list(ex.iter_batches(TEXTS, batch_tokens=4096)))  # one padded batch
    single = torch.cat([torch.cat(list(ex.iter_batches([t], batch_tokens=4096))) for t in TEXTS])
    assert batched.shape == (sum(n_content), loaded.d_model) == single.shape
    assert ex.count_tokens(TEXTS) == sum(n_content)
    # Packing reorders rows by length; as multisets the rows are identical to unpadded one-text runs.
    torch.testing.assert_close(batched.norm(dim=-1).sort().values, single.norm(dim=-1).sort().values,
                               rtol=1e-5, atol=1e-5)
    # And none of them is a special token's activation: compare with the specials' own rows.
    per_text = ex.extract_with_offsets(TEXTS)
    content_rows = torch.cat([t.acts[~t.special_mask] for t in per_text])
    torch.testing.assert_close(content_rows.norm(dim=-1).sort().values, batched.norm(dim=-1).sort().values,
                               rtol=1e-5, atol=1e-5)


def test_small_batch_tokens_still_yields_every_token(tiny_llama_path: str) -> None:
    ex = ActivationExtractor(load_truncated_model(tiny_llama_path, 0, "cpu", "fp32"), context_size=32)
    batches = list(ex.iter_batches(TEXTS + [LONG], batch_tokens=40))
    assert len(batches) > 2
    assert sum(b.shape[0] for b in batches) == ex.count_tokens(TEXTS + [LONG])


@pytest.mark.parametrize("which", ["tiny_llama_path", "minilm_path"])
def test_long_text_windows_merge_exactly(request, which: str) -> None:
    path = request.getfixturevalue(which)
    loaded = load_truncated_model(path, 1, "cpu", "fp32")
    ex = ActivationExtractor(loaded, context_size=24)
    (got,) = ex.extract_with_offsets([LONG])
    ids = loaded.tokenizer(LONG, add_special_tokens=False)["input_ids"]
    assert len(ids) > 3 * ex.window  # several windows
    n_pre, n_suf = len(ex.prefix), len(ex.suffix)
    assert got.input_ids.tolist() == ex.prefix + ids + ex.suffix  # every token exactly once, in order
    # Expected: token i comes from the earliest window [s, s + window) that contains it, run on its own.
    starts = list(range(0, len(ids) - ex.window + 1, ex.stride))
    if starts[-1] + ex.window < len(ids):
        starts.append(len(ids) - ex.window)
    alone = {}
    for s in starts:
        window = torch.tensor([ex.prefix + ids[s:s + ex.window] + ex.suffix])
        alone[s] = loaded.run_to_layer(window, torch.ones_like(window))[0]
    for i in range(len(ids)):
        s = next(s for s in starts if s <= i < s + ex.window)
        torch.testing.assert_close(got.acts[n_pre + i], alone[s][n_pre + i - s], rtol=1e-5, atol=1e-5)
    # Offsets point at the token's characters in the original text.
    content = got.offsets[~got.special_mask]
    assert content[0, 0] >= 0 and content[-1, 1] == len(LONG.rstrip(".")) + 1
    assert bool((content[1:, 0] >= content[:-1, 0]).all())
    assert got.special_mask.sum().item() == n_pre + n_suf


def test_act_scale_gives_mean_norm_sqrt_d(minilm_path: str) -> None:
    ex = ActivationExtractor(load_truncated_model(minilm_path, 3, "cpu", "fp32"), context_size=64)
    scale = estimate_act_scale(ex, TEXTS)
    acts = torch.cat(list(ex.iter_batches(TEXTS, 4096)))
    assert (acts * scale).norm(dim=-1).mean().item() == pytest.approx(384 ** 0.5, rel=1e-4)


def test_bad_layer_and_context_are_config_errors(minilm_path: str) -> None:
    with pytest.raises(ConfigError, match=r"layer: 6 is out of range .*0\.\.5"):
        load_truncated_model(minilm_path, 6, "cpu", "fp32")
    with pytest.raises(ConfigError, match="context_size: 1000 exceeds"):
        ActivationExtractor(load_truncated_model(minilm_path, 0, "cpu", "fp32"), context_size=1000)


def test_special_token_text_inside_a_document_is_excluded(minilm_path: str) -> None:
    ex = ActivationExtractor(load_truncated_model(minilm_path, 0, "cpu", "fp32"), context_size=64)
    (got,) = ex.extract_with_offsets(["before [SEP] after"])
    sep = ex.tok.sep_token_id
    inner = [i for i, t in enumerate(got.input_ids.tolist()) if t == sep and 0 < i < len(got.input_ids) - 1]
    assert inner and bool(got.special_mask[inner].all())  # the literal "[SEP]" became a special token
    assert sum(b.shape[0] for b in ex.iter_batches(["before [SEP] after"], 512)) == int((~got.special_mask).sum())
