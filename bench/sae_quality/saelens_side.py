"""sae-lens's side of the quality bench: its own ``SAETrainer`` driving a ``TopKTrainingSAE``, every setting at
the library's default (lr 3e-4 constant, no warm-up, Adam(0.9, 0.999) eps 1e-8, grad-clip 1.0, decoder init norm
0.1, ``rescale_acts_by_decoder_norm=True``, ``normalize_activations="none"``, AuxK coefficient 1, dead after 1000
steps) unless the caller overrides ``lr`` — the only knob the learning-rate comparison turns.

We call ``SAETrainer.step`` in a loop rather than ``fit()`` so the held-out score can be taken at a few points;
the loop is ``fit()``'s own minus the progress bar, W&B and checkpoints (``maybe_reset_sparsity``, ``step``,
``n_training_steps += 1``), i.e. the seam sae-lens's ``MultiSAETrainer`` uses. Batches: a fresh random
permutation of the training rows each epoch, ragged tail dropped — the order Kiln's memory cache uses.
"""
from __future__ import annotations

import time

import torch

from heldout import score
from kiln_side import sync


def _batches(train: torch.Tensor, batch_size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    per_epoch = train.shape[0] // batch_size
    while True:
        perm = torch.randperm(train.shape[0], generator=g)
        for s in range(per_epoch):
            yield train[perm[s * batch_size:(s + 1) * batch_size]]


def _encode_decode(sae):
    def run(x: torch.Tensor):
        feats = sae.encode(x)
        return sae.decode(feats), feats != 0
    return run


def train_saelens(train: torch.Tensor, heldout: torch.Tensor, *, n: int, k: int, tokens: int, seed: int = 0,
                  batch_size: int = 4096, lr: float | None = None, curve_points: int = 8,
                  curve_tokens: int = 32_768, device: str = "cpu") -> dict:
    import sae_lens
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    curve_eval = heldout[:curve_tokens]
    start = time.perf_counter()
    torch.manual_seed(seed)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=train.shape[1], d_sae=n, k=k, dtype="float32", device=device))
    rate = lr if lr is not None else SAETrainerConfig.lr  # the dataclass default, 3e-4
    # lr_end = lr / 10 is what LanguageModelSAERunnerConfig's post-init fills in (unused by the constant schedule).
    trainer_cfg = SAETrainerConfig(total_training_samples=tokens, train_batch_size_samples=batch_size,
                                   device=device, lr=rate, lr_end=rate / 10)
    trainer = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=_batches(train, batch_size, seed))
    total = trainer_cfg.total_training_steps
    marks = {max(1, round(total * (i + 1) / curve_points)) for i in range(curve_points)}
    excluded = 0.0
    curve: list[dict] = []
    sae.to(device)
    while trainer.n_training_samples < trainer_cfg.total_training_samples:
        trainer.maybe_reset_sparsity()
        trainer.step(next(trainer.data_provider))
        trainer.n_training_steps += 1
        if trainer.n_training_steps in marks:
            sync(device)
            t0 = time.perf_counter()
            sae.eval()
            ev = score(_encode_decode(sae), curve_eval, n, device=device)
            curve.append({"step": trainer.n_training_steps, "tokens": trainer.n_training_samples,
                          "train_s": t0 - start - excluded, "explained_variance": ev["explained_variance"]})
            excluded += time.perf_counter() - t0
    sync(device)
    train_s = time.perf_counter() - start - excluded
    sae.eval()
    final = score(_encode_decode(sae), heldout, n, device=device)
    return {"library": "sae_lens", "sae_lens_version": sae_lens.__version__, "n": n, "k": k,
            "tokens": trainer.n_training_samples, "steps": trainer.n_training_steps, "seed": seed,
            "learning_rate": trainer_cfg.lr, "learning_rate_setting": "default" if lr is None else lr,
            "train_s": train_s, "tokens_per_s": trainer.n_training_samples / train_s, "heldout": final,
            "curve": curve, "compute_dtype": "float32 (autocast off: the default)", "device": device}
