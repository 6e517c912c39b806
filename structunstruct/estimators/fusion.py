"""``fusion`` decided in one place: the plan of how an estimator combines its modalities.

:func:`resolve_fusion` checks the fusion settings against the columns, before any
input is built, and returns a :class:`FusionPlan`, which every later step reads:

- ``"early"``: the input layer (:class:`~structunstruct.data.InputBuilder`) turns each
  image column into features once (PCA, or a frozen encoder that the plan hands to it)
  and appends them to the tabular network's inputs;
- ``"joint"``: the network builder gives each image and text column an encoder trained
  with the head, joined by the fusion layer (:func:`~structunstruct.nn.fusion.create_fusion_layer`);
- ``"late"``: one copy of the estimator per modality
  (:func:`~structunstruct.estimators._late_members.late_fusion_members`), combined by
  the estimator's rule (``_combine_late``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..data.roles import as_columns
from ..nn.encoders.frozen import FrozenEncoderFeatures


@dataclass(frozen=True)
class FusionPlan:
    """How the modalities of one fit are combined.

    Attributes
    ----------
    kind : {"early", "joint", "late"}
        The resolved ``fusion``.
    """

    kind: str

    @property
    def late(self) -> bool:
        """One model per modality, combined afterwards."""
        return self.kind == "late"

    @property
    def trains_image_encoders(self) -> bool:
        """Whether the network holds an image encoder per image column (joint fusion)."""
        return self.kind == "joint"

    def input_options(self) -> dict[str, Any]:
        """Arguments of the input builder: how image columns become arrays."""
        return {"fusion": "early" if self.kind == "early" else "joint",
                "frozen_features": FrozenEncoderFeatures}


def resolve_fusion(estimator: Any) -> FusionPlan:
    """Check the fusion settings of ``estimator`` and return its plan.

    Parameters
    ----------
    estimator : SemiStructuredEstimator
        Reads ``fusion``, ``fusion_layer``, ``modality_dropout``, ``image``, ``text``
        and ``text_encoder``.

    Returns
    -------
    FusionPlan
        The plan every later step of the fit reads.

    Raises
    ------
    ValueError
        If FiLM is asked for without exactly one image column in joint fusion, or
        modality dropout without an image/text encoding to drop.
    """
    images = as_columns(estimator.image, "image")
    if estimator.fusion_layer == "film" and (len(images) != 1 or estimator.fusion != "joint"):
        raise ValueError(
            "fusion_layer='film' modulates the image encoding by the other modalities; "
            "it needs an image column (exactly one: several image columns are concatenated "
            f"with fusion_layer='concat') and fusion='joint' (got image={estimator.image!r}, "
            f"fusion={estimator.fusion!r})"
        )
    _check_modality_dropout(estimator, images)
    return FusionPlan(estimator.fusion)


def _check_modality_dropout(estimator: Any, images: tuple[str, ...]) -> None:
    if not estimator.modality_dropout:
        return
    trained_text = bool(as_columns(estimator.text, "text")) and estimator.text_encoder == "bow"
    if not images and not trained_text:
        raise ValueError(
            "modality_dropout drops the image and text encodings during training; "
            "the model has neither (set image= or text= with text_encoder='bow', or "
            "modality_dropout=0; pretrained text embeddings are tabular inputs)"
        )
    if estimator.fusion == "early" and images:
        raise ValueError(
            "modality_dropout needs fusion='joint': with fusion='early' the image "
            "features are inputs of the tabular network, not a modality encoding; "
            "missing images are still accepted there (missing_modalities='allow': "
            "zero features plus a missing-image indicator)"
        )


__all__ = ["FusionPlan", "resolve_fusion"]
