"""The structured part of every distribution parameter of a SemiStructuredRegressor.

Each parameter has a :class:`~structunstruct.data.StructuredDesign` (the location
shares the one of the estimator's inputs); in the models fitted here each design
gets an intercept column first. Coefficients are estimated on the standardized design
and reported on the original scale of the columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from ...classical.diagnostics import block_penalty, check_identifiable
from ...classical.penalty import Penalty
from ...classical.summary import coefficient_table
from ...data import StructuredDesign
from ...data.design import linear_columns
from .families import Family
from .fitter import DistributionalFit

INTERCEPT = "Intercept"


@dataclass
class StructuredParts:
    """The structured designs of a family's parameters (location first).

    Parameters
    ----------
    family : Family
    designs : list of StructuredDesign
        Fitted designs, one per entry of ``family.parameters``.
    ridge : float
        Weight of a ridge ``ridge / 2 * b^2`` on every linear (not smooth, not
        intercept) coefficient of the standardized designs.
    """

    family: Family
    designs: list[StructuredDesign]
    ridge: float = 0.0

    @property
    def sizes(self) -> list[int]:
        """Coefficients per parameter, intercept included."""
        return [1 + d.n_features for d in self.designs]

    def matrices(self, X: pd.DataFrame) -> list[np.ndarray]:
        """``[1, standardized design]`` of every parameter, float64."""
        return [np.column_stack([np.ones(len(X)), d.transform(X)]) for d in self.designs]

    def check_identifiable(self, matrices: Sequence[np.ndarray]) -> None:
        """Raise, naming the parameter and columns, when a design has dependent columns."""
        smooths = self.smooths()
        for k, (name, design, matrix) in enumerate(zip(self.family.parameters, self.designs, matrices)):
            blocks = [(slice(s.columns.start - 1, s.columns.stop - 1), s.matrix) for s in smooths if s.parameter == k]
            penalty = block_penalty(design.n_features, blocks)
            check_identifiable(matrix[:, 1:], design.feature_names, penalty, what=f"{name!r} structured")

    def coefficient_names(self) -> list[str]:
        """``parameter:term`` of every coefficient, designs concatenated."""
        return [f"{parameter}:{term}" if parameter != self.family.parameters[0] else term
                for parameter, term in self.index()]

    def smooths(self) -> list[Penalty]:
        """Smoothing penalties of every parameter's spline terms, and the ridge if any."""
        out = []
        for k, design in enumerate(self.designs):
            for block in design.penalty_blocks:
                columns = slice(block.columns.start + 1, block.columns.stop + 1)
                out.append(Penalty(block.name, columns, block.matrix, df=block.df, parameter=k))
            if self.ridge > 0:
                out.extend(Penalty(f"ridge({design.feature_names[j]})", slice(j + 1, j + 2), np.ones((1, 1)),
                                   lam=self.ridge, df=1.0, parameter=k)
                           for j in linear_columns(design))
        return out

    def initial(self, y: np.ndarray) -> list[np.ndarray]:
        """Intercepts from the marginal of ``y``, other coefficients zero."""
        start = self.family.initial_eta(y)
        return [np.concatenate([[start[k]], np.zeros(d.n_features)]) for k, d in enumerate(self.designs)]

    def index(self) -> pd.MultiIndex:
        """``(parameter, term)`` of every coefficient."""
        pairs = [
            (name, term)
            for name, design in zip(self.family.parameters, self.designs)
            for term in [INTERCEPT, *design.feature_names]
        ]
        return pd.MultiIndex.from_tuples(pairs, names=["parameter", "term"])

    def to_original(self) -> np.ndarray:
        """Linear map from standardized to original-scale coefficients."""
        blocks = []
        for design in self.designs:
            p = design.n_features
            block = np.eye(1 + p)
            block[0, 1:] = -design.center_ / design.scale_
            block[1:, 1:] = np.diag(1 / design.scale_)
            blocks.append(block)
        return linalg.block_diag(*blocks)

    def summary(self, coef: Sequence[np.ndarray], covariance: np.ndarray) -> pd.DataFrame:
        """Wald table on the original scale, indexed by ``(parameter, term)``."""
        transform = self.to_original()
        theta = transform @ np.concatenate(coef)
        return coefficient_table(self.index(), theta, transform @ covariance @ transform.T)

    def linear_predictors(self, X: pd.DataFrame, coef: Sequence[np.ndarray]) -> np.ndarray:
        """Structured predictors of shape (n, n_parameters)."""
        return np.column_stack([m @ c for m, c in zip(self.matrices(X), coef)])

    def partial_effect(
        self, fit: DistributionalFit, term: str, parameter: str, grid: np.ndarray
    ) -> pd.DataFrame:
        """Centred effect of smooth ``term`` of ``parameter`` on ``grid``, with pointwise 95% bands."""
        k = self.family.parameters.index(parameter)
        design = self.designs[k]
        encodings = {str(enc.term): enc for enc in design.encodings_}
        if term not in encodings or encodings[term].basis is None:
            smooth = [name for name, enc in encodings.items() if enc.basis is not None]
            raise ValueError(f"{term!r} is not a smooth term of {parameter!r}; smooth terms: {smooth}")
        columns = design.term_columns()[term]
        basis = encodings[term].basis.transform(grid)
        start = int(np.sum(self.sizes[:k])) + 1
        idx = np.arange(columns.start, columns.stop) + start
        effect = basis @ fit.coef[k][columns.start + 1:columns.stop + 1]
        se = np.sqrt(np.einsum("ij,jk,ik->i", basis, fit.covariance[np.ix_(idx, idx)], basis))
        column = encodings[term].column
        return pd.DataFrame(
            {column: grid, "effect": effect, "se": se, "lower 95%": effect - 1.96 * se,
             "upper 95%": effect + 1.96 * se}
        )


__all__ = ["INTERCEPT", "StructuredParts"]
