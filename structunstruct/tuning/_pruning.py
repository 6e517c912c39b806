"""Pruning: stop unpromising trials from their per-epoch validation loss.

A :class:`PruningCallback` is a training callback
(:class:`~structunstruct.training.Callback`): after every epoch it reports the
validation loss of the fold being trained to the Optuna trial and raises
``optuna.TrialPruned`` when the trial's pruner says so (the pattern of
optuna-integration's skorch callback).

The rule across cross-validation folds. A trial trains one model per fold; fold
``k`` (counted from 0) reports its epoch ``e`` (counted from 1) at step
``k * max_epochs + e``. A step therefore names one fold and one epoch, and every
trial trains that fold on the same rows, with the same internal validation rows
(the folds and the estimator's seed are fixed for the whole study), so the values
that a pruner compares at one step are comparable across trials, although the
level of the loss differs from fold to fold (a Cox partial likelihood depends on
the rows). Optuna's median/percentile pruners compare the trial's best value so
far (over all its steps, earlier folds included) with the median of the completed
trials at the current step. The best value is at least the current one, so a trial
is never pruned on a comparison harsher than "this fold, this epoch, against the
others"; where an earlier fold had a better loss level the rule is lenient, and in
practice most pruning happens in the first fold, which is where it saves most.
Trials stopped by early stopping simply report fewer steps. The reported value is
the validation loss turned into the direction of the study: ``-valid_loss`` when
the study maximizes a score (C-index, log-likelihood), ``valid_loss`` when it
minimizes. A non-finite validation loss (diverged training) prunes at once.

Optuna does not prune multi-objective studies; :func:`~structunstruct.tuning.tune`
attaches no callback there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..training import Callback
from . import _imports

if TYPE_CHECKING:  # pragma: no cover
    from ..training import Trainer


class PruningCallback(Callback):
    """Report the validation loss of each epoch to an Optuna trial; prune when told.

    Parameters
    ----------
    trial : optuna.trial.Trial
        The running trial.
    fold : int
        Index of the cross-validation fold this model is trained on (from 0).
    max_epochs : int
        The estimator's ``max_epochs``: fold ``fold`` reports epoch ``e`` at step
        ``fold * max_epochs + e``.
    maximize : bool
        Whether the study maximizes its objective; the loss is then reported negated.
    monitor : str, default="valid_loss"
        Key of the training history record that is reported (lower is better).

    Attributes
    ----------
    epochs_ : int
        Epochs reported so far in this fold.
    """

    def __init__(
        self, trial: Any, fold: int, max_epochs: int, maximize: bool, monitor: str = "valid_loss"
    ) -> None:
        self.trial = trial
        self.fold = fold
        self.max_epochs = max_epochs
        self.maximize = maximize
        self.monitor = monitor

    def on_train_begin(self, trainer: Trainer) -> None:
        self.epochs_ = 0

    def step(self, epoch: int) -> int:
        """The trial step of ``epoch`` (from 1) in this fold.

        Parameters
        ----------
        epoch : int
            Epoch within this fold, counted from 1.

        Returns
        -------
        int
            ``fold * max_epochs + epoch``.
        """
        return self.fold * self.max_epochs + epoch

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.epochs_ = int(record["epoch"])
        loss = record.get(self.monitor)
        if loss is None:  # no validation rows (validation_fraction=0): nothing to judge
            return
        optuna = _imports.optuna()
        loss = float(loss)
        if not math.isfinite(loss):
            self._record_epochs()
            raise optuna.TrialPruned(
                f"{self.monitor} was {loss} in fold {self.fold}, epoch {self.epochs_}"
            )
        self.trial.report(-loss if self.maximize else loss, self.step(self.epochs_))
        if self.trial.should_prune():
            self._record_epochs()
            raise optuna.TrialPruned(
                f"pruned in fold {self.fold} at epoch {self.epochs_} "
                f"({self.monitor}={loss:.4g})"
            )

    def _record_epochs(self) -> None:
        self.trial.set_user_attr("pruned_fold", self.fold)
        self.trial.set_user_attr("pruned_epoch", self.epochs_)
