"""The orthogonalization cell of semi-structured regression (Rügamer et al.).

Deep latent features ``U`` are replaced by their residuals after projecting them on
the column space of the structured design ``[1, X]``:
``U - X1 (X1' X1)^{-1} X1' U``. Whatever the deep part could explain linearly in the
structured columns is left to the structured coefficients, which therefore stay
identifiable (Rügamer, Kolb & Klein 2023, Sec. 3.3).

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


def orthogonal_complement(latent: Tensor, design: Tensor) -> Tensor:
    """Residuals of ``latent`` after least-squares projection on ``[1, design]``.

    Parameters
    ----------
    latent : Tensor of shape (n, q)
    design : Tensor of shape (n, p)

    Returns
    -------
    Tensor of shape (n, q), orthogonal to every column of ``[1, design]``.
    """
    basis, _ = torch.linalg.qr(with_intercept(design).to(latent.dtype))
    return latent - basis @ (basis.transpose(0, 1) @ latent)


class Orthogonalization(nn.Module):
    """Project deep latent features on the orthogonal complement of the structured design."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("projection", torch.zeros(0, 0))

    @property
    def is_fitted(self) -> bool:
        """Whether a training-set projection is stored for prediction."""
        return self.projection.numel() > 0

    def forward(self, latent: Tensor, design: Tensor) -> Tensor:
        """Orthogonalized features of shape (n, q).

        Parameters
        ----------
        latent : Tensor of shape (n, q)
            Deep latent features.
        design : Tensor of shape (n, p)
            Structured design (an intercept is added).
        """
        if self.training or not self.is_fitted:
            return orthogonal_complement(latent, design)
        x1 = with_intercept(design).to(latent.dtype)
        return latent - x1 @ self.projection.to(latent.dtype)

    @torch.no_grad()
    def fit_projection(self, latent: Tensor, design: Tensor) -> None:
        """Store the least-squares coefficients of ``latent`` on ``[1, design]``.

        Parameters
        ----------
        latent : Tensor of shape (n, q)
            Latent features of the whole training set (evaluation mode).
        design : Tensor of shape (n, p)
        """
        x1 = with_intercept(design).double()
        solution = torch.linalg.lstsq(x1.cpu(), latent.double().cpu()).solution
        self.projection = solution.to(device=latent.device, dtype=torch.float32)
