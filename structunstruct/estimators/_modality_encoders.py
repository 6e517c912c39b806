"""One encoder per image and text column, with backbones shared across image columns.

Encoders are named by the column's modality key
(:meth:`~structunstruct.data.roles.ColumnRoles.modality_key`): ``"image"`` / ``"text"``
for a model's only image / text column, ``"image:<column>"`` / ``"text:<column>"`` with
several, so ``module_.encoders["image:ct"]`` is the encoder of column ``"ct"``.

Each image column gets its own backbone unless ``share_encoders=True`` or
``image_encoder`` gives the same ``torch.nn.Module`` instance for several columns: then
those columns run one backbone (one set of weights, counted once by ``parameters()``),
each column keeping its own pixel standardization (a
:class:`~structunstruct.nn.encoders.pixels.StandardizedImageEncoder` per column around
the shared :class:`~structunstruct.nn.encoders.image.ImageEncoder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..data import InputBuilder
from ..data.column_inputs import per_column
from ..nn import create_image_encoder
from ..nn.augment import RandomAffine
from ..nn.encoders.image import ImageEncoder
from ..nn.encoders.pixels import StandardizedImageEncoder
from ..nn.encoders.text import BagOfWordsEncoder

#: Default of each per-column image setting (a mapping may leave columns out).
_DEFAULTS = {"image_encoder": "smallcnn", "pretrained": False, "image_size": None}


def image_settings(estimator: Any, columns: Sequence[str], name: str) -> dict[str, object]:
    """The estimator's ``name`` setting (``image_encoder``, ``pretrained``, ``image_size``) per column."""
    return per_column(getattr(estimator, name), columns, name, _DEFAULTS[name])


def shares_encoders(estimator: Any) -> bool:
    """Whether every image column runs one backbone (``share_encoders=True``)."""
    return bool(getattr(estimator, "share_encoders", False))


def check_encoder_settings(estimator: Any, columns: Sequence[str]) -> None:
    """Check the per-column image settings before any data is read.

    Raises
    ------
    ValueError
        If a mapping names a column that is not an image column, or ``share_encoders=True``
        meets image columns with different encoders or weights.
    """
    settings = {name: image_settings(estimator, columns, name) for name in _DEFAULTS}
    if not shares_encoders(estimator) or len(columns) < 2:
        return
    for name in ("image_encoder", "pretrained"):
        distinct = {_identity(value) for value in settings[name].values()}
        if len(distinct) > 1:
            raise ValueError(
                f"share_encoders=True runs one backbone for every image column, but {name} "
                f"differs between them: {settings[name]}"
            )


def _identity(value: object) -> object:
    return id(value) if isinstance(value, torch.nn.Module) else repr(value)


def image_encoders(estimator: Any, builder: InputBuilder) -> dict[str, StandardizedImageEncoder]:
    """One encoder per image column of joint fusion, by modality key.

    Backbones are built in column order; a shared one is built once (for the first of
    its columns), so a model's initial weights do not depend on how many columns share.
    """
    columns = list(builder.image_inputs_)
    encoders_by_column = image_settings(estimator, columns, "image_encoder")
    weights_by_column = image_settings(estimator, columns, "pretrained")
    augment = RandomAffine() if estimator.augment else None
    built: dict[object, tuple[str, ImageEncoder]] = {}
    encoders = {}
    for column, inputs in builder.image_inputs_.items():
        spec, channels = encoders_by_column[column], int(inputs.images_.shape_[0])
        share_key = _share_key(estimator, column, spec)
        if share_key not in built:
            built[share_key] = (column, create_image_encoder(spec, channels, weights_by_column[column], augment))
        first, backbone = built[share_key]
        _check_channels(builder, first, column)
        encoders[inputs.key] = StandardizedImageEncoder(
            backbone, inputs.images_.mean_, inputs.images_.std_, inputs.images_.pixel_scale_,
            input_key=inputs.key,
        )
    return encoders


def _share_key(estimator: Any, column: str, spec: object) -> object:
    """Columns with the same key run one backbone."""
    if shares_encoders(estimator):
        return "shared"
    if isinstance(spec, torch.nn.Module):
        return ("module", id(spec))
    return ("column", column)


def _check_channels(builder: InputBuilder, first: str, column: str) -> None:
    have = builder.image_inputs_[first].images_.shape_[0]
    need = builder.image_inputs_[column].images_.shape_[0]
    if have != need:
        raise ValueError(
            f"image columns {first!r} ({have} channels) and {column!r} ({need} channels) share "
            "one backbone, which takes one channel count; give them their own encoders"
        )


def text_encoders(estimator: Any, builder: InputBuilder) -> dict[str, torch.nn.Module]:
    """One bag-of-words encoder per ``"bow"`` text column (its own vocabulary), by modality key.

    With ``share_encoders=True`` and several such columns, one encoder (on the shared
    vocabulary) reads every text column, each through a :class:`KeyedEncoder`. Text
    columns with pretrained sentence embeddings are inputs of the tabular network.
    """
    columns = [inputs for inputs in builder.text_inputs_.values() if inputs.text_ is not None]
    settings = {"hidden_layers": tuple(estimator.hidden_layers)[-1:], "dropout": estimator.dropout}
    if not (shares_encoders(estimator) and len(columns) > 1):
        return {c.key: BagOfWordsEncoder(c.text_.n_ids, input_key=c.key, **settings) for c in columns}
    shared = BagOfWordsEncoder(columns[0].text_.n_ids, **settings)  # one vocabulary for all
    return {c.key: KeyedEncoder(shared, c.key) for c in columns}


class KeyedEncoder(torch.nn.Module):
    """An encoder (possibly shared with other columns) reading the batch key of one column.

    Parameters
    ----------
    encoder : nn.Module
        Takes one tensor and declares ``out_dim``.
    input_key : str
        The column's batch key.

    Attributes
    ----------
    out_dim : int
    input_keys : tuple of str
    """

    def __init__(self, encoder: torch.nn.Module, input_key: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.input_keys = (str(input_key),)
        self.out_dim = int(encoder.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped encoder's output for this column's input."""
        return self.encoder(x)
