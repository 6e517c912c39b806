"""MultiSurv: modality subnetworks, a fusion over modalities and a logistic-hazard head."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

from ..heads.discrete.head import DiscreteHead
from ._frames import predict_frame
from ._parameters import COMMON_CONSTRAINTS, shared_parameters
from .base import SemiStructuredEstimator
from .survival import SurvivalMixin


@shared_parameters(defaults={"fusion_layer": "attention"})
class MultiSurv(SurvivalMixin, SemiStructuredEstimator):
    """Discrete-time multimodal survival network (MultiSurv, Vale-Silva & Rohr 2021).

    Vale-Silva & Rohr (2021), "Long-term cancer survival prediction using multimodal
    deep learning", Scientific Reports 11:13505. One subnetwork per modality (the deep
    tabular MLP, one CNN per image column, one bag-of-words network per text column),
    a fusion of the modality embeddings (default ``fusion_layer="attention"``; also
    ``"max"``, ``"sum"``, ``"mean"``: each encoding is first projected to a common
    width, :class:`~structunstruct.nn.fusion.ModalityFusionLayer`), an FCNN head
    (``fusion_layers``) and one logit per cut of a time grid: the hazard of cut ``j``
    is ``h_j(x) = sigmoid(phi_j(x))`` and ``S(t_j | x) = prod_{l <= j} (1 - h_l(x))``,
    as pycox's ``LogisticHazard`` (Kvamme & Borgan 2019). Trained on the
    logistic-hazard likelihood of mini-batches
    (:func:`~structunstruct.nn.multimodal.nll_logistic_hazard`). Missing modalities
    (``missing_modalities="allow"``) and modality dropout are available.

    Structured terms enter every cut's logit through one linear part ``X beta``
    shared by all cuts (odds ratios of the discrete hazard, constant over time). They
    are fitted first as a logistic regression on person-period rows; with a deep part
    they are refitted with the network's logits as an offset, so ``summary_`` holds
    odds ratios conditional on the deep part. Without a deep part
    (``tabular=[]``, no image or text) the model is that GLM alone, with a baseline
    logit per cut (hazard 0 at a cut without events, 1 where all at risk fail).

    Predictions: the survival function is a step function, ``S(t | x) = S(t_j | x)``
    for ``t_j <= t < t_{j+1}`` (1 before the first cut, constant after the last);
    ``predict`` is minus the restricted mean survival time up to the last cut.
    ``fusion="late"`` is not supported (the fusion is the model's own).

    Parameters
    ----------
    %(shared_parameters)s
    cuts : int or sequence of float, default=10
        The time grid: a number of grid points placed as pycox's
        ``LabTransDiscreteTime(cuts, scheme="quantiles")`` (equidistant levels of the
        Kaplan-Meier curve, first at 0, last at the largest time; repeated times merged),
        or the grid points themselves (strictly increasing, non-negative). An event is
        moved to the first cut at or after its time, a censoring to the last cut at or
        before it; times after the last cut are censored there.

    Attributes
    ----------
    module_ : structunstruct.heads.discrete.module.LogisticHazardPredictor
        The fitted network.
    cuts_ : ndarray
        The time grid; one logit per point.
    summary_ : pandas.DataFrame
        Structured effects: coef (log odds ratio of the discrete hazard), exp(coef),
        se, lower/upper 95%, z, p.
    coef_ : ndarray of shape (n_structured_features,)
    orthogonalize_ : bool
    history_ : list of dict
    feature_names_in_, n_features_in_
    """

    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "cuts": [Integral, list, tuple, np.ndarray],
    }

    def __init__(self, *, cuts: int | Sequence[float] = 10, **shared: Any) -> None:
        super().__init__(**shared)
        self.cuts = cuts

    def _make_head(self) -> DiscreteHead:
        return DiscreteHead(self)

    def _logits(self, X: pd.DataFrame) -> np.ndarray:
        """Logits of the hazard at each cut, shape (n_samples, n_cuts)."""
        return self._outputs(self.module_, self.inputs_.transform(X))["eta"]

    def _cumulative_hazard(self, X: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
        at_cuts = np.cumsum(np.logaddexp(0.0, self._logits(X)), axis=1)  # -log prod (1 - sigmoid)
        index = np.searchsorted(self.cuts_, grid, side="right") - 1
        values = at_cuts[:, np.maximum(index, 0)] * (index >= 0)
        return values.T

    def _default_times(self) -> np.ndarray:
        return self.cuts_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score: minus the restricted mean survival time; higher means an earlier event.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).

        Returns
        -------
        ndarray of shape (n_samples,)
            ``-sum_j S(t_j | x) (t_{j+1} - t_j)``, minus the area under the step
            survival function up to the last cut (pycox's hazard there, often 1, does
            not enter it).
        """
        at_cuts = np.exp(-np.cumsum(np.logaddexp(0.0, self._logits(predict_frame(self, X))), axis=1))
        return -(at_cuts[:, :-1] @ np.diff(self.cuts_))
