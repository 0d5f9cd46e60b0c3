"""Kiln's side of the quality bench: the real ``kiln_sae.trainer.Trainer`` (so every default — act_scale,
geometric-median b_dec, warm-up, Adam eps, AuxK, unit-norm decoder, ``learning_rate: auto`` — is exactly what a
user gets), on in-memory activations, with the held-out score taken at a few points along the way.

The curve points are taken from a ``Trainer`` subclass hook that runs once per step (``_stop_requested``);
the time spent scoring is excluded from the training clock, so ``train_s`` is what the run itself took.
"""
from __future__ import annotations

import tempfile
import time

import torch

from heldout import score


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _kiln_encode_decode(sae, act_scale: float):
    def run(x: torch.Tensor):
        values, indices = sae.encode(x * act_scale)
        recon = sae.decode_sparse(values, indices) / act_scale
        active = torch.zeros(x.shape[0], sae.n_latents, dtype=torch.bool, device=x.device).scatter_(1, indices, values > 0)
        return recon, active
    return run


def train_kiln(train: torch.Tensor, heldout: torch.Tensor, *, n: int, k: int, tokens: int, seed: int = 0,
               batch_size: int = 4096, learning_rate: float | str = "auto", curve_points: int = 8,
               curve_tokens: int = 32_768, device: str = "cpu", **overrides) -> dict:
    from kiln_sae.batches import TensorSource
    from kiln_sae.config import load_config
    from kiln_sae.trainer import Trainer

    curve_eval = heldout[:curve_tokens]
    with tempfile.TemporaryDirectory() as out:
        cfg = load_config({"base_model": "bench", "layer": 0, "output_dir": out, "latents": n, "k": k,
                           "tokens": tokens, "batch_size": batch_size, "learning_rate": learning_rate,
                           "seed": seed, "device": device, "save_every": None, "log_every": 10**9,
                           "resume_from": "none", **overrides})
        clock = {"excluded": 0.0}
        curve: list[dict] = []

        class CurveTrainer(Trainer):
            def _stop_requested(self) -> bool:  # once per step, after the step: score on a fixed schedule
                step = self.state.step
                if step in marks:
                    sync(device)
                    t0 = time.perf_counter()
                    self.sae.eval()
                    ev = score(_kiln_encode_decode(self.sae, self.state.act_scale), curve_eval, n, device=device)
                    self.sae.train()
                    curve.append({"step": step, "tokens": step * batch_size,
                                  "train_s": t0 - start - clock["excluded"],
                                  "explained_variance": ev["explained_variance"]})
                    clock["excluded"] += time.perf_counter() - t0
                return super()._stop_requested()

        start = time.perf_counter()
        trainer = CurveTrainer(cfg, TensorSource(train))
        total = trainer.total_steps
        marks = {max(1, round(total * (i + 1) / curve_points)) for i in range(curve_points)}
        trainer.run()
        sync(device)
        train_s = time.perf_counter() - start - clock["excluded"]
        trainer.sae.eval()
        final = score(_kiln_encode_decode(trainer.sae, trainer.state.act_scale), heldout, n, device=device)
    return {"library": "kiln", "n": n, "k": k, "tokens": total * batch_size, "steps": total, "seed": seed,
            "learning_rate": trainer.base_lr, "learning_rate_setting": learning_rate,
            "learning_rate_reason": trainer.lr_choice.reason, "warmup_steps": trainer.warmup,
            "train_s": train_s, "tokens_per_s": total * batch_size / train_s, "heldout": final, "curve": curve,
            "compute_dtype": str(trainer.sae.compute_dtype or torch.float32), "device": device}
