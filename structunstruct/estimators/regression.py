"""SemiStructuredRegressor: semi-structured deep distributional regression."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, Real, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ..classical.cox import lifelines_ridge
from ..classical.distributional import DistributionalFit, fit_distributional
from ..data import StructuredDesign, parse_structured
from ..data.roles import check_columns_present
from ..nn import Orthogonalization
from ..nn.families import DistributionalPredictor, Family, get_family
from ._frames import fit_frame, predict_frame
from ._ssdr_deep import (
    DEEP_STRATEGIES,
    freeze_location_structure,
    initial_structured_weights,
    make_loss,
    random_holdout,
    set_structured_weights,
)
from ._ssdr_structured import StructuredParts
from .base import COMMON_CONSTRAINTS, SemiStructuredMixin, as_tensors

_TERMS = [str, list, tuple, None]
#: Rounds of weighted projection and refit after training (see ``_project_and_refit``).
MAX_REPROJECTIONS = 10


class SemiStructuredRegressor(SemiStructuredMixin, RegressorMixin, BaseEstimator):
    """Semi-structured deep distributional regression (Rügamer, Kolb & Klein).

    Every parameter of a distribution ``family`` has its own additive predictor,
    mapped through the parameter's natural link (see :mod:`structunstruct.nn.families`):

    - the location ``loc`` (the mean of the normal, Poisson, gamma, ... families):
      ``eta = b0 + X beta + sum_j f_j(x_j) + h(tabular, image)`` with linear terms,
      categorical dummies and centred P-splines ``s(col)`` from ``structured``, and a
      deep part fed by ``tabular`` columns and an ``image`` column;
    - every further parameter (``scale``, ``shape``): an intercept plus its own
      structured terms (``scale="x1 + s(x2)"``); a constant when ``None``.

    Regimes, all the same estimator:

    - only ``structured`` terms (``tabular=[]``, no image): a classical (generalized)
      additive model for location, scale and shape, fitted by full-batch penalized
      maximum likelihood to convergence (float64 Newton-Raphson); it agrees with
      statsmodels OLS (normal) and GLM (Poisson, gamma with log link);
    - **wide & deep**: the same columns in ``structured`` and ``tabular``. The deep
      network can then absorb the linear effects; the orthogonalization cell (on by
      default here, ``orthogonalize="auto"``) projects the deep latent features on the
      orthogonal complement of ``[1, X]`` so the structured coefficients keep their
      classical meaning. Alternatives (``deep_strategy``): ``"two_stage"`` (Law et al.
      2019: structured model first, deep part on its fixed predictor) and
      ``"post_hoc"`` (train without the cell, then move the linear projection of the
      deep part on ``[1, X]`` into the structured coefficients);
    - image (+ tabular) models: the deep part of the location is an image encoder.

    Deep models are trained on the negative log-likelihood by mini-batch AdamW,
    starting from the structured fit; afterwards all structured coefficients are
    refitted by full-batch maximum likelihood with the deep part as a fixed offset,
    so ``summary_`` and its standard errors are conditional on the deep part.

    Parameters
    ----------
    structured : str or list of str, optional
        Terms of the location: columns (categoricals are dummy-coded against their first
        level) and smooths ``s(col)`` / ``s(col, df=6)`` (default 4 effective df).
    tabular : list of str, optional
        Columns of the deep tabular network; default every column but the image/text
        column; ``[]`` for none.
    image : str, optional
        Column of images (arrays (H, W) or (H, W, C), or paths).
    text : str, optional
        Column of strings (a trainable bag-of-words network, or frozen sentence
        embeddings with a pretrained ``text_encoder``).
    image_encoder, pretrained, text_encoder, image_size, augment, image_cache, fusion
        As in :class:`~structunstruct.DeepSurv`.
    orthogonalize : bool or "auto", default="auto"
        The orthogonalization cell: the deep latent features are projected on the
        orthogonal complement of the structured design ``[1, X]`` inside the network,
        so the structured coefficients keep the meaning they have in the
        structured-only model. ``"auto"`` turns it on exactly when a structured column
        is also an input of the deep tabular network, as with the default ``tabular``
        (every column but the image and text columns): the network can then represent
        any linear effect of that column, so without the cell its coefficient is not
        identified and shrinks towards 0.
        Image and text parts (and deep columns that are not structured) do not count:
        the structured columns are not their inputs, so the coefficients stay
        identified, as effects adjusted for what the image or text carries, like those
        of any further covariate; the cell would turn them into effects not adjusted
        for it, a modelling choice left to ``orthogonalize=True``. ``False`` never
        orthogonalizes. The value used is ``orthogonalize_``.
        Here the projection is weighted by each row's Fisher information of the
        location (``1 / sigma^2`` for a normal location with a modelled scale), so
        the reported location coefficients are the structured-only weighted fit in the
        model's own weights, whatever the deep part (``"auto"`` resolves to ``False``
        with ``deep_strategy`` other than ``"joint"``).
    missing_modalities, modality_dropout
        Rows without an image or text, and dropping those encodings in training, as
        in :class:`~structunstruct.DeepSurv`.
    family : str, default="normal"
        One of ``bernoulli``, ``beta``, ``gamma``, ``laplace``, ``lognormal``,
        ``negbin``, ``normal``, ``poisson``, ``student_t``.
    scale : str or list of str, optional
        Structured terms of the ``scale`` parameter (sd, dispersion, precision).
    shape : str or list of str, optional
        Structured terms of the ``shape`` parameter (``student_t`` degrees of freedom).
    deep_strategy : {"joint", "two_stage", "post_hoc"}, default="joint"
        How structured and deep parts are fitted (``orthogonalize`` applies to
        ``"joint"`` only).
    penalizer : float, default=0.0
        Ridge penalty on the linear structured coefficients of every parameter (not
        the intercepts, not the smooths), with lifelines' convention (see
        :class:`~structunstruct.DeepSurv`): ``n * penalizer / 2 * sum_j b_j^2`` with
        ``b_j`` the coefficient of column ``j`` standardized by its sample standard
        deviation, in the classical fit and in the deep part's training loss. Without
        it, linearly dependent columns of a parameter's design raise a ``ValueError``
        naming them, and diverging coefficients (separation) give a
        ``ConvergenceWarning``, ``converged_=False`` and a standard error of about 1e10.
    hidden_layers, fusion_layers, fusion_layer, dropout, lr, weight_decay, batch_size, max_epochs, early_stopping, validation_fraction, device, precision, random_state, verbose, callbacks, checkpoint_dir
        Training settings, as in :class:`~structunstruct.DeepSurv` (the validation rows
        are a random share; early stopping watches their negative log-likelihood).

    Attributes
    ----------
    module_ : structunstruct.nn.families.DistributionalPredictor
    family_ : Family
    summary_ : pandas.DataFrame
        Index ``(parameter, term)``; columns coef, se, lower/upper 95%, z, p. For the
        normal family the se use the ML variance (``RSS / n``): OLS se times
        ``sqrt(n / (n - p))``.
    coef_ : ndarray of shape (n_structured_features,)
        Location coefficients (original scale, no intercept).
    intercept_ : float
    structured_fit_ : DistributionalFit
        The fit on the standardized designs.
    log_likelihood_ : float
        Training log-likelihood.
    history_ : list of dict
    orthogonalize_ : bool
        Whether the orthogonalization cell was used (``orthogonalize`` resolved).
    network_coef_ : ndarray
        Location intercept and slopes as trained by the network, on the standardized
        design, before the final refit (deep models only).
    feature_names_in_, n_features_in_

    Examples
    --------
    >>> import structunstruct as su
    >>> X, y = su.datasets.make_regression_images(500, random_state=0)
    >>> # classical heteroscedastic model: OLS-like mean, log-linear standard deviation
    >>> gam = su.SemiStructuredRegressor(structured="x1 + s(x2) + sex", scale="x1",
    ...                                  tabular=[]).fit(X, y)
    >>> # wide & deep: the same columns in the structured and the deep tabular part,
    >>> # kept identifiable by the orthogonalization cell
    >>> wide_deep = su.SemiStructuredRegressor(
    ...     structured=["x1", "x2", "sex"], tabular=["x1", "x2", "sex"],
    ...     orthogonalize=True, max_epochs=5, random_state=0).fit(X, y)
    >>> wide_deep.summary_.loc["loc"].shape
    (4, 6)
    """

    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "family": [str],
        "scale": _TERMS,
        "shape": _TERMS,
        "deep_strategy": [StrOptions(set(DEEP_STRATEGIES))],
        "penalizer": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        structured: str | Sequence[str] | None = None,
        tabular: Sequence[str] | None = None,
        image: str | None = None,
        text: str | None = None,
        *,
        family: str = "normal",
        scale: str | Sequence[str] | None = None,
        shape: str | Sequence[str] | None = None,
        image_encoder: str | torch.nn.Module = "smallcnn",
        pretrained: bool | str = False,
        text_encoder: str = "bow",
        image_size: int | Sequence[int] | None = None,
        augment: bool = True,
        image_cache: str | os.PathLike | None = None,
        fusion: str = "joint",
        orthogonalize: bool | str = "auto",
        missing_modalities: str = "error",
        modality_dropout: float = 0.0,
        fusion_layer: str = "concat",
        deep_strategy: str = "joint",
        penalizer: float = 0.0,
        hidden_layers: Sequence[int] = (64, 32),
        fusion_layers: Sequence[int] = (32,),
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 256,
        max_epochs: int = 100,
        early_stopping: int | None = 10,
        validation_fraction: float = 0.15,
        device: str = "auto",
        precision: str = "auto",
        random_state: Any = None,
        verbose: bool = False,
        callbacks: Sequence[Any] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> None:
        self.structured = structured
        self.tabular = tabular
        self.image = image
        self.text = text
        self.family = family
        self.scale = scale
        self.shape = shape
        self.image_encoder = image_encoder
        self.pretrained = pretrained
        self.text_encoder = text_encoder
        self.image_size = image_size
        self.augment = augment
        self.image_cache = image_cache
        self.fusion = fusion
        self.orthogonalize = orthogonalize
        self.missing_modalities = missing_modalities
        self.modality_dropout = modality_dropout
        self.fusion_layer = fusion_layer
        self.deep_strategy = deep_strategy
        self.penalizer = penalizer
        self.hidden_layers = hidden_layers
        self.fusion_layers = fusion_layers
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir

    # -- fitting -----------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any) -> SemiStructuredRegressor:
        """Fit the model.

        Parameters
        ----------
        X : pandas.DataFrame
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_common_params()
        X = fit_frame(self, X)
        family = get_family(self.family)
        y = self._check_target(family, y, len(X))
        self._check_strategy()
        roles, builder, arrays = self._fit_inputs(X)
        if not roles.structured and not roles.has_deep_part:
            raise ValueError("the model has no inputs: give structured terms, tabular columns or an image")
        ridge = lifelines_ridge(self.penalizer, len(X))
        parts = StructuredParts(family, [builder.design_, *self._other_designs(family, X)], ridge)
        matrices = parts.matrices(X)
        parts.check_identifiable(matrices)
        rng, seed = self._random_generators()
        module = self._build_module(roles, builder, parts, seed)
        fit = self._fit_structured(parts, y, matrices)
        self.history_ = []
        if roles.has_deep_part:
            fit = self._fit_deep(module, parts, arrays, matrices, y, fit, rng, seed)
        set_structured_weights(module, fit.coef)
        self._store_fit(X, roles, builder, parts, module, fit)
        return self

    @staticmethod
    def _check_target(family: Family, y: Any, n: int) -> np.ndarray:
        try:
            y = column_or_1d(np.array(y, dtype=np.float64), warn=True)  # a copy: writable
        except (TypeError, ValueError) as err:
            raise ValueError(f"y must be numeric and 1-D: {err}") from err
        if not np.isfinite(y).all():
            raise ValueError(
                f"y contains {int((~np.isfinite(y)).sum())} NaN or infinite values "
                f"(first at position {int(np.flatnonzero(~np.isfinite(y))[0])})"
            )
        if len(y) != n:
            raise ValueError(f"y has {len(y)} values but X has {n} rows")
        family.check_target(y)
        return y

    def _check_strategy(self) -> None:
        if self.deep_strategy != "joint" and self.orthogonalize is True:
            raise ValueError(
                f"deep_strategy={self.deep_strategy!r} replaces the orthogonalization cell; "
                "set orthogonalize=False (the cell belongs to deep_strategy='joint')"
            )
        if self.deep_strategy != "joint" and not parse_structured(self.structured):
            raise ValueError(f"deep_strategy={self.deep_strategy!r} needs structured terms")

    def _resolve_orthogonalize(self, roles) -> bool:
        """``"auto"`` as in the other estimators, but never with a non-joint ``deep_strategy``."""
        if self.deep_strategy != "joint":
            return False
        return super()._resolve_orthogonalize(roles)

    def _other_designs(self, family: Family, X: pd.DataFrame) -> list[StructuredDesign]:
        for name in ("scale", "shape"):
            if getattr(self, name) is not None and name not in family.parameters:
                raise ValueError(
                    f"family {family.name!r} has no {name!r} parameter; its parameters are "
                    f"{list(family.parameters)}"
                )
        designs = []
        for name in family.parameters[1:]:
            terms = parse_structured(getattr(self, name))
            check_columns_present(X, [t.column for t in terms], role=name)
            designs.append(StructuredDesign(terms).fit(X))
        return designs

    def _build_module(self, roles, builder, parts: StructuredParts, seed: int) -> DistributionalPredictor:
        location = self._build_predictor(roles, builder, seed, n_outputs=1, bias=True)
        sizes = [d.n_features for d in parts.designs[1:]]
        return DistributionalPredictor(location, sizes, parts.family.parameters[1:], parts.family)

    def _fit_structured(self, parts, y, matrices, offsets=None, init=None) -> DistributionalFit:
        return fit_distributional(
            parts.family, y, matrices, offsets=offsets, smooths=parts.smooths(),
            init=parts.initial(y) if init is None else init,
            names=parts.coefficient_names(), reference=parts.initial(y),
        )

    def _fit_deep(self, module, parts, arrays, matrices, y, start, rng, seed) -> DistributionalFit:
        if self.deep_strategy == "two_stage":
            set_structured_weights(module, start.coef)
            freeze_location_structure(module)
        else:
            cell = module.location.orthogonalization is not None
            set_structured_weights(module, initial_structured_weights(start.coef, cell))
        arrays = {**arrays, **{f"structured_{n}": m[:, 1:].astype(np.float32)
                              for n, m in zip(parts.family.parameters[1:], matrices[1:])}}
        tensors = as_tensors(arrays)
        tensors["y"] = torch.as_tensor(y, dtype=torch.float32)
        valid = random_holdout(len(y), self.validation_fraction, rng)
        loss_fn = make_loss(parts.family, module, parts.smooths(), start.smoothing, len(y) - len(valid))
        trainer = self._train(module, tensors, loss_fn, valid, seed)
        self.history_ = trainer.history
        self.best_epoch_ = trainer.best_epoch
        if self.deep_strategy == "post_hoc":
            module.location.orthogonalization = Orthogonalization()
        self.network_coef_ = np.concatenate(
            [c.detach().double().numpy().ravel() for c in _structured_tensors(module)]
        )
        return self._project_and_refit(module, parts, arrays, matrices, y, start)

    def _project_and_refit(self, module, parts, arrays, matrices, y, start) -> DistributionalFit:
        """Store the cell's projection, refit the structured part with the deep part as offset.

        A weighted projection (modelled scale, GLM families) uses the Fisher weights at
        the structured predictors, which the refit changes; projection and refit are
        therefore repeated, with the weights of the last refit, until the coefficients
        settle (at most :data:`MAX_REPROJECTIONS` times), so the final deep part is
        orthogonal to the design in the weights of the reported fit.
        """
        fit = None
        for _ in range(MAX_REPROJECTIONS if module.family is not None else 1):
            weight = module.orthogonalization_weight(as_tensors(arrays))
            self._fit_orthogonal_projection(module.location, arrays, weight)
            deep = self._outputs(module, arrays)["deep"][:, 0]
            previous, fit = fit, self._refit(parts, matrices, y, start, deep)
            if weight is None or (previous is not None and _settled(previous, fit)):
                break
            set_structured_weights(module, fit.coef)
        return fit

    def _refit(self, parts, matrices, y, start, deep) -> DistributionalFit:
        if self.deep_strategy != "two_stage":
            offsets = [deep] + [None] * (len(matrices) - 1)
            return self._fit_structured(parts, y, matrices, offsets, init=start.coef)
        loc = matrices[0] @ start.coef[0] + deep
        empty = np.zeros((len(y), 0))
        fit = fit_distributional(
            parts.family, y, [empty, *matrices[1:]], offsets=[loc] + [None] * (len(matrices) - 1),
            smooths=[s for s in parts.smooths() if s.parameter > 0], init=[np.zeros(0), *start.coef[1:]],
            names=parts.coefficient_names()[parts.sizes[0]:], reference=[np.zeros(0), *parts.initial(y)[1:]],
        )
        return _two_stage_fit(start, fit)

    def _store_fit(self, X, roles, builder, parts, module, fit) -> None:
        module.eval()
        self.module_ = module
        self.roles_ = roles
        self.inputs_ = builder
        self.family_ = parts.family
        self.parts_ = parts
        self.structured_fit_ = fit
        self.summary_ = parts.summary(fit.coef, fit.covariance)
        loc = self.summary_.loc["loc", "coef"].to_numpy()
        self.intercept_, self.coef_ = float(loc[0]), loc[1:]
        self.log_likelihood_ = fit.log_likelihood
        self.converged_ = fit.converged

    # -- prediction --------------------------------------------------------------------
    def _predictors(self, X: pd.DataFrame) -> np.ndarray:
        """Additive predictors, shape (n_samples, n_parameters); ``X`` from ``predict_frame``."""
        arrays = self.inputs_.transform(X)
        eta = self.parts_.linear_predictors(X, self.structured_fit_.coef)
        if self.module_.location.has_deep_part:
            eta[:, 0] += self._outputs(self.module_.location, arrays)["deep"][:, 0]
        return eta

    def _parameters(self, X: pd.DataFrame) -> dict[str, torch.Tensor]:
        eta = torch.as_tensor(self._predictors(X), dtype=torch.float64)
        return self.family_.transform(eta)

    def predict_distribution(self, X: pd.DataFrame) -> pd.DataFrame:
        """Distribution parameters per row.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).

        Returns
        -------
        pandas.DataFrame
            One column per parameter of the family (``loc``, ``scale``, ...) on its
            natural scale, index ``X.index``.
        """
        X = predict_frame(self, X)
        params = self._parameters(X)
        return pd.DataFrame({k: v.numpy() for k, v in params.items()}, index=X.index)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted mean of the distribution of each row.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).

        Returns
        -------
        ndarray of shape (n_samples,)
            The family's mean at the predicted parameters.
        """
        X = predict_frame(self, X)
        return self.family_.mean(self._parameters(X)).numpy()

    def predict_quantile(self, X: pd.DataFrame, q: float | Sequence[float]) -> np.ndarray:
        """Quantiles of the predicted distribution.

        Parameters
        ----------
        X : pandas.DataFrame
        q : float or sequence of float in (0, 1)

        Returns
        -------
        ndarray of shape (n_samples,) for a scalar ``q``, else (n_samples, len(q)).
        """
        X = predict_frame(self, X)
        levels = np.asarray(q, dtype=np.float64)
        if ((levels <= 0) | (levels >= 1)).any():
            raise ValueError(f"quantile levels must lie in (0, 1); got {q!r}")
        params = {k: v.numpy() for k, v in self._parameters(X).items()}
        out = np.column_stack([self.family_.quantile(params, float(p)) for p in levels.ravel()])
        return out[:, 0] if levels.ndim == 0 else out

    def predict_interval(self, X: pd.DataFrame, coverage: float = 0.9) -> np.ndarray:
        """Equal-tailed prediction interval from the predicted distributions.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).
        coverage : float, default=0.9
            Probability in (0, 1) between the bounds: the quantiles
            ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Lower and upper bound per row.
        """
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must lie in (0, 1); got {coverage!r}")
        return self.predict_quantile(X, [(1 - coverage) / 2, (1 + coverage) / 2])

    def log_likelihood(self, X: pd.DataFrame, y: Any) -> float:
        """Total log-likelihood of ``y`` under the predicted distributions.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).
        y : array-like of shape (n_samples,)
            Observed responses of the rows of ``X`` (numeric, finite, in the
            family's support).

        Returns
        -------
        float
            Sum of the rows' log-densities (log-probabilities for discrete families).
        """
        X = predict_frame(self, X)
        eta = torch.as_tensor(self._predictors(X), dtype=torch.float64)
        y = self._check_target(self.family_, y, len(X))
        return float(self.family_.log_prob(eta, torch.as_tensor(y)).sum())

    def score(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> float:
        """R² of the predicted mean (:func:`sklearn.metrics.r2_score`).

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).
        y : array-like of shape (n_samples,)
            Observed responses of the rows of ``X``.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights of the R²; default equal weights.

        Returns
        -------
        float
            Coefficient of determination (1 is perfect; can be negative).
        """
        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))

    def partial_effect(
        self, term: str, parameter: str = "loc", grid: Any = None, n_points: int = 100
    ) -> pd.DataFrame:
        """Partial effect of a smooth term on its parameter's predictor (link scale).

        Parameters
        ----------
        term : str
            A smooth term, e.g. ``"s(bmi)"``.
        parameter : str, default="loc"
        grid : array-like, optional
            Values of the term's column; default ``n_points`` over the training range.
        n_points : int, default=100
            Number of grid values when ``grid`` is None.

        Returns
        -------
        pandas.DataFrame
            The column's values, ``effect`` (centred over the training data), ``se``,
            ``lower 95%``, ``upper 95%``.
        """
        check_is_fitted(self, "module_")
        if parameter not in self.family_.parameters:
            raise ValueError(f"unknown parameter {parameter!r}; known: {list(self.family_.parameters)}")
        if grid is None:
            design = self.parts_.designs[self.family_.parameters.index(parameter)]
            basis = next((e.basis for e in design.encodings_ if str(e.term) == term and e.basis), None)
            lower, upper = (basis.lower_, basis.upper_) if basis is not None else (0.0, 1.0)
            grid = np.linspace(lower, upper, n_points)
        grid = np.asarray(grid, dtype=np.float64).ravel()
        return self.parts_.partial_effect(self.structured_fit_, term, parameter, grid)


def _structured_tensors(module: DistributionalPredictor) -> list[torch.Tensor]:
    location = module.location
    weights = [location.bias]
    if location.structured is not None:
        weights.append(location.structured.weight)
    return weights


def _settled(previous: DistributionalFit, current: DistributionalFit, tol: float = 1e-6) -> bool:
    """Whether two fits' coefficients agree to ``tol`` (absolute, standardized scale)."""
    return bool(np.max(np.abs(np.concatenate(previous.coef) - np.concatenate(current.coef))) < tol)


def _two_stage_fit(stage_one: DistributionalFit, others: DistributionalFit) -> DistributionalFit:
    """Location from stage one, further parameters refitted; block-diagonal covariance."""
    p = len(stage_one.coef[0])
    rest = others.covariance
    covariance = np.zeros((p + len(rest), p + len(rest)))
    covariance[:p, :p] = stage_one.covariance[:p, :p]
    covariance[p:, p:] = rest
    return DistributionalFit(
        [stage_one.coef[0], *others.coef[1:]], covariance, others.log_likelihood,
        stage_one.smoothing, stage_one.edf, others.n_iter, others.converged,
    )


__all__ = ["SemiStructuredRegressor"]
