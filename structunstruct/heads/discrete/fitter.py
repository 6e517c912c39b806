"""The structured logistic-hazard model as a Bernoulli GLM on person-period rows (numpy only).

The logistic-hazard likelihood (:func:`~structunstruct.nn.multimodal.nll_logistic_hazard`)
is the Bernoulli likelihood of one row per subject and cut ``j <= kappa_i`` with response
1 only at ``kappa_i`` for an event: the model is a logistic regression on those rows
(Tutz & Schmid 2016, ch. 3), fitted by IRLS (:func:`~structunstruct.heads.pamm.glm.fit_glm`),
with standard errors from the Fisher information.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..pamm.glm import GLMFit, fit_glm


def person_period(index: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per subject ``i`` and cut ``j = 0 .. index[i]``.

    Returns
    -------
    subject, cut, status : ndarray
        Status 1 at the subject's last cut when it is an event, else 0.
    """
    index = np.asarray(index, dtype=np.int64)
    subject = np.repeat(np.arange(len(index)), index + 1)
    starts = np.cumsum(index + 1) - (index + 1)
    cut = np.arange(len(subject)) - np.repeat(starts, index + 1)
    status = ((cut == index[subject]) & (np.asarray(event)[subject] > 0)).astype(np.float64)
    return subject, cut, status


def fit_logistic_hazard(design: np.ndarray, index: np.ndarray, event: np.ndarray, n_cuts: int,
                        offset: np.ndarray | None = None, names: Sequence[str] = ()) -> tuple[GLMFit, np.ndarray]:
    """Fit the logistic-hazard model: per-cut baseline logits (without ``offset``) and ``beta``.

    Parameters
    ----------
    design : ndarray of shape (n, p)
        Structured design.
    index, event : ndarray of shape (n,)
        Cut index and event indicator (:func:`~structunstruct.nn.multimodal.discretize_survival`).
    n_cuts : int
    offset : ndarray of shape (n, n_cuts), optional
        Fixed logits (the deep part, baseline included): then only ``beta`` is fitted.
    names : sequence of str
        Names of the design's columns.

    Returns
    -------
    fit : GLMFit
        Coefficients ``[baseline of each cut with an event, beta]`` (``beta`` alone with an offset).
    active : ndarray of bool, shape (n_cuts,)
        Cuts with a training event and a survivor; the others (no event, or every
        row at risk with an event, as at the last cut when the largest time is an
        event) have no baseline coefficient and no person-period rows in the fit:
        their hazard is 0 or 1 and their likelihood does not involve ``beta``.
    """
    subject, cut, status = person_period(index, event)
    events = np.bincount(cut[status > 0], minlength=n_cuts)
    active = (events > 0) & (events < np.bincount(cut, minlength=n_cuts))
    X = design[subject]
    if offset is None:
        keep = active[cut]  # the others' hazard is 0 or 1 whatever beta is
        subject, cut, status, X = subject[keep], cut[keep], status[keep], X[keep]
        dummies = (cut[:, None] == np.flatnonzero(active)[None, :]).astype(np.float64)
        X = np.hstack([dummies, X])
        names = [*(f"cut[{j}]" for j in np.flatnonzero(active)), *names]
        rows_offset = None
    else:
        rows_offset = np.asarray(offset, dtype=np.float64)[subject, cut]
    fit = fit_glm(X, status, "bernoulli", offset=rows_offset, names=list(names) or None)
    return fit, active


__all__ = ["fit_logistic_hazard", "person_period"]
