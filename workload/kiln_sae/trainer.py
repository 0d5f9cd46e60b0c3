"""The training run: fresh start or resume, the step loop, logging, validation, early stopping, checkpoints,
SIGTERM, and the final SAE artifact. Callers hand in activation sources (anything with ``num_tokens``, ``d``
and ``read(idx)``); ``commands/train.py`` builds them from the dataset or from an activations file."""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kiln_sae import checkpoint as ckpt
from kiln_sae.batches import (ActivationSource, EpochOrder, TensorSource, epoch_order_for, rank_micro_batches,
                              sample_rows)
from kiln_sae.config import SaeConfig
from kiln_sae.device import compute_dtype_for, gpu_memory_gb, gpu_utilization, resolve_device
from kiln_sae.distributed import DistContext, all_reduce_, broadcast_
from kiln_sae.early_stopping import EarlyStopping, StopDecision
from kiln_sae.errors import ConfigError, DataError
from kiln_sae.loop import STAT_NAMES, train_step, validation_pass
from kiln_sae.metrics import MetricsWriter
from kiln_sae.optim import lr_at, make_optimizer
from kiln_sae.rng import capture_rng, restore_rng, seed_everything
from kiln_sae.sae import SparseAutoencoder
from kiln_sae.shuffle_buffer import StreamedActivations
from kiln_sae.tracking import NullTracker, Tracker

_log = logging.getLogger("kiln_sae.trainer")
INIT_SAMPLE_TOKENS = 32_768


@dataclass
class TrainResult:
    reason: str  # completed | early_stop | token_budget | sigterm
    step: int
    tokens: int
    final: dict[str, Any]
    sae: SparseAutoencoder
    artifacts: list[ckpt.SavedFile] = field(default_factory=list)


@dataclass
class _RunState:
    step: int = 0
    act_scale: float = 1.0
    dead_counter: torch.Tensor | None = None  # tokens since each latent last fired
    resumed_from: str | None = None
    wandb_id: str | None = None


def _resolve_resume(cfg: SaeConfig) -> Path | None:
    if cfg.resume_from == "none":
        return None
    if cfg.resume_from == "auto":
        return ckpt.find_latest_valid(cfg.output_dir, _log)
    path = Path(cfg.resume_from)
    if not path.exists():
        raise ConfigError(f"resume_from: {path} does not exist (use 'auto' or 'none')")
    return path if path.is_file() else ckpt.find_latest_valid(path.parent if path.name == ckpt.CHECKPOINT_DIR else path)


def sae_meta(cfg: SaeConfig, sae: SparseAutoencoder, act_scale: float) -> dict[str, Any]:
    return {"base_model": cfg.base_model, "layer": cfg.layer, "hook": cfg.hook, "context_size": cfg.context_size,
            "act_scale": act_scale, "d_in": sae.d_in, "n_latents": sae.n_latents, "k": sae.k,
            "aux_k": sae.aux_k, "architecture": sae.architecture, "model_kind": cfg.model_kind,
            "config_hash": cfg.config_hash()}


class Trainer:
    def __init__(self, cfg: SaeConfig, train: ActivationSource | StreamedActivations,
                 val: ActivationSource | None = None, *,
                 metrics: MetricsWriter | None = None, stop: threading.Event | None = None,
                 ctx: DistContext | None = None, tracker: Tracker | None = None, rank_local: bool = False) -> None:
        """``rank_local``: under torchrun each rank's sources hold only its own share of the data (the dataset
        pipeline extracts per rank); otherwise every rank sees all rows and reads its slice of each batch.
        A ``StreamedActivations`` train source (``activation_cache: none``) is always rank-local: each rank
        streams its own share through its own shuffle buffer, ``batch_size / world_size`` rows per step."""
        self.cfg, self.train_src, self.val_src = cfg, train, val
        self.stream = train if isinstance(train, StreamedActivations) else None
        self.ctx = ctx or DistContext()
        self.metrics = metrics or MetricsWriter(None, echo=False, enabled=False)
        self.stop = stop or threading.Event()
        self.tracker = tracker or NullTracker()
        self.device = resolve_device(cfg.device, self.ctx.local_rank)
        self.rank_local = rank_local and self.ctx.active
        self.val_rank_local = self.rank_local
        if self.stream is not None:
            # Ranks stop each epoch at the shortest share, so every all-reduce has a partner.
            local = all_reduce_(torch.tensor([self.stream.steps_per_epoch], device=self.device), self.ctx, "min")
            self.order = EpochOrder(int(local.item()) * self.stream.batch_size, self.stream.batch_size, cfg.seed)
            self.rank_local = self.ctx.active
        elif self.rank_local:
            # Each rank permutes its own rows; all ranks must agree on the number of steps per epoch.
            local = all_reduce_(torch.tensor([train.num_tokens], device=self.device), self.ctx, "min")
            n_rows = int(local.item())
            self.order = epoch_order_for(train, n_rows, cfg.batch_size // self.ctx.world_size, cfg.seed)
        else:
            # A disk cache reads in its own block-shuffled order (whole blocks, prefetched); memory: random rows.
            self.order = epoch_order_for(train, train.num_tokens, cfg.batch_size, cfg.seed)
        if self.order.steps_per_epoch == 0:
            where = " on this rank" if self.stream is not None else ""
            raise DataError(f"only {train.num_tokens} training tokens{where}: batch_size {cfg.batch_size} needs at "
                            "least that many; lower batch_size or add data")
        if cfg.batch_size % (self.ctx.world_size * cfg.gradient_accumulation_steps) != 0:
            raise ConfigError(f"batch_size: {cfg.batch_size} must be divisible by world_size × "
                              f"gradient_accumulation_steps = {self.ctx.world_size * cfg.gradient_accumulation_steps}")
        self.total_steps = cfg.total_steps(self.order.steps_per_epoch)
        self.warmup = cfg.warmup_for(self.total_steps)
        self.decay = cfg.decay_steps_for(self.total_steps)
        spe = self.order.steps_per_epoch
        self.save_interval = max(1, round(cfg.save_every * spe)) if cfg.save_every is not None else None
        seed_everything(cfg.seed)
        d = train.d
        n = cfg.n_latents(d)
        if cfg.architecture == "topk" and cfg.k > n:
            raise ConfigError(f"k: must be <= the number of latents ({n}), got {cfg.k}")
        self.sae = SparseAutoencoder(d, n, architecture=cfg.architecture, k=cfg.k, aux_k=cfg.aux_k_for(d),
                                     aux_k_coefficient=cfg.aux_k_coefficient, l1_coefficient=cfg.l1_coefficient,
                                     compute_dtype=compute_dtype_for(cfg.mixed_precision, self.device),
                                     generator=torch.Generator().manual_seed(cfg.seed))
        self.lr_choice = cfg.learning_rate_for(d_in=d, n_latents=n, total_steps=self.total_steps)
        self.base_lr = self.lr_choice.value
        self.early = (EarlyStopping(cfg.early_stopping.min_epochs, cfg.early_stopping.patience,
                                    cfg.early_stopping.delta) if cfg.early_stopping else None)
        self.state = _RunState()
        self._restore_or_init()
        self.sae.to(self.device)
        scale = torch.tensor([self.state.act_scale], dtype=torch.float64, device=self.device)
        broadcast_([*(p.data for p in self.sae.parameters()), scale], self.ctx)
        self.state.act_scale = float(scale.item())
        self.optimizer = make_optimizer(list(self.sae.parameters()), self.base_lr, self.device)
        if self._pending_optimizer_state is not None:
            self.optimizer.load_state_dict(self._pending_optimizer_state)
        if cfg.compile:
            self.sae.compile()  # the SAE forward only: the step's optimiser/all-reduce code stays eager

    # ---- start / resume ------------------------------------------------------------------------------
    def _restore_or_init(self) -> None:
        self._pending_optimizer_state = None
        path = _resolve_resume(self.cfg)
        if path is None:
            if self.stream is not None:
                sample = self.stream.head(INIT_SAMPLE_TOKENS).float()
            else:
                rows = sample_rows(self.train_src.num_tokens, INIT_SAMPLE_TOKENS, self.cfg.seed)
                sample = self.train_src.read(rows).float()
            if self.cfg.normalize_activations:
                # Scale so the mean norm is √d (SAELens "expected_average_only_in"): lr and k transfer across models.
                self.state.act_scale = float(math.sqrt(self.train_src.d) / sample.norm(dim=1).mean().clamp_min(1e-12))
            self.sae.init_b_dec_(sample * self.state.act_scale)
            self.state.dead_counter = torch.zeros(self.sae.n_latents, dtype=torch.long)
            return
        state = ckpt.load_checkpoint(path)
        saved_order = state.get("data_order", "cache")
        if self.stream is None and saved_order != "stream" and saved_order != self._data_order():
            # Random rows (memory) or blocks (disk): either cache reads either order, so keep the checkpoint's
            # batches when the cache moved (another machine's RAM, another world size).
            self.order = epoch_order_for(self.train_src, self.order.num_tokens, self.order.batch_size, self.cfg.seed,
                                         saved_order)
        if saved_order != self._data_order():
            was = "none (streamed)" if saved_order == "stream" else "auto/memory/disk (cached)"
            raise ConfigError(f"activation_cache: checkpoint {path} was written with activation_cache {was}, which "
                              "reads batches in another order; set it back, or resume_from: none to start over")
        if state["config_hash"] != self.cfg.config_hash():
            raise ConfigError(f"resume_from: checkpoint {path} was written with a different config (hash "
                              f"{state['config_hash']} != {self.cfg.config_hash()}); restore that config, or set "
                              "resume_from: none (or a new output_dir) to start over")
        self.sae.load_state_dict(state["model"])
        self._pending_optimizer_state = state["optimizer"]
        restore_rng(state["rng"])
        self.state = _RunState(step=int(state["step"]), act_scale=float(state["sae_meta"]["act_scale"]),
                               dead_counter=state["dead_counter"].clone(), resumed_from=str(path),
                               wandb_id=state.get("wandb_id"))
        if self.early is not None and state.get("early_stopping") is not None:
            self.early.load_state_dict(state["early_stopping"])

    def _checkpoint_state(self) -> dict[str, Any]:
        spe = self.order.steps_per_epoch
        return {"format": ckpt.FORMAT_VERSION, "step": self.state.step, "epoch": self.state.step // spe,
                "step_in_epoch": self.state.step % spe, "tokens": self.state.step * self.cfg.batch_size,
                "config": self.cfg.to_dict(), "config_hash": self.cfg.config_hash(),
                "sae_meta": sae_meta(self.cfg, self.sae, self.state.act_scale),
                "model": {k: v.detach().cpu() for k, v in self.sae.state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "rng": capture_rng(),
                "dead_counter": self.state.dead_counter.detach().cpu(),
                "early_stopping": self.early.state_dict() if self.early else None,
                "world_size": self.ctx.world_size, "wandb_id": self.state.wandb_id,
                "data_order": self._data_order()}

    def _data_order(self) -> str:
        # Streamed and cached runs read rows in different orders; resuming one as the other would silently
        # train on a different sequence of batches (activation_cache is otherwise an operational key).
        return "stream" if self.stream is not None else self.order.kind

    def save_checkpoint(self) -> None:
        if not self.ctx.is_main:
            return
        saved = ckpt.save_checkpoint(self.cfg.output_dir, self._checkpoint_state(), self.state.step,
                                     self.cfg.keep_checkpoints)
        self.metrics.emit("checkpoint_saved", step=self.state.step, epoch=self._epoch_float(),
                          tokens=self._tokens(), path=os.path.relpath(saved.path, self.cfg.output_dir),
                          sha256=saved.sha256, bytes=saved.bytes)

    # ---- helpers -------------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """The schedule's rate for optimiser step ``step`` (0-based): warm-up, flat, linear decay to 0."""
        return lr_at(step, self.base_lr, self.warmup, self.total_steps, self.decay)

    def _epoch_float(self) -> float:
        return round(self.state.step / self.order.steps_per_epoch, 6)

    def _tokens(self) -> int:
        return self.state.step * self.cfg.batch_size

    def _stop_requested(self) -> bool:
        if not self.ctx.active:
            return self.stop.is_set()
        # Every rank must leave the loop at the same step, or the next all-reduce would hang.
        flag = torch.tensor([1 if self.stop.is_set() else 0], dtype=torch.uint8, device=self.device)
        return bool(all_reduce_(flag, self.ctx, "max").item())

    def _validate(self, epoch: int) -> tuple[dict[str, Any] | None, StopDecision | None]:
        if self.val_src is None or self.val_src.num_tokens == 0:
            return None, None
        self.sae.eval()
        ev = validation_pass(self.sae, self.val_src, act_scale=self.state.act_scale,
                             batch_size=self.cfg.batch_size, device=self.device, ctx=self.ctx,
                             rank_local=self.val_rank_local)
        self.sae.train()
        fields = {"step": self.state.step, "epoch": self._epoch_float(), "tokens": self._tokens(), "split": "val",
                  "loss": ev["loss"], "mse": ev["mse"], "l0": ev["l0"], "explained_variance": ev["explained_variance"],
                  "dead_fraction": ev["dead_fraction"]}
        self.metrics.emit("eval", **fields)
        self.tracker.log({f"val/{k}": v for k, v in fields.items() if k != "split"}, self.state.step)
        decision = self.early.update(epoch, ev["loss"]) if self.early is not None else None
        return fields, decision

    # ---- the loop ------------------------------------------------------------------------------------
    def _micro_batches(self, epoch: int, in_epoch: int) -> tuple[ActivationSource, list[torch.Tensor]]:
        accum = self.cfg.gradient_accumulation_steps
        if self.stream is not None:
            rows = self.stream.batch(epoch, in_epoch)  # this rank's share of the global batch
            return TensorSource(rows), rank_micro_batches(torch.arange(rows.shape[0]), 0, 1, accum)
        batch = self.order.global_batch(epoch, in_epoch)
        if self.rank_local:
            return self.train_src, rank_micro_batches(batch, 0, 1, accum)
        return self.train_src, rank_micro_batches(batch, self.ctx.rank, self.ctx.world_size, accum)

    def run(self) -> TrainResult:
        cfg, spe = self.cfg, self.order.steps_per_epoch
        total_tokens = self.total_steps * cfg.batch_size
        if self.ctx.is_main:
            _log.info("learning rate %s", self.lr_choice.reason)
        self.metrics.emit("start", phase="train", resumed=self.state.resumed_from is not None, step=self.state.step,
                          config_hash=cfg.config_hash(), total_steps=self.total_steps, total_tokens=total_tokens,
                          world_size=self.ctx.world_size, device=str(self.device), pid=os.getpid(),
                          learning_rate=self.base_lr, learning_rate_reason=self.lr_choice.reason)
        dead_counter = self.state.dead_counter.to(self.device)
        self.state.dead_counter = dead_counter
        threshold = cfg.dead_tokens_threshold
        reason = "token_budget" if cfg.tokens is not None else "completed"
        last_train: dict[str, Any] = {}
        last_eval: dict[str, Any] | None = None
        t_log, step_log = time.perf_counter(), self.state.step
        self.sae.train()
        while self.state.step < self.total_steps:
            epoch, in_epoch = divmod(self.state.step, spe)
            source, micro = self._micro_batches(epoch, in_epoch)
            dead_mask = dead_counter >= threshold if cfg.architecture == "topk" else None
            result = train_step(self.sae, self.optimizer, micro, source, act_scale=self.state.act_scale,
                                   dead_mask=dead_mask, lr=self.lr_at(self.state.step),
                                   grad_clip=cfg.grad_clip, device=self.device, ctx=self.ctx)
            dead_counter += cfg.batch_size
            dead_counter.masked_fill_(result.fired, 0)
            self.state.step += 1
            step = self.state.step
            if step % cfg.log_every == 0 or step == self.total_steps:
                now = time.perf_counter()
                rate = (step - step_log) * cfg.batch_size / max(now - t_log, 1e-9)
                t_log, step_log = now, step
                values = dict(zip(STAT_NAMES, (float(v) for v in result.stats.cpu())))
                last_train = {"step": step, "epoch": self._epoch_float(), "tokens": self._tokens(),
                              "loss": values["loss"], "mse": values["mse"], "l0": values["l0"],
                              "l1": values["l1"] if cfg.architecture == "relu" else None,
                              "explained_variance": 1.0 - values["fvu"],
                              "dead_fraction": float((dead_counter >= threshold).float().mean()),
                              "lr": self.lr_at(step - 1), "tokens_per_s": round(rate, 1),
                              "gpu_mem_gb": gpu_memory_gb(self.device), "gpu_util": gpu_utilization(self.device),
                              "eta_s": round((self.total_steps - step) * cfg.batch_size / rate, 1) if rate > 0 else None}
                self.metrics.emit("train", **last_train)
                self.tracker.log({f"train/{k}": v for k, v in last_train.items()}, step)
            decision = None
            if step % spe == 0:
                ev, decision = self._validate(step // spe - 1)
                last_eval = ev or last_eval
            stopping = self._stop_requested()
            due = (step == self.total_steps or decision is not None or stopping
                   or (cfg.save_every_steps is not None and step % cfg.save_every_steps == 0)
                   or (self.save_interval is not None and step % self.save_interval == 0))
            if due:
                self.save_checkpoint()
            if decision is not None:
                self.metrics.emit("early_stop", step=step, epoch=self._epoch_float(), reason=decision.reason,
                                  best_val_loss=decision.best_val_loss, best_epoch=decision.best_epoch)
                reason = "early_stop"
                break
            if stopping:
                reason = "sigterm"
                break
        return self._finish(reason, last_train, last_eval)

    def _finish(self, reason: str, last_train: dict[str, Any], last_eval: dict[str, Any] | None) -> TrainResult:
        final: dict[str, Any] = {k: last_train.get(k) for k in ("loss", "mse", "l0", "explained_variance",
                                                                "dead_fraction")}
        if last_eval is not None:
            final["val"] = {k: last_eval[k] for k in ("loss", "mse", "l0", "explained_variance", "dead_fraction")}
        artifacts: list[ckpt.SavedFile] = []
        if self.ctx.is_main and reason != "sigterm":
            artifacts = ckpt.save_final_sae(self.cfg.output_dir, self.sae,
                                            sae_meta(self.cfg, self.sae, self.state.act_scale))
            for a in artifacts:
                self.metrics.emit("artifact", path=os.path.relpath(a.path, self.cfg.output_dir), sha256=a.sha256,
                                  bytes=a.bytes, role="sae")
        self.metrics.emit("done", phase="train", step=self.state.step, tokens=self._tokens(), final=final,
                          reason=reason)
        self.tracker.finish()
        return TrainResult(reason=reason, step=self.state.step, tokens=self._tokens(), final=final, sae=self.sae,
                           artifacts=artifacts)
