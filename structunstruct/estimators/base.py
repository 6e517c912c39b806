"""Machinery shared by every estimator: parameters, inputs, network, training.

Estimators are thin facades: they resolve column roles, build the per-modality
arrays (:mod:`structunstruct.data`), assemble an :class:`~structunstruct.nn.AdditivePredictor`
and hand it to the one :class:`~structunstruct.training.Trainer`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..data import InputBuilder, resolve_roles
from ..data.leakage import check_no_leakage
from ..data.roles import MISSING_MODALITIES, ColumnRoles
from ..data.text_features import resolve_text_encoder_path
from ..nn import AdditivePredictor, TabularEncoder, create_image_encoder
from ..nn.augment import RandomAffine
from ..nn.encoders.pixels import StandardizedImageEncoder
from ..nn.encoders.text import BagOfWordsEncoder
from ..nn.fusion import FUSION_LAYERS
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

FUSIONS = ("early", "joint", "late")
SUPPORTED_FUSIONS = ("early", "joint")

COMMON_CONSTRAINTS: dict[str, list] = {
    "structured": [str, list, tuple, None],
    "tabular": [list, tuple, None],
    "image": [str, None],
    "text": [str, None],
    "text_encoder": [str],
    "image_encoder": [str, torch.nn.Module],
    "pretrained": ["boolean", str, os.PathLike],
    "image_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
    "augment": ["boolean"],
    "image_cache": [str, os.PathLike, None],
    "fusion": [StrOptions(set(FUSIONS))],
    "orthogonalize": ["boolean", StrOptions({"auto"})],
    "hidden_layers": [list, tuple],
    "fusion_layers": [list, tuple],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": [Interval(Integral, 1, None, closed="left"), None],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "device": [str, torch.device],
    "precision": [StrOptions({"auto", "32", "bf16"})],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "callbacks": [list, tuple, None],
    "checkpoint_dir": [str, os.PathLike, None],
    "missing_modalities": [StrOptions(set(MISSING_MODALITIES))],
    "modality_dropout": [Interval(Real, 0, 1, closed="left")],
    "fusion_layer": [StrOptions(set(FUSION_LAYERS))],
}


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


class SemiStructuredMixin(PersistenceMixin):
    """Building, training and evaluating the additive predictor of an estimator.

    Subclasses define ``_loss`` and call these helpers from ``fit``; every parameter
    named in :data:`COMMON_CONSTRAINTS` is an attribute of the estimator.
    """

    #: Values of ``fusion`` this estimator fits (late fusion is otherwise reached
    #: through :class:`~structunstruct.LateFusion`).
    _supported_fusions: tuple[str, ...] = SUPPORTED_FUSIONS

    # -- parameters -------------------------------------------------------------------
    def _check_common_params(self) -> None:
        if self.fusion not in self._supported_fusions:
            raise ValueError(
                f"fusion={self.fusion!r} is not available on this estimator; supported: "
                f"{list(self._supported_fusions)} (late fusion: structunstruct.LateFusion)"
            )
        for name in ("hidden_layers", "fusion_layers"):
            widths = getattr(self, name)
            if not all(isinstance(w, Integral) and w > 0 for w in widths):
                raise ValueError(f"{name} must be a sequence of positive integers; got {widths!r}")
        self._check_modality_dropout()
        if self.fusion_layer == "film" and (self.image is None or self.fusion != "joint"):
            raise ValueError(
                "fusion_layer='film' modulates the image encoding by the other modalities; "
                f"it needs an image column and fusion='joint' (got image={self.image!r}, "
                f"fusion={self.fusion!r})"
            )
        if self.text is not None and self.text_encoder != "bow":
            resolve_text_encoder_path(self.text_encoder)  # a clear error before any training

    def _check_modality_dropout(self) -> None:
        if not self.modality_dropout:
            return
        trained_text = self.text is not None and self.text_encoder == "bow"
        if self.image is None and not trained_text:
            raise ValueError(
                "modality_dropout drops the image and text encodings during training; "
                "the model has neither (set image= or text= with text_encoder='bow', or "
                "modality_dropout=0; pretrained text embeddings are tabular inputs)"
            )
        if self.fusion == "early" and self.image is not None:
            raise ValueError(
                "modality_dropout needs fusion='joint': with fusion='early' the image "
                "features are inputs of the tabular network, not a modality encoding; "
                "missing images are still accepted there (missing_modalities='allow': "
                "zero features plus a missing-image indicator)"
            )

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
            roles, image_size=self.image_size, fusion=self.fusion,
            image_encoder=self.image_encoder, pretrained=self.pretrained,
            missing_modalities=self.missing_modalities, text_encoder=self.text_encoder,
            image_cache=self.image_cache,
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
        if roles.image is not None and self.fusion == "joint":
            augment = RandomAffine() if self.augment else None
            encoders["image"] = StandardizedImageEncoder(
                create_image_encoder(self.image_encoder, builder.in_chans, self.pretrained, augment),
                builder.images_.mean_, builder.images_.std_, builder.images_.pixel_scale_,
            )
        if builder.text_ is not None:
            encoders["text"] = BagOfWordsEncoder(
                builder.text_.n_ids, hidden_layers=tuple(self.hidden_layers)[-1:], dropout=self.dropout
            )
        fusion_layers = tuple(self.fusion_layers) if len(encoders) > 1 else ()
        optional = ()
        if self.missing_modalities == "allow" or self.modality_dropout > 0:
            optional = tuple(name for name in ("image", "text") if name in encoders)
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
    ) -> Trainer:
        config = self._training_config()
        config.checkpoint_fingerprint = self._checkpoint_fingerprint()
        n = len(next(iter(tensors.values())))
        if valid_index is not None and len(valid_index):
            keep = np.setdiff1d(np.arange(n), valid_index)
            train = {k: v[keep] for k, v in tensors.items()}
            valid = {k: v[valid_index] for k, v in tensors.items()}
        else:
            train, valid = tensors, None
        callbacks = list(self.callbacks or [])
        if valid is not None and self.early_stopping:
            callbacks.append(EarlyStopping(patience=int(self.early_stopping)))
        generator = torch.Generator().manual_seed(seed)
        with local_torch_seed(seed + 1 + distributed.rank(), config.device):  # own dropout per rank
            trainer = Trainer(module, loss_fn, config, callbacks, generator).fit(train, valid)
        module.to("cpu")
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


def step_function_values(knots: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Evaluate a right-continuous step function (0 before the first knot)."""
    idx = np.searchsorted(knots, grid, side="right") - 1
    return np.where(idx >= 0, values[np.maximum(idx, 0)], 0.0)



def median_survival_time(survival: pd.DataFrame) -> np.ndarray:
    """First time at which each column of a survival DataFrame drops to 0.5 or below.

    Returns ``inf`` where the curve stays above 0.5; shape (n_columns,).
    """
    below = survival.to_numpy() <= 0.5
    times = survival.index.to_numpy()
    return np.where(below.any(axis=0), times[below.argmax(axis=0)], np.inf)


def stratified_holdout(event: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a validation split stratified by the event indicator."""
    if fraction <= 0:
        return np.zeros(0, dtype=np.int64)
    parts = []
    for value in (False, True):
        idx = np.flatnonzero(event == value)
        take = int(round(fraction * len(idx)))
        parts.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(parts)).astype(np.int64)


__all__ = [
    "COMMON_CONSTRAINTS",
    "deep_part_sees_structured",
    "SemiStructuredMixin",
    "as_tensors",
    "iterate_chunks",
    "median_survival_time",
    "step_function_values",
    "stratified_holdout",
]
