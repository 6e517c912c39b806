"""Callbacks: side concerns of training (stopping, pruning, logging) as small objects."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from .loop import Trainer


class Callback:
    """Base class; override the hooks you need."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch.

        Parameters
        ----------
        trainer : Trainer
            The running trainer.
        """

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """Called after each epoch with that epoch's history record.

        Parameters
        ----------
        trainer : Trainer
            The running trainer.
        record : dict
            The epoch's history record (``epoch``, ``train_loss``, ``valid_loss``, ...).
        """

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch.

        Parameters
        ----------
        trainer : Trainer
            The running trainer.
        """

    def state_dict(self) -> dict[str, Any]:
        """The state that a resumed fit needs (:mod:`~structunstruct.training.checkpoint`).

        Tensors, numbers, strings, lists and dicts only; empty for a stateless callback.
        Called after ``on_epoch_end``.

        Returns
        -------
        dict
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (called after ``on_train_begin``).

        Parameters
        ----------
        state : dict
        """


class EarlyStopping(Callback):
    """Stop when the monitored value has not improved for ``patience`` epochs.

    The weights of the best epoch are restored at the end (the weights that were
    validated: the averaged ones under :class:`WeightAveraging`).

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
            self.best_state_ = copy.deepcopy(trainer.evaluated_module().state_dict())
        else:
            self.wait_ += 1
            if self.wait_ >= self.patience:
                trainer.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best_, "best_epoch": self.best_epoch_, "wait": self.wait_,
                "best_state": self.best_state_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_, self.best_epoch_, self.wait_ = state["best"], state["best_epoch"], state["wait"]
        self.best_state_ = state["best_state"]

    def on_train_end(self, trainer: Trainer) -> None:
        if self.best_state_ is not None:
            trainer.module.load_state_dict(self.best_state_)
            trainer.best_epoch = self.best_epoch_


class WeightAveraging(Callback):
    """Validate and keep an exponential moving average (EMA) of the weights.

    After every optimizer step the averaged copy moves towards the trained weights,
    ``avg <- d avg + (1 - d) w``; the validation loss (and so early stopping, which
    then restores the best averaged weights) is computed with the average, and the
    trained module ends with the averaged weights. Averaging smooths the noise of
    small mini-batches (a Cox partial likelihood on 64 rows is very noisy), which
    helps most where an image encoder learns from weak survival labels. BatchNorm
    statistics are averaged the same way.

    Parameters
    ----------
    decay : float
        Weight ``d`` of the old average per step; the average spans roughly the last
        ``1 / (1 - decay)`` steps.
    warmup : bool
        Use ``min(decay, (1 + t) / (10 + t))`` at step ``t``, so the average forgets the
        random initial weights quickly in short trainings (as timm's ``ModelEmaV3``).

    Attributes
    ----------
    average_ : torch.nn.Module
        The averaged copy of the module during training.
    n_updates_ : int
        Optimizer steps averaged so far.
    """

    def __init__(self, decay: float = 0.995, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1); got {decay!r}")
        self.decay = decay
        self.warmup = warmup

    def on_train_begin(self, trainer: Trainer) -> None:
        self.average_ = copy.deepcopy(trainer.module).eval()
        for parameter in self.average_.parameters():
            parameter.requires_grad_(False)
        self.n_updates_ = 0
        module = trainer.module
        # The tensors are updated in place during training: list them once, not per step.
        self._pairs = (_float_tensors(self.average_), _float_tensors(module))
        self._counters = [(mine, theirs) for mine, theirs in zip(
            self.average_.buffers(), module.buffers(), strict=True) if not mine.is_floating_point()]
        self._hook = trainer.optimizer.register_step_post_hook(lambda *_: self.update(module))
        trainer.eval_module = self.average_

    def current_decay(self) -> float:
        """Decay used for the next update."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + self.n_updates_) / (10.0 + self.n_updates_))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the average one step towards the weights (and buffers) of ``module``.

        Parameters
        ----------
        module : torch.nn.Module
            The trained module.
        """
        weight = 1.0 - self.current_decay()
        averaged, current = getattr(self, "_pairs", None) or (
            _float_tensors(self.average_), _float_tensors(module))
        if averaged:
            torch._foreach_lerp_(averaged, current, weight)
        counters = getattr(self, "_counters", None)
        if counters is None:
            counters = [(mine, theirs) for mine, theirs in zip(
                self.average_.buffers(), module.buffers(), strict=True) if not mine.is_floating_point()]
        for mine, theirs in counters:
            mine.copy_(theirs)  # e.g. BatchNorm's num_batches_tracked
        self.n_updates_ += 1

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average_.state_dict(), "n_updates": self.n_updates_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average_.load_state_dict(state["average"])  # in place: the update lists stay valid
        self.n_updates_ = int(state["n_updates"])

    def on_train_end(self, trainer: Trainer) -> None:
        self._hook.remove()
        trainer.module.load_state_dict(self.average_.state_dict())
        trainer.eval_module = None
        del self.average_, self._pairs, self._counters


def _float_tensors(module: nn.Module) -> list[torch.Tensor]:
    """Parameters and floating-point buffers, in a fixed order."""
    tensors = [p.detach() for p in module.parameters()]
    return tensors + [b for b in module.buffers() if b.is_floating_point()]
