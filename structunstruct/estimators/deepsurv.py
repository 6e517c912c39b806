"""DeepSurv: the Cox model with structured, deep tabular, image and text parts."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, Real, StrOptions

from ..heads.cox.head import CoxHead
from ._frames import predict_frame
from ._parameters import COMMON_CONSTRAINTS, predict_doc, shared_parameters
from .base import SemiStructuredEstimator
from .late import LateFusion, scaled_member_summary
from .survival import ProportionalHazardsMixin


@shared_parameters()
class DeepSurv(ProportionalHazardsMixin, SemiStructuredEstimator):
    """Cox proportional hazards model with an optional deep part.

    The log hazard ratio is ``eta(x) = X beta + h(tabular, image)``:

    - only ``structured`` terms (``tabular=[]``, no image): the classical Cox model,
      fitted by Newton-Raphson to convergence, with standard errors from the observed
      information (agrees with lifelines ``CoxPHFitter`` / statsmodels ``PHReg``);
    - a deep tabular part: DeepSurv (Katzman et al. 2018);
    - an image encoder: DeepConvSurv (Zhu et al. 2016);
    - structured terms and a deep part: wide & deep Cox (Pölsterl et al. 2020); when
      the deep part sees a structured column (the default ``tabular``) the deep latent
      features are orthogonalized against the structured design so ``summary_`` stays
      interpretable (Rügamer et al.; ``orthogonalize="auto"``).

    With ``fusion="late"`` one DeepSurv per modality is fitted and their log-risks
    are averaged, with a Breslow baseline for the average
    (:class:`~structunstruct.LateFusion` with ``combine="mean"``, as ``late_``; use
    LateFusion directly for stacking weights).

    Deep parts are trained on the partial likelihood of mini-batches; an exponential
    moving average of the weights (:class:`~structunstruct.training.WeightAveraging`,
    decay 0.995 per step) is what is validated, early-stopped and kept. Afterwards the
    structured coefficients are refitted by Newton-Raphson with the deep part as a
    fixed offset (their standard errors are conditional on the deep part), and the
    Breslow baseline hazard is estimated on the training data.

    ``X`` is a DataFrame, or (without image and text columns) any 2-D numeric array-like
    with columns named ``x0, x1, ...`` as scikit-learn names them. Columns equal to the
    target's time, event or censoring indicator are refused (target leakage); object
    columns that are numbers but for a few strings, or free text, are refused naming the
    column; categories not seen in training are refused at prediction.

    Parameters
    ----------
    %(shared_parameters)s
    ties : {"efron", "breslow"}, default="efron"
        Handling of tied event times in the partial likelihood.
    penalizer : float, default=0.0
        Ridge penalty on the structured coefficients, as lifelines'
        ``CoxPHFitter(penalizer=..., l1_ratio=0)``: ``n * penalizer / 2 * sum_j b_j^2``
        is subtracted from the log partial likelihood, ``b_j`` the coefficient of
        column ``j`` standardized by its sample standard deviation (the same estimates
        and standard errors as lifelines). Makes collinear columns identifiable and
        separated coefficients finite. Without it, linearly dependent structured
        columns raise a ``ValueError`` naming them (before training), and coefficients
        that diverge (separation, monotone likelihood) give a ``ConvergenceWarning``
        naming them, ``converged_=False`` and a standard error of about 1e10.
    batch_sampler : str, default="random"
        How training rows are grouped into mini-batches: ``"random"`` (shuffled, nearly
        equal batches) or ``"events"`` (every batch has an event and keeps tied times
        together; :func:`~structunstruct.training.samplers.event_batches`), or a name
        registered with :func:`~structunstruct.training.samplers.register_batch_sampler`.
    risk_set_memory : int, optional
        Keep the detached risk scores, times and events of this many most recent
        training rows and add them to each batch's partial likelihood (a queue of past
        scores, :class:`~structunstruct.heads.cox.loss.RiskSetMemory`): small batches get
        wider risk sets. ``None``: each batch forms its own risk sets.

    Attributes
    ----------
    module_ : structunstruct.nn.AdditivePredictor
        The fitted network (``None`` with ``fusion="late"``).
    summary_ : pandas.DataFrame
        Structured effects: coef, exp(coef), se, lower/upper 95%, z, p.
    coef_ : ndarray of shape (n_structured_features,)
    orthogonalize_ : bool
        Whether the orthogonalization cell was used (``orthogonalize`` resolved).
    baseline_cumulative_hazard_ : pandas.Series
        Breslow estimate at the unique training event times.
    history_ : list of dict
        Per-epoch training record (empty for the classical model).
    pretraining_history_ : list of float
        Mean pretraining loss of each epoch (``pretraining``; empty without it).
    log_likelihood_ : float
        Log partial likelihood of the training data at the fitted coefficients.
    feature_names_in_, n_features_in_
    """

    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "ties": [StrOptions({"efron", "breslow"})],
        "penalizer": [Interval(Real, 0, None, closed="left")],
        "batch_sampler": [str],
        "risk_set_memory": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        ties: str = "efron",
        penalizer: float = 0.0,
        batch_sampler: str = "random",
        risk_set_memory: int | None = None,
        **shared: Any,
    ) -> None:
        super().__init__(**shared)
        self.ties = ties
        self.penalizer = penalizer
        self.batch_sampler = batch_sampler
        self.risk_set_memory = risk_set_memory

    def _make_head(self) -> CoxHead:
        return CoxHead(self)

    def _combine_late(self, X: pd.DataFrame, target: np.ndarray, members: list) -> None:
        """Log-risks averaged, Breslow baseline of the average (``LateFusion(combine="mean")``)."""
        self.late_ = LateFusion(members, combine="mean").fit(X, target)
        self.summary_ = scaled_member_summary(self.late_, exponentiate=True)
        self.coef_ = self.summary_["coef"].to_numpy()
        self.baseline_cumulative_hazard_ = self.late_.baseline_cumulative_hazard_
        self.event_times_ = self.baseline_cumulative_hazard_.index.to_numpy()

    @predict_doc
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score (log hazard ratio); higher means an earlier event.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples,)
            The linear predictor ``eta(x)`` of each row (with ``fusion="late"`` the
            members' averaged log-risks).
        """
        X = predict_frame(self, X)
        if self.late_ is not None:
            return self.late_.predict(X)
        arrays = self.inputs_.transform(X)
        eta = arrays["structured"] @ (self.coef_ * self.inputs_.design_.scale_)
        if self.module_.has_deep_part:
            eta = eta + self._outputs(self.module_, arrays)["deep"][:, 0]
        return eta
