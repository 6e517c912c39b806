"""Training history of the deep estimators."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._axes import fitted, get_ax


def plot_training_history(model: Any, *, ax: Any = None) -> Any:
    """Training and validation loss per epoch, and the epoch whose weights were kept.

    Parameters
    ----------
    model : fitted estimator
        Its ``history_`` (records with ``epoch``, ``train_loss`` and, with a
        validation split, ``valid_loss``) and ``best_epoch_`` are drawn.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Lines labelled ``"train"``, ``"validation"`` and ``"kept (epoch k)"``.
    """
    fitted(model, "history_")
    if not model.history_:
        raise ValueError(
            "history is empty: the model was not trained by epochs (a classical fit "
            "has no training history)"
        )
    frame = pd.DataFrame(list(model.history_))
    ax = get_ax(ax)
    ax.plot(frame["epoch"], frame["train_loss"], marker=".", label="train")
    if "valid_loss" in frame:
        ax.plot(frame["epoch"], frame["valid_loss"], marker=".", label="validation")
    best = getattr(model, "best_epoch_", None)
    if best is not None and best >= 0:
        ax.axvline(best, color="grey", ls=":", label=f"kept (epoch {best})")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (negative log-likelihood)")
    ax.legend()
    return ax
