"""Optional Weights & Biases mirror of the metrics. metrics.jsonl stays the source of truth: a tracker
failure is logged and tracking switches off; it never fails the training run."""
from __future__ import annotations

import logging
import os
from typing import Any, Protocol

from kiln_sae.config import WandbConfig

_log = logging.getLogger("kiln_sae.tracking")


class Tracker(Protocol):
    def log(self, values: dict[str, Any], step: int) -> None: ...
    def finish(self) -> None: ...


class NullTracker:
    def log(self, values: dict[str, Any], step: int) -> None:
        return None

    def finish(self) -> None:
        return None


class WandbTracker:
    def __init__(self, run: Any) -> None:
        self._run = run
        self.run_id: str | None = getattr(run, "id", None)  # checkpointed so a resumed run continues the same W&B run

    def log(self, values: dict[str, Any], step: int) -> None:
        if self._run is None:
            return
        try:
            self._run.log({k: v for k, v in values.items() if isinstance(v, (int, float))}, step=step)
        except Exception as e:  # noqa: BLE001 - tracking must never kill training
            _log.warning("wandb logging failed, disabling it: %s", e)
            self._run = None

    def finish(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None


def open_tracker(cfg: WandbConfig | None, config: dict[str, Any], output_dir: str, *, resume_id: str | None,
                 enabled: bool = True) -> Tracker:
    """A W&B run when configured, installed and on rank 0; otherwise a no-op tracker."""
    if cfg is None or cfg.mode == "disabled" or not enabled:
        return NullTracker()
    try:
        import wandb
    except ImportError:
        _log.warning("wandb is configured but not installed (pip install 'kiln-sae[wandb]'); continuing without it")
        return NullTracker()
    wandb_dir = os.path.join(output_dir, "wandb")
    os.makedirs(wandb_dir, exist_ok=True)
    try:
        run = wandb.init(project=cfg.project, name=cfg.run_name, mode=cfg.mode, dir=wandb_dir, config=config,
                         id=resume_id, resume="allow" if resume_id else None)
    except Exception as e:  # noqa: BLE001 - e.g. online mode without network or credentials
        _log.warning("wandb.init failed (%s); continuing without W&B, metrics.jsonl is unaffected", e)
        return NullTracker()
    return WandbTracker(run)
