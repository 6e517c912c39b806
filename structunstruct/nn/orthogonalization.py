"""The orthogonalization cell of semi-structured regression (Rügamer et al.).

Deep latent features ``U`` are replaced by their residuals after projecting them on
the column space of the structured design ``[1, X]``:
``U - X1 (X1' X1)^{-1} X1' U``. Whatever the deep part could explain linearly in the
structured columns is left to the structured coefficients, which therefore stay
identifiable (Rügamer, Kolb & Klein 2023, Sec. 3.3).

With row weights ``w`` (the Fisher information of the predictor, e.g. ``1 / sigma^2``
for a normal location with a modelled scale) the projection is the weighted one,
``U - X1 (X1' W X1)^{-1} X1' W U``: the residuals are orthogonal to ``[1, X]`` in the
inner product the likelihood uses. Then the deep part ``h`` satisfies
``X1' W h = 0``, so the weighted least-squares (Fisher scoring) estimate of the
structured coefficients with ``h`` as an offset is the one without ``h``: the
structured effects do not depend on the deep part, whatever the weights (with equal
weights this is the unweighted cell of the paper).

During training the projection is computed per batch, as in the paper. For
prediction the projection estimated on the whole training set is stored
(:meth:`Orthogonalization.fit_projection`), so the prediction for one row does not
depend on which other rows are in its batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def with_intercept(design: Tensor) -> Tensor:
    """Prepend a column of ones to a (n, p) design."""
    return torch.cat([torch.ones_like(design[:, :1]), design], dim=1)


def _root_weight(weight: Tensor, like: Tensor) -> Tensor:
    """``sqrt(w)`` as a column of the dtype of ``like``; weights floored at a tiny positive value."""
    return torch.sqrt(torch.clamp(weight.detach().to(like.dtype), min=1e-12))[:, None]


def orthogonal_complement(latent: Tensor, design: Tensor, weight: Tensor | None = None) -> Tensor:
    """Residuals of ``latent`` after (weighted) least-squares projection on ``[1, design]``.

    Parameters
    ----------
    latent : Tensor of shape (n, q)
    design : Tensor of shape (n, p)
    weight : Tensor of shape (n,), optional
        Positive row weights ``w`` (no gradient flows through them); equal weights
        when ``None``.

    Returns
    -------
    Tensor of shape (n, q) with ``[1, design]' diag(w) result = 0``.
    """
    x1 = with_intercept(design).to(latent.dtype)
    if weight is None:
        basis, _ = torch.linalg.qr(x1)
        return latent - basis @ (basis.transpose(0, 1) @ latent)
    root = _root_weight(weight, latent)
    basis, _ = torch.linalg.qr(root * x1)
    scaled = root * latent
    return (scaled - basis @ (basis.transpose(0, 1) @ scaled)) / root


class Orthogonalization(nn.Module):
    """Project deep latent features on the orthogonal complement of the structured design."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("projection", torch.zeros(0, 0))

    @property
    def is_fitted(self) -> bool:
        """Whether a training-set projection is stored for prediction."""
        return self.projection.numel() > 0

    def forward(self, latent: Tensor, design: Tensor, weight: Tensor | None = None) -> Tensor:
        """Orthogonalized features of shape (n, q).

        Parameters
        ----------
        latent : Tensor of shape (n, q)
            Deep latent features.
        design : Tensor of shape (n, p)
            Structured design (an intercept is added).
        weight : Tensor of shape (n,), optional
            Row weights of the per-batch projection in training; the stored projection
            (evaluation mode) needs none, it already carries the weights of
            :meth:`fit_projection`.
        """
        if self.training or not self.is_fitted:
            return orthogonal_complement(latent, design, weight)
        x1 = with_intercept(design).to(latent.dtype)
        return latent - x1 @ self.projection.to(latent.dtype)

    @torch.no_grad()
    def fit_projection(self, latent: Tensor, design: Tensor, weight: Tensor | None = None) -> None:
        """Store the (weighted) least-squares coefficients of ``latent`` on ``[1, design]``.

        Parameters
        ----------
        latent : Tensor of shape (n, q)
            Latent features of the whole training set (evaluation mode).
        design : Tensor of shape (n, p)
        weight : Tensor of shape (n,), optional
            Row weights, as in :func:`orthogonal_complement`.
        """
        x1 = with_intercept(design).double().cpu()
        target = latent.double().cpu()
        if weight is not None:
            root = _root_weight(weight.cpu(), x1)
            x1, target = root * x1, root * target
        solution = torch.linalg.lstsq(x1, target).solution
        self.projection = solution.to(device=latent.device, dtype=torch.float32)
