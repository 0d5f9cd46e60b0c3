"""Early stopping on the validation loss (the runbook's "TUMIX" rule).

After each epoch's validation pass: the loss *improves* when it is below ``best · (1 − delta)`` (a relative
improvement of more than ``delta``). Training stops once at least ``min_epochs`` epochs are complete and the
last ``patience`` epochs in a row brought no improvement.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StopDecision:
    reason: str
    best_val_loss: float
    best_epoch: int


class EarlyStopping:
    def __init__(self, min_epochs: int, patience: int, delta: float) -> None:
        self.min_epochs, self.patience, self.delta = min_epochs, patience, delta
        self.best_val_loss: float | None = None
        self.best_epoch = -1
        self.bad_epochs = 0
        self.epochs_seen = 0

    def update(self, epoch: int, val_loss: float) -> StopDecision | None:
        """Record the validation loss after epoch ``epoch`` (0-based); return a decision when training must stop."""
        self.epochs_seen = epoch + 1
        if self.best_val_loss is None or val_loss < self.best_val_loss * (1 - self.delta):
            self.best_val_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            return None
        self.bad_epochs += 1
        if self.epochs_seen >= self.min_epochs and self.bad_epochs >= self.patience:
            return StopDecision(
                reason=(f"validation loss did not improve by more than {self.delta:.2%} for {self.bad_epochs} "
                        f"epoch(s) (patience {self.patience}); best {self.best_val_loss:.6g} after epoch "
                        f"{self.best_epoch + 1}"),
                best_val_loss=self.best_val_loss, best_epoch=self.best_epoch)
        return None

    def state_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("best_val_loss", "best_epoch", "bad_epochs", "epochs_seen"):
            setattr(self, key, state[key])

