"""Residual-stream activations after block L, for SAE training (``iter_batches``) and for the PII probe
(``extract_with_offsets``).

Sequences: a text is tokenized without special tokens, cut into windows of ``context_size − n_special``
tokens, and each window gets the model's own special tokens around it (BERT: [CLS] … [SEP]; Llama: <s> …),
found by diffing ``tok("a")`` with and without special tokens — the one method that works the same for
every fast tokenizer. Special tokens (and pad) are run through the model but their activations are
dropped: their norms are outliers (sparsify issue #102) and SAELens excludes them too.

Batches are packed by length: windows are sorted by length and grouped until ``batch × longest`` would
pass ``batch_tokens``, so padding stays small. Padding is on the right so positions of real tokens start
at 0 in every row, and the attention mask keeps pad out of every real token's result.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from kiln_sae.errors import ConfigError
from kiln_sae.models import LoadedModel

TEXT_CHUNK = 2048  # texts tokenized and length-sorted together; bounds host memory when streaming


@dataclass
class TextActivations:
    """One text's activations: every content token once, plus the leading/trailing special tokens."""

    acts: torch.Tensor  # [T, d] float32, cpu
    offsets: torch.Tensor  # [T, 2] int64 character offsets into the text; (0, 0) for special tokens
    special_mask: torch.Tensor  # [T] bool
    input_ids: torch.Tensor  # [T] int64


@dataclass
class _Window:
    ids: list[int]  # with special tokens
    special: list[bool]
    owner: int = 0  # index of the text (extract_with_offsets)
    first: int = 0  # index of the first content token inside the text
    keep_from: int = 0  # content tokens before this (relative to window) are owned by an earlier window


class ActivationExtractor:
    """Feeds texts through a ``LoadedModel`` (which stops after its block L)."""

    def __init__(self, loaded: LoadedModel, context_size: int, device: str | torch.device | None = None,
                 stride: int | None = None) -> None:
        self.loaded = loaded
        self.tok = loaded.tokenizer
        self.device = torch.device(device) if device is not None else loaded.device
        self.prefix, self.suffix = _special_template(self.tok)
        max_pos = getattr(loaded.model.config, "max_position_embeddings", None)
        if max_pos is not None and context_size > max_pos:
            raise ConfigError(f"context_size: {context_size} exceeds the model's {max_pos} positions")
        self.context_size = context_size
        self.window = context_size - len(self.prefix) - len(self.suffix)
        if self.window < 2:
            raise ConfigError(f"context_size: {context_size} leaves no room for text between special tokens")
        # Half-window stride: every merged token keeps at least window/2 tokens of left context.
        self.stride = stride if stride is not None else max(1, self.window // 2)
        self._special_ids = set(self.tok.all_special_ids)
        self.d = loaded.d_model

    # -- SAE training ---------------------------------------------------------------------------------
    def iter_batches(self, texts: Iterable[str], batch_tokens: int) -> Iterator[torch.Tensor]:
        """Yield ``[n_tokens, d]`` activations of content tokens (model dtype, on ``device``).

        Long texts are cut into consecutive non-overlapping windows (each with its own special tokens):
        for training every token appears once and no forward is spent twice on the same text.
        """
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) >= TEXT_CHUNK:
                yield from self._chunk_batches(chunk, batch_tokens)
                chunk = []
        if chunk:
            yield from self._chunk_batches(chunk, batch_tokens)

    def count_tokens(self, texts: Iterable[str]) -> int:
        """Content tokens ``iter_batches`` will yield for ``texts`` (cheap: tokenizer only)."""
        total = 0
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) >= TEXT_CHUNK:
                total += sum(sum(not s for s in w.special) for w in self.training_windows(chunk))
                chunk = []
        if chunk:
            total += sum(sum(not s for s in w.special) for w in self.training_windows(chunk))
        return total

    def training_windows(self, texts: Sequence[str]) -> list[_Window]:
        """Consecutive non-overlapping windows of each text, special tokens added (see iter_batches)."""
        enc = self.tok(list(texts), add_special_tokens=False)["input_ids"]
        return [self._wrap(ids[i:i + self.window]) for ids in enc for i in range(0, len(ids), self.window)]

    def _chunk_batches(self, texts: Sequence[str], batch_tokens: int) -> Iterator[torch.Tensor]:
        for batch in pack_by_length(self.training_windows(texts), batch_tokens):
            hidden, keep = self._forward(batch)
            yield hidden[keep]

    # -- PII probe --------------------------------------------------------------------------------------
    def extract_with_offsets(self, texts: list[str], batch_tokens: int = 8192) -> list[TextActivations]:
        """Per text: activations of every token with its character offsets.

        Texts longer than the window are covered by windows starting every ``stride`` tokens; each token is
        taken from the earliest window that contains it, i.e. the one where it has the most left context
        (all of the first window, then the last ``stride`` tokens of each later one).
        """
        enc = self.tok(texts, add_special_tokens=False, return_offsets_mapping=True)
        windows: list[_Window] = []
        for owner, ids in enumerate(enc["input_ids"]):
            starts = list(range(0, max(len(ids) - self.window, 0) + 1, self.stride))
            if starts[-1] + self.window < len(ids):
                starts.append(len(ids) - self.window)
            prev_end = 0
            for s in starts:
                w = self._wrap(ids[s:s + self.window])
                w.owner, w.first, w.keep_from = owner, s, prev_end - s
                prev_end = min(s + self.window, len(ids))
                windows.append(w)
        n_pre, n_suf = len(self.prefix), len(self.suffix)
        parts: list[list[tuple[int, torch.Tensor]]] = [[] for _ in texts]
        specials: list[dict[str, torch.Tensor]] = [{} for _ in texts]
        for batch in pack_by_length(windows, batch_tokens):
            hidden, _keep = self._forward(batch)
            hidden = hidden.float().cpu()
            for row, w in enumerate(batch):
                n_content = len(w.ids) - n_pre - n_suf
                h = hidden[row]
                parts[w.owner].append((w.first, h[n_pre + w.keep_from: n_pre + n_content]))
                if w.first == 0:
                    specials[w.owner]["pre"] = h[:n_pre]
                if w.first + n_content == len(enc["input_ids"][w.owner]):
                    specials[w.owner]["suf"] = h[n_pre + n_content: n_pre + n_content + n_suf]
        out: list[TextActivations] = []
        for i, ids in enumerate(enc["input_ids"]):
            content = [p for _f, p in sorted(parts[i], key=lambda fp: fp[0])]
            acts = torch.cat([specials[i].get("pre", torch.zeros(0, self.d)), *content,
                              specials[i].get("suf", torch.zeros(0, self.d))])
            offsets = [(0, 0)] * n_pre + [tuple(o) for o in enc["offset_mapping"][i]] + [(0, 0)] * n_suf
            all_ids = self.prefix + list(ids) + self.suffix
            special = [True] * n_pre + [t in self._special_ids for t in ids] + [True] * n_suf
            if acts.shape[0] != len(all_ids):
                raise RuntimeError(f"window merge produced {acts.shape[0]} tokens for {len(all_ids)} (text {i})")
            out.append(TextActivations(acts, torch.tensor(offsets, dtype=torch.long).reshape(-1, 2),
                                       torch.tensor(special, dtype=torch.bool),
                                       torch.tensor(all_ids, dtype=torch.long)))
        return out

    # -- shared -----------------------------------------------------------------------------------------
    def _wrap(self, content: list[int]) -> _Window:
        special = [True] * len(self.prefix) + [t in self._special_ids for t in content] + [True] * len(self.suffix)
        return _Window(ids=self.prefix + content + self.suffix, special=special)

    @torch.inference_mode()
    def _forward(self, batch: Sequence[_Window]) -> tuple[torch.Tensor, torch.Tensor]:
        """``hidden [B, T, d]`` and ``keep [B, T]`` (real, non-special tokens)."""
        ids, mask, keep = batch_tensors(batch, self.tok.pad_token_id)
        hidden = self.loaded.run_to_layer(ids.to(self.device), mask.to(self.device))
        return hidden, keep.to(hidden.device)


def batch_tensors(batch: Sequence[_Window], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``keep`` (real, non-special) ``[B, T]`` tensors."""
    longest = max(len(w.ids) for w in batch)
    ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    keep = torch.zeros((len(batch), longest), dtype=torch.bool)
    for row, w in enumerate(batch):
        ids[row, :len(w.ids)] = torch.tensor(w.ids)
        mask[row, :len(w.ids)] = 1
        keep[row, :len(w.ids)] = ~torch.tensor(w.special)
    return ids, mask, keep


def _special_template(tok) -> tuple[list[int], list[int]]:
    """Special tokens the tokenizer puts before and after a single sequence."""
    bare = tok("a", add_special_tokens=False)["input_ids"]
    full = tok("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(bare) + 1):
        if full[i:i + len(bare)] == bare:
            return list(full[:i]), list(full[i + len(bare):])
    raise ConfigError(f"{type(tok).__name__}: cannot locate the text between its special tokens")


def pack_by_length(windows: list[_Window], batch_tokens: int) -> Iterator[list[_Window]]:
    """Group windows sorted by length so that ``rows × longest ≤ batch_tokens`` (at least one row)."""
    ordered = sorted(windows, key=lambda w: len(w.ids))
    batch: list[_Window] = []
    for w in ordered:  # ascending, so the newest window is the longest of its batch
        if batch and (len(batch) + 1) * len(w.ids) > batch_tokens:
            yield batch
            batch = []
        batch.append(w)
    if batch:
        yield batch


def estimate_act_scale(extractor: ActivationExtractor, texts: Iterable[str], *, batch_tokens: int = 8192,
                       max_tokens: int = 100_000) -> float:
    """Multiplier that gives activations a mean L2 norm of √d (SAELens "expected_average_only_in").

    Estimated on the first ``max_tokens`` content tokens; the trainer stores it as ``act_scale`` so that
    evaluation, export and the probe apply exactly the same scale.
    """
    total, count = 0.0, 0
    for acts in extractor.iter_batches(texts, batch_tokens):
        total += acts.float().norm(dim=-1).sum().item()
        count += acts.shape[0]
        if count >= max_tokens:
            break
    if count == 0 or total == 0.0:
        raise ConfigError("normalize_activations: no tokens to estimate the scale from")
    return math.sqrt(extractor.d) / (total / count)
