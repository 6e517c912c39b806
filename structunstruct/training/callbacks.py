"""Callbacks: side concerns of training (stopping, pruning, logging) as small objects."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .loop import Trainer


class Callback:
    """Base class; override the hooks you need."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """Called after each epoch with that epoch's history record."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch."""


class EarlyStopping(Callback):
    """Stop when the monitored value has not improved for ``patience`` epochs.

    The weights of the best epoch are restored at the end.

    Parameters
    ----------
    patience : int
    monitor : str
        Key of the history record (``"valid_loss"`` by default; lower is better).
    min_delta : float
        Improvement smaller than this does not count.
    """

    def __init__(self, patience: int = 10, monitor: str = "valid_loss", min_delta: float = 0.0):
        self.patience = patience
        self.monitor = monitor
        self.min_delta = min_delta

    def on_train_begin(self, trainer: Trainer) -> None:
        self.best_ = float("inf")
        self.best_epoch_ = -1
        self.best_state_ = None
        self.wait_ = 0

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        value = record.get(self.monitor)
        if value is None:
            return
        if value < self.best_ - self.min_delta:
            self.best_, self.best_epoch_, self.wait_ = value, record["epoch"], 0
            self.best_state_ = copy.deepcopy(trainer.module.state_dict())
        else:
            self.wait_ += 1
            if self.wait_ >= self.patience:
                trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        if self.best_state_ is not None:
            trainer.module.load_state_dict(self.best_state_)
            trainer.best_epoch = self.best_epoch_
