"""Machinery shared by every estimator: parameters, inputs, network, training.

Estimators are thin facades: they resolve column roles, build the per-modality
arrays (:mod:`structunstruct.data`), assemble an :class:`~structunstruct.nn.AdditivePredictor`
and hand it to the one :class:`~structunstruct.training.Trainer`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import Tags, TransformerTags

from ..data import InputBuilder, resolve_roles
from ..data.leakage import check_no_leakage
from ..data.roles import ColumnRoles, as_columns
from ..data.text_features import resolve_text_encoder_path
from ..nn import AdditivePredictor, TabularEncoder
from ..nn.fusion import check_fusion_layer
from ..persistence import PersistenceMixin
from ..training import (
    EarlyStopping,
    Trainer,
    TrainingConfig,
    distributed,
    local_torch_seed,
    predict_outputs,
    resolve_device,
    resolve_precision,
)
from ..training.checkpoint import estimator_fingerprint
from ._frames import fit_frame, predict_frame
from ._late_members import late_fusion_members
from ._modality_encoders import (
    check_encoder_settings,
    image_encoders,
    shares_encoders,
    text_encoders,
)
from ._multimodal import (
    check_multimodal_settings,
    embedding_frame,
    find_predictor,
    pretrain_module,
    similarity_embedding_dim,
    with_similarity_loss,
)
from ._parameters import COMMON_CONSTRAINTS, FUSIONS, INPUT_PARAMETERS, SHARED_DEFAULTS
from .fusion import FusionPlan, resolve_fusion


@dataclass
class FitState:
    """What the steps of one fit share (the typed state passed to a :class:`Head`).

    Attributes
    ----------
    X : pandas.DataFrame
        The training frame (as :func:`~structunstruct.estimators._frames.fit_frame` returns it).
    target : object
        The head's checked target (survival structured array, or float array).
    roles : ColumnRoles
    builder : InputBuilder
        The fitted input builder; ``arrays`` its training arrays.
    arrays : dict of str to ndarray
    rng : numpy.random.Generator
        Draws the validation split.
    seed : int
        Seed of the initial weights, shuffling and dropout.
    """

    X: pd.DataFrame
    target: Any
    roles: ColumnRoles
    builder: InputBuilder
    arrays: dict[str, np.ndarray]
    rng: np.random.Generator
    seed: int


class Head(Protocol):
    """The model-specific steps that the one fit template calls, in this order.

    A head is created per fit from the estimator (its parameters) by
    ``estimator._make_head()``; it keeps what its steps share as attributes.
    """

    def check_target(self, y: Any, n_samples: int) -> Any:
        """Validate ``y`` (before any input is built) and return the checked target."""

    def leakage_targets(self, target: Any) -> dict[str, np.ndarray]:
        """Target arrays that no model column may equal (description to values)."""

    def prepare(self, state: FitState) -> None:
        """Build the head's designs and check them (identifiability), before training."""

    def wrap(self, predictor: AdditivePredictor, state: FitState) -> torch.nn.Module:
        """The trainable module: the additive predictor and the head's own parameters."""

    def fit_classical(self, module: torch.nn.Module, state: FitState) -> Any:
        """Fit the structured part by maximum likelihood (the whole model without a deep part)."""

    def fit_deep(self, module: torch.nn.Module, fit: Any, state: FitState) -> Any:
        """Train the network from the classical fit; return the final (refitted) structured fit."""

    def store(self, module: torch.nn.Module, fit: Any, state: FitState) -> None:
        """Set the estimator's fitted attributes (``summary_``, baselines, ...)."""

    def rewrap(self, predictor: AdditivePredictor) -> torch.nn.Module:
        """The fitted module's architecture around ``predictor``, from the fitted estimator."""


def deep_part_sees_structured(roles: ColumnRoles) -> bool:
    """Whether a structured column is an input of the deep tabular network.

    The rule of ``orthogonalize="auto"`` (the parameter is documented in
    :class:`~structunstruct.DeepSurv`): only then is a structured coefficient
    unidentified without the orthogonalization cell. Image and text parts do not
    count (their coefficients stay identified, as effects adjusted for the image).
    """
    return bool(set(roles.structured_columns) & set(roles.tabular))


def check_unique_columns(X: pd.DataFrame) -> None:
    """Refuse duplicated column names, which make roles ambiguous."""
    duplicated = X.columns[X.columns.duplicated()].tolist()
    if duplicated:
        raise ValueError(f"X has duplicated column names {duplicated}")


class SemiStructuredEstimator(PersistenceMixin, BaseEstimator):
    """The shared constructor, validation and the one fit template of every estimator.

    A subclass names its own parameters (the shared ones through
    :func:`~structunstruct.estimators._parameters.shared_parameters`), returns its
    :class:`Head` from ``_make_head`` and adds its predictions. :meth:`fit` is the
    template: validate, check the target, build the inputs, then the head's steps
    (prepare, wrap the additive predictor, classical fit, deep training, store);
    ``fusion="late"`` fits one copy per modality instead (:meth:`_fit_late`).
    """

    _parameter_constraints: dict = dict(COMMON_CONSTRAINTS)

    def __init__(self, **shared: Any) -> None:
        """Store the shared parameters (every one of :data:`INPUT_PARAMETERS` and
        :data:`SHARED_DEFAULTS`, given by the signature that ``shared_parameters`` builds)."""
        for name in (*INPUT_PARAMETERS, *SHARED_DEFAULTS):
            setattr(self, name, shared[name])

    # -- the fit template ----------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any) -> SemiStructuredEstimator:
        """Fit the model.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Training rows (an array-like only when the model has no image or text column).
        y : array-like
            The target: for survival estimators a structured array (event, time), a
            DataFrame with a time and an event column or a tuple ``(time, event)``;
            for regression a 1-D array-like.

        Returns
        -------
        self
            The fitted estimator.
        """
        self._validate_params()
        self._check_common_params()
        X = fit_frame(self, X)
        head = self._make_head()
        target = head.check_target(y, len(X))
        self.late_ = None
        if self.fusion_plan_.late:
            return self._fit_late(X, target)
        roles, builder, arrays = self._fit_inputs(X, head.leakage_targets(target))
        rng, seed = self._random_generators()
        state = FitState(X, target, roles, builder, arrays, rng, seed)
        head.prepare(state)
        module = head.wrap(self._build_predictor(roles, builder, seed, **self._network_outputs()), state)
        self.pretraining_history_ = self._pretrain(module, state)
        fit = head.fit_classical(module, state)
        self.history_ = []
        if roles.has_deep_part:
            fit = head.fit_deep(module, fit, state)
        module.eval()
        self.module_, self.roles_, self.inputs_ = module, roles, builder
        head.store(module, fit, state)
        return self

    def _make_head(self) -> Head:
        raise NotImplementedError

    def __sklearn_tags__(self) -> Tags:
        """scikit-learn's tags: an estimator with ``transform`` (its embeddings)."""
        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=[])  # a float64 DataFrame whatever X
        return tags

    def _pretrain(self, module: torch.nn.Module, state: FitState) -> list[float]:
        """Run the ``pretraining`` setting on the training rows; its loss per epoch."""
        if self.pretraining is None:
            return []
        generator = torch.Generator().manual_seed(state.seed + 2)
        with local_torch_seed(state.seed + 3, resolve_device(self.device)):
            return pretrain_module(self, find_predictor(module), as_tensors(state.arrays), generator)

    def fit_transform(self, X: pd.DataFrame, y: Any) -> pd.DataFrame:
        """Fit on ``(X, y)``, then :meth:`transform` ``X``."""
        return self.fit(X, y).transform(X)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each modality's latent features and the fused representation.

        For maps of the patients' embeddings (t-SNE, UMAP), as Cheerla & Gevaert (2019)
        draw them. Computed in evaluation mode (no dropout, no augmentation).

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to embed.

        Returns
        -------
        pandas.DataFrame
            Index ``X.index``. Columns ``<key>_0, <key>_1, ...`` for each modality
            encoder, in the order of ``module_.encoders`` (``tabular``, ``image`` or
            ``image:<column>``, ``text`` or ``text:<column>``: each encoder's output; a
            missing modality has the learned missing embedding), then ``fused_0, ...``:
            the joined deep features before the orthogonalization cell (the input of
            the deep part's last linear layer).

        Raises
        ------
        ValueError
            For a model without a deep part (the classical model), and for
            ``fusion="late"`` (each member has its own representation: call
            ``transform`` on the members of ``late_members_()``).
        """
        X = predict_frame(self, X)
        if self.late_ is not None:
            raise ValueError(
                "transform returns the representation of one network; with fusion='late' each "
                "member has its own: call transform on the estimators of late_members_()"
            )
        predictor = find_predictor(self.module_)
        if predictor is None or not predictor.has_deep_part:
            return embedding_frame(None, [], X.index)  # raises: no deep part
        device = self._training_config().device
        predictor.eval().to(device)
        try:
            tensors = as_tensors(self.inputs_.transform(X))
            batches = ({k: v.to(device) for k, v in b.items()} for b in iterate_chunks(tensors, 1024))
            return embedding_frame(predictor, batches, X.index)
        finally:
            predictor.to("cpu")

    def _network_outputs(self) -> dict:
        """Arguments ``n_outputs``/``bias`` of the additive predictor (one output, no bias)."""
        return {}

    def _rebuild_module(self) -> torch.nn.Module:
        """The fitted network's architecture, for loading saved weights (:mod:`~structunstruct.persistence`)."""
        pretrained, self.pretrained = self.pretrained, False  # the saved weights replace them
        try:
            predictor = self._build_predictor(self.roles_, self.inputs_, 0, **self._network_outputs())
        finally:
            self.pretrained = pretrained
        return self._make_head().rewrap(predictor)

    # -- late fusion ---------------------------------------------------------------------
    def _fit_late(self, X: pd.DataFrame, target: Any) -> SemiStructuredEstimator:
        """One copy of the estimator per modality, combined by the subclass's ``_combine_late``."""
        roles = resolve_roles(X, self.structured, self.tabular, self.image, self.text,
                              exclude=self._reserved_columns())
        check_unique_columns(X)
        members = late_fusion_members(self, roles)
        self.roles_ = roles
        self.module_ = None
        self.history_ = []
        self.pretraining_history_ = []
        self._combine_late(X, target, members)
        tabular = dict(self.late_members_()).get("tabular")
        self.orthogonalize_ = bool(tabular is not None and tabular.orthogonalize_)
        return self

    def _combine_late(self, X: pd.DataFrame, target: Any, members: list) -> None:
        """Fit ``members`` (name, estimator) and set ``late_`` and the fitted attributes."""
        raise NotImplementedError

    def late_members_(self) -> list:
        """The fitted members of ``fusion="late"`` as (name, estimator) pairs."""
        return list(self.late_.estimators_)

    # -- parameters -------------------------------------------------------------------
    def _check_common_params(self) -> None:
        for name in ("hidden_layers", "fusion_layers"):
            widths = getattr(self, name)
            if not all(isinstance(w, Integral) and w > 0 for w in widths):
                raise ValueError(f"{name} must be a sequence of positive integers; got {widths!r}")
        self.fusion_plan_ = resolve_fusion(self)
        images = as_columns(self.image, "image")
        as_columns(self.text, "text")
        check_fusion_layer(self.fusion_layer)  # an unknown name lists the known ones
        check_encoder_settings(self, images)
        check_multimodal_settings(self)
        if self.text is not None and self.text_encoder != "bow":
            resolve_text_encoder_path(self.text_encoder)  # a clear error before any training

    def _fusion_plan(self) -> FusionPlan:
        """The plan of this fit (:func:`~structunstruct.estimators.fusion.resolve_fusion`);
        for a model saved before plans existed, the plan of its ``fusion``."""
        return getattr(self, "fusion_plan_", None) or FusionPlan(self.fusion)

    def _random_generators(self) -> tuple[np.random.Generator, int]:
        state = self.random_state
        if isinstance(state, np.random.RandomState):
            state = state.randint(2**31)
        if distributed.is_distributed() and not isinstance(state, Integral):
            # every rank must draw the same split and shuffles: rank 0's entropy
            state = distributed.broadcast_object(np.random.default_rng(state).integers(2**63))
        rng = np.random.default_rng(state)
        return rng, int(rng.integers(2**31 - 1))

    # -- inputs ----------------------------------------------------------------------
    def _reserved_columns(self) -> tuple[str, ...]:
        """Columns with a role of their own, left out of the default deep tabular input."""
        return ()

    def _fit_inputs(
        self, X: pd.DataFrame, targets: Mapping[str, np.ndarray] | None = None
    ) -> tuple[ColumnRoles, InputBuilder, dict[str, np.ndarray]]:
        """Roles, the fitted input builder and the training arrays.

        ``targets`` (description to values) are compared with the model's columns, which
        must not equal any of them (:func:`~structunstruct.data.leakage.check_no_leakage`).
        """
        roles = resolve_roles(X, self.structured, self.tabular, self.image, self.text,
                              exclude=self._reserved_columns())
        check_unique_columns(X)
        check_no_leakage(X, [*roles.structured_columns, *roles.tabular], targets or {})
        if self.orthogonalize is True and roles.has_deep_part and not roles.structured:
            raise ValueError("orthogonalize=True needs structured terms to orthogonalize against")
        self.orthogonalize_ = self._resolve_orthogonalize(roles)
        builder = InputBuilder(
            roles, image_size=self.image_size, **self._fusion_plan().input_options(),
            image_encoder=self.image_encoder, pretrained=self.pretrained,
            missing_modalities=self.missing_modalities, text_encoder=self.text_encoder,
            image_cache=self.image_cache, share_vocabulary=shares_encoders(self),
        )
        arrays = builder.fit_transform(X)
        return roles, builder, arrays

    def _resolve_orthogonalize(self, roles: ColumnRoles) -> bool:
        """The one place where ``orthogonalize`` is resolved (``"auto"``: see
        :func:`deep_part_sees_structured`)."""
        if self.orthogonalize == "auto":
            return deep_part_sees_structured(roles)
        return bool(self.orthogonalize)

    # -- network -----------------------------------------------------------------------
    def _build_predictor(
        self,
        roles: ColumnRoles,
        builder: InputBuilder,
        seed: int,
        n_outputs: int = 1,
        bias: bool = False,
    ) -> AdditivePredictor:
        """Assemble the network; its initial weights depend only on ``seed``."""
        with local_torch_seed(seed, torch.device("cpu")):
            return self._assemble_predictor(roles, builder, n_outputs, bias)

    def _assemble_predictor(
        self, roles: ColumnRoles, builder: InputBuilder, n_outputs: int, bias: bool
    ) -> AdditivePredictor:
        encoders: dict[str, torch.nn.Module] = {}
        if builder.n_numeric or builder.cardinalities:
            encoders["tabular"] = TabularEncoder(
                builder.n_numeric, builder.cardinalities, tuple(self.hidden_layers), self.dropout
            )
        if self._fusion_plan().trains_image_encoders:
            encoders.update(image_encoders(self, builder))
        encoders.update(text_encoders(self, builder))
        fusion_layers = tuple(self.fusion_layers) if len(encoders) > 1 else ()
        optional = ()
        if self.missing_modalities == "allow" or self.modality_dropout > 0:
            optional = tuple(name for name in encoders if name != "tabular")
        return AdditivePredictor(
            builder.design_.n_features,
            encoders,
            fusion_layers=fusion_layers,
            dropout=self.dropout,
            orthogonalize=self.orthogonalize_,
            n_outputs=n_outputs,
            bias=bias,
            optional_modalities=optional,
            modality_dropout=self.modality_dropout,
            fusion_layer=self.fusion_layer,
            embedding_dim=similarity_embedding_dim(self.similarity_loss, encoders),
        )

    def _training_config(self) -> TrainingConfig:
        device = resolve_device(self.device)
        return TrainingConfig(
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            device=device,
            autocast_dtype=resolve_precision(self.precision, device),
            verbose=bool(self.verbose),
            checkpoint_dir=getattr(self, "checkpoint_dir", None),
        )

    def _checkpoint_fingerprint(self) -> dict[str, str]:
        """What identifies this fit in a checkpoint (empty without ``checkpoint_dir``).

        Raises a ``ValueError`` before training for a fit that could not be resumed.
        """
        if getattr(self, "checkpoint_dir", None) is None:
            return {}
        if not isinstance(self.random_state, Integral):
            raise ValueError(
                "checkpoint_dir resumes the same fit, which needs an integer random_state "
                f"(the validation split and initial weights depend on it); got {self.random_state!r}"
            )
        if getattr(self, "risk_set_memory", None):
            raise NotImplementedError(
                "checkpoint_dir does not save the risk_set_memory queue yet; use one or the other"
            )
        return estimator_fingerprint(self)

    def _train(
        self,
        module: torch.nn.Module,
        tensors: dict[str, torch.Tensor],
        loss_fn: Any,
        valid_index: np.ndarray | None,
        seed: int,
        batch_sampler: Any = None,
    ) -> Trainer:
        """Train ``module`` on ``tensors`` (rows ``valid_index`` held out); sets ``history_``
        and ``best_epoch_``. ``batch_sampler``: a sampler of
        :mod:`~structunstruct.training.samplers` instead of shuffled batches."""
        config = self._training_config()
        config.batch_sampler = batch_sampler
        config.checkpoint_fingerprint = self._checkpoint_fingerprint()
        n = len(next(iter(tensors.values())))
        if valid_index is not None and len(valid_index):
            keep = np.setdiff1d(np.arange(n), valid_index)
            train = {k: v[keep] for k, v in tensors.items()}
            valid = {k: v[valid_index] for k, v in tensors.items()}
        else:
            train, valid = tensors, None
        if self.similarity_loss > 0:
            loss_fn = with_similarity_loss(loss_fn, self.similarity_loss)
        callbacks = list(self.callbacks or [])
        if valid is not None and self.early_stopping:
            callbacks.append(EarlyStopping(patience=int(self.early_stopping)))
        generator = torch.Generator().manual_seed(seed)
        with local_torch_seed(seed + 1 + distributed.rank(), config.device):  # own dropout per rank
            trainer = Trainer(module, loss_fn, config, callbacks, generator).fit(train, valid)
        module.to("cpu")
        self.history_ = trainer.history
        self.best_epoch_ = trainer.best_epoch
        return trainer

    def _fit_orthogonal_projection(
        self, module: torch.nn.Module, arrays: dict, weight: torch.Tensor | None = None
    ) -> None:
        """Store the cell's projection on the whole training set (``weight``: (n,) row weights)."""
        if module.orthogonalization is None:
            return
        tensors = as_tensors(arrays)
        module.eval()
        with torch.no_grad():
            latent = torch.cat([module.latent(b) for b in iterate_chunks(tensors, 1024)])
        module.orthogonalization.fit_projection(latent, tensors["structured"], weight)

    @staticmethod
    def _tensors(arrays: dict[str, np.ndarray], **targets: np.ndarray) -> dict[str, torch.Tensor]:
        """The training tensors: ``arrays`` (:func:`as_tensors`) and float32 ``targets``."""
        tensors = as_tensors(arrays)
        tensors.update({k: torch.as_tensor(v, dtype=torch.float32) for k, v in targets.items()})
        return tensors

    def _outputs(self, module: torch.nn.Module, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tensors = as_tensors(arrays)
        config = self._training_config()
        module.to(config.device)
        try:
            outputs = predict_outputs(module, tensors, config)
        finally:
            module.to("cpu")
        return {k: v.double().cpu().numpy() for k, v in outputs.items()}


def as_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Numpy arrays to CPU tensors; float64 becomes float32 (the networks' precision)."""
    return {
        k: torch.from_numpy(np.ascontiguousarray(v, np.float32 if v.dtype == np.float64 else None))
        for k, v in arrays.items()
    }


def iterate_chunks(tensors: dict[str, torch.Tensor], size: int) -> Iterator[dict[str, torch.Tensor]]:
    """Consecutive row chunks of a dict of tensors (for evaluation)."""
    n = len(next(iter(tensors.values())))
    for start in range(0, n, size):
        yield {k: v[start:start + size] for k, v in tensors.items()}


__all__ = [
    "COMMON_CONSTRAINTS",
    "FUSIONS",
    "FitState",
    "Head",
    "deep_part_sees_structured",
    "SemiStructuredEstimator",
    "as_tensors",
    "iterate_chunks",
]
