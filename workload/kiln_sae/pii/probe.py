"""Linear per-token probes: one on SAE latents (sparse input, only the k active latents are touched, via
``nn.EmbeddingBag`` with per-sample weights) and the same probe on raw residual activations (the baseline).
Both are multinomial logistic regression over BIO tags, trained with class weights so rare PII tags are not
drowned by "O" (recall matters more than precision for a redactor)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from kiln_sae.pii.align import IGNORE


def _hidden_init(weight: torch.Tensor, fan_in_active: int) -> None:
    # Small random first layer (a zero one would never move: ReLU's gradient is 0 there); scaled by the
    # number of inputs active per row, not the vocabulary, since a sparse row touches only those.
    nn.init.normal_(weight, std=1.0 / math.sqrt(max(fan_in_active, 1)))


class SparseLinearProbe(nn.Module):
    """logits = Σ_j value_j · W[index_j] + b, over the k active latents of each token. With ``hidden`` > 0 a
    one-hidden-layer branch is added to the linear one (logits += U · relu(Σ_j value_j · V[index_j] + c)):
    still one cheap pass over the active latents, but conjunctions of features can count."""

    def __init__(self, n_features: int, n_tags: int, hidden: int = 0, active: int = 64) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(n_features, n_tags, mode="sum")
        nn.init.zeros_(self.bag.weight)
        self.bias = nn.Parameter(torch.zeros(n_tags))
        self.hidden = hidden
        if hidden:
            self.hid = nn.EmbeddingBag(n_features, hidden, mode="sum")
            _hidden_init(self.hid.weight, active)
            self.hid_bias = nn.Parameter(torch.zeros(hidden))
            self.out = nn.Linear(hidden, n_tags, bias=False)
            nn.init.zeros_(self.out.weight)

    def forward(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        logits = self.bag(indices, per_sample_weights=values) + self.bias
        if self.hidden:
            logits = logits + self.out(F.relu(self.hid(indices, per_sample_weights=values) + self.hid_bias))
        return logits


class DenseLinearProbe(nn.Module):
    """logits = W · standardise(x) + b; mean and std come from the training tokens and are saved with it.
    ``hidden`` > 0 adds the same one-hidden-layer branch as ``SparseLinearProbe``'s."""

    def __init__(self, n_features: int, n_tags: int, hidden: int = 0) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, n_tags)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.hidden = hidden
        if hidden:
            self.hid = nn.Linear(n_features, hidden)
            _hidden_init(self.hid.weight, n_features)
            nn.init.zeros_(self.hid.bias)
            self.out = nn.Linear(hidden, n_tags, bias=False)
            nn.init.zeros_(self.out.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        logits = self.linear(z)
        if self.hidden:
            logits = logits + self.out(F.relu(self.hid(z)))
        return logits


class HybridProbe(nn.Module):
    """logits = sparse probe over SAE latents + dense probe over raw activations (one linear model on the
    concatenation): a separate system, reported next to both, never in place of the SAE probe."""

    def __init__(self, n_sparse: int, n_dense: int, n_tags: int) -> None:
        super().__init__()
        self.sparse = SparseLinearProbe(n_sparse, n_tags)
        self.dense = DenseLinearProbe(n_dense, n_tags)

    def forward(self, values: torch.Tensor, indices: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.sparse(values, indices) + self.dense(x)


@dataclass
class ProbeTraining:
    epochs: int = 30
    lr: float = 1e-2
    batch_size: int = 1024
    weight_decay: float = 1e-5
    class_weight_power: float = 0.5  # weight_c ∝ (1/freq_c)^power; 0.5 is a softened inverse frequency
    seed: int = 0
    input_dropout: float = 0.0  # drop this share of each token's input features while training (still linear)
    hidden: int = 0  # width of the probe's one-hidden-layer branch beside the linear one (0: linear only)


def class_weights(tags: torch.Tensor, n_tags: int, power: float) -> torch.Tensor:
    counts = torch.bincount(tags[tags != IGNORE], minlength=n_tags).float()
    w = torch.where(counts > 0, (counts.sum() / counts.clamp(min=1)) ** power, torch.zeros_like(counts))
    return w / w[counts > 0].mean()


class ContextRows:
    """Row-aligned base features of many texts laid end to end with ``context`` zero rows between texts, so
    the context window of row i is rows i-c..i+c and never crosses a text. ``rows(idx)`` builds the probe's
    input for those rows on the fly — the same concatenation as ``detector.with_context`` — so the
    [tokens, (2c+1)·d] matrix is never materialised (at d = 768 and 300k tokens that would be 4.6 GB)."""

    def __init__(self, inputs: tuple[torch.Tensor, ...], context: int, n_latents: int | None) -> None:
        self.inputs, self.context, self.n_latents = inputs, context, n_latents
        self.offsets = torch.arange(-context, context + 1)

    def rows(self, idx: torch.Tensor) -> list[torch.Tensor]:
        if self.context == 0:
            return [t[idx] for t in self.inputs]
        pos = idx[:, None] + self.offsets[None, :]  # [B, 2c+1]
        out = []
        for t in self.inputs:
            g = t[pos]  # [B, 2c+1, w]
            if not t.is_floating_point():  # latent ids: neighbour j's latents get their own id block
                g = g + (torch.arange(len(self.offsets)) * int(self.n_latents or 0))[None, :, None]
            out.append(g.reshape(len(idx), -1))
        return out


def train_probe(probe: nn.Module, inputs: tuple[torch.Tensor, ...] | ContextRows, tags: torch.Tensor, n_tags: int,
                cfg: ProbeTraining, on_epoch=None) -> list[float]:
    """Minibatch Adam over tokens. ``inputs`` are row-aligned tensors (values+indices, or dense x), or a
    ``ContextRows`` that builds each batch's rows with their context. Returns the mean loss per epoch;
    ``on_epoch(epoch, loss)`` is called after each (progress)."""
    rows = inputs if isinstance(inputs, ContextRows) else ContextRows(inputs, 0, None)
    keep_idx = torch.nonzero(tags != IGNORE).squeeze(1)
    tags = tags[keep_idx]
    dense = probe if isinstance(probe, DenseLinearProbe) else getattr(probe, "dense", None)
    if isinstance(dense, DenseLinearProbe):
        x = rows.inputs[-1][keep_idx]  # dense input is always last; per offset the same statistics
        reps = 2 * rows.context + 1
        dense.mean.copy_(x.mean(0).repeat(reps))
        dense.std.copy_(x.std(0).clamp(min=1e-6).repeat(reps))
    weights = class_weights(tags, n_tags, cfg.class_weight_power)
    opt = torch.optim.Adam(probe.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = len(tags)
    steps = max(1, math.ceil(n / cfg.batch_size)) * cfg.epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    probe.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            batch = rows.rows(keep_idx[idx])
            if cfg.input_dropout > 0:
                # Values (sparse) and dense rows are floats; latent indices are not dropped, their values are.
                batch = [F.dropout(t, cfg.input_dropout) if t.is_floating_point() else t for t in batch]
            logits = probe(*batch)
            loss = F.cross_entropy(logits, tags[idx], weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / max(n, 1))
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1])
    probe.eval()
    return losses
