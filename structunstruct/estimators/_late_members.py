"""``fusion="late"`` on an estimator: one copy of it per modality, combined by LateFusion."""

from __future__ import annotations

import os
from typing import Any

from sklearn.base import clone

from ..data.roles import ColumnRoles

# Parameters that decide what a member sees; the member of a modality overrides them.
_INPUT_PARAMETERS = ("structured", "tabular", "image", "text", "fusion", "modality_dropout")


def late_fusion_members(estimator: Any, roles: ColumnRoles) -> list[tuple[str, Any]]:
    """One estimator per modality, each a copy of ``estimator`` restricted to its inputs.

    Parameters
    ----------
    estimator : estimator with ``fusion="late"``
        Its training settings (network widths, learning rate, seed, ...) are shared.
    roles : ColumnRoles
        The resolved columns of ``estimator`` on the training frame.

    Returns
    -------
    list of (name, estimator)
        ``"tabular"`` (structured terms and the deep tabular network) when there are
        such columns, and one per image and text column, named by its modality key
        (``"image"``, or ``"image:<column>"`` with several image columns); each fits
        with ``fusion="joint"`` on its own modality.
    """
    blank = {"structured": None, "tabular": [], "image": None, "text": None,
             "fusion": "joint", "modality_dropout": 0.0}
    members = []
    if roles.structured or roles.tabular:
        members.append(("tabular", {"structured": estimator.structured, "tabular": list(roles.tabular)}))
    for role, keys in (("image", roles.image_keys), ("text", roles.text_keys)):
        members += [(key, {role: column}) for column, key in keys.items()]
    if len(members) < 2:
        raise ValueError(
            "fusion='late' fits one model per modality and combines them, but this model has "
            f"only {[name for name, _ in members]}; use fusion='joint'"
        )
    checkpoint_dir = getattr(estimator, "checkpoint_dir", None)
    if checkpoint_dir is not None:  # one checkpoint per member, each resumable on its own
        for name, own in members:
            own["checkpoint_dir"] = os.path.join(checkpoint_dir, name)
    return [(name, clone(estimator).set_params(**{**blank, **own})) for name, own in members]
