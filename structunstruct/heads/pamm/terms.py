"""The time-dependent terms of a PAMM and its design on piecewise-exponential data.

The coefficient vector of a PAMM is laid out as
``[baseline | structured | time-varying | random intercepts]``:

- baseline: one log-hazard per interval (``"piecewise"``; intervals without any
  event get hazard 0 and no coefficient, the maximum-likelihood estimate) or a
  P-spline of the interval end time (``"spline"``, second-order difference penalty);
- structured: the subject's structured design (linear terms, dummies, ``s(col)``);
- time-varying: ``x * f_x(t)`` for each column ``x`` in ``time_varying``, with
  ``f_x`` a centred P-spline of the interval end time (the time-constant part is the
  structured linear term of ``x``), so the log-hazard ratio of ``x`` at time ``t`` is
  ``beta_x + f_x(t)``;
- random intercepts: one per level of the grouping column, ridge-penalized (a
  Gaussian random effect whose variance is the inverse penalty weight).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...classical.diagnostics import block_penalty
from ...classical.penalty import Penalty
from ...data.design import StructuredDesign, linear_columns
from ...data.splines import PSplineBasis
from .ped import PEDSplit

TIME_BASIS_SIZE = 10


@dataclass
class PAMMTerms:
    """Baseline, time-varying and random-intercept terms, fitted on training PED.

    Parameters
    ----------
    cuts : ndarray of shape (K + 1,)
    baseline : {"piecewise", "spline"}
    baseline_df : float or None
        Fixed effective df of the spline baseline; ``None`` = estimated (REML-type).
    time_varying : tuple of str
        Columns with time-varying effects (each a one-column linear structured term).
    random_effects : str or None
        Grouping column of the random intercepts.
    ridge : float
        Fixed weight of a ridge ``ridge / 2 * b^2`` on every linear structured
        coefficient (standardized design; not smooths, baseline or random intercepts).
    """

    cuts: np.ndarray
    baseline: str = "piecewise"
    baseline_df: float | None = None
    time_varying: tuple[str, ...] = ()
    random_effects: str | None = None
    ridge: float = 0.0
    active_: np.ndarray | None = field(default=None, init=False)
    baseline_basis_: PSplineBasis | None = field(default=None, init=False)
    tv_basis_: PSplineBasis | None = field(default=None, init=False)
    tv_columns_: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), init=False)
    levels_: list = field(default_factory=list, init=False)
    n_structured_: int = field(default=0, init=False)

    # -- fitting -------------------------------------------------------------------
    def fit(self, design: StructuredDesign, X: pd.DataFrame, ped: PEDSplit) -> PAMMTerms:
        """Learn the bases, the time-varying columns and the group levels."""
        self.n_structured_ = design.n_features
        events = np.bincount(ped.interval, weights=ped.status, minlength=self.n_intervals)
        if self.baseline == "piecewise":
            self.active_ = events > 0
        else:
            self.active_ = np.ones(self.n_intervals, dtype=bool)
            self.baseline_basis_ = self._time_basis(ped, center=False)
        self.tv_columns_ = _time_varying_columns(design, self.time_varying)
        if len(self.tv_columns_):
            self.tv_basis_ = self._time_basis(ped, center=True)
        if self.random_effects is not None:
            groups = X[self.random_effects]
            if groups.isna().any():
                raise ValueError(f"random_effects column {self.random_effects!r} has missing values")
            self.levels_ = sorted(pd.unique(groups).tolist(), key=lambda v: (str(type(v)), v))
        return self

    def _time_basis(self, ped: PEDSplit, center: bool) -> PSplineBasis:
        n_basis = min(TIME_BASIS_SIZE, self.n_intervals + (0 if center else 0))
        if n_basis < 4 or len(np.unique(ped.tend)) < 2:
            raise ValueError(
                f"smooth functions of time need at least 4 intervals; got {self.n_intervals} "
                "(use more cuts or baseline='piecewise' without time_varying)"
            )
        return PSplineBasis(n_basis, center=center).fit(ped.tend)

    # -- layout --------------------------------------------------------------------
    @property
    def n_intervals(self) -> int:
        """Number of intervals K."""
        return len(self.cuts) - 1

    @property
    def interval_times(self) -> np.ndarray:
        """Time point of each interval used by smooth functions of time (its end)."""
        return self.cuts[1:]

    def slices(self) -> dict[str, slice]:
        """Column blocks ``baseline``, ``structured``, ``time_varying``, ``random``."""
        widths = {
            "baseline": self.baseline_matrix(self.interval_times).shape[1],
            "structured": self.n_structured_,
            "time_varying": len(self.tv_columns_) * (self.tv_basis_.n_columns if self.tv_basis_ else 0),
            "random": len(self.levels_),
        }
        out, start = {}, 0
        for name, width in widths.items():
            out[name] = slice(start, start + width)
            start += width
        return out

    @property
    def n_coef(self) -> int:
        """Length of the coefficient vector."""
        return self.slices()["random"].stop

    # -- bases ---------------------------------------------------------------------
    def interval_of(self, times: np.ndarray) -> np.ndarray:
        """Interval index of each time (right-closed intervals, clipped to [0, K-1])."""
        k = np.searchsorted(self.cuts, np.asarray(times, dtype=np.float64), side="left") - 1
        return np.clip(k, 0, self.n_intervals - 1)

    def baseline_matrix(self, times: np.ndarray) -> np.ndarray:
        """Baseline basis at ``times``, shape (g, n_baseline)."""
        if self.baseline_basis_ is not None:
            return self.baseline_basis_.transform(self.interval_times[self.interval_of(times)])
        eye = np.eye(self.n_intervals)[:, self.active_]
        return eye[self.interval_of(times)]

    def tv_matrix(self, times: np.ndarray) -> np.ndarray:
        """Time-varying basis at ``times`` (evaluated at the interval end), shape (g, q)."""
        if self.tv_basis_ is None:
            return np.zeros((len(times), 0))
        return self.tv_basis_.transform(self.interval_times[self.interval_of(times)])

    def group_codes(self, X: pd.DataFrame) -> np.ndarray:
        """Level index per row; -1 for levels unseen in training (random effect 0)."""
        if self.random_effects is None:
            return np.full(len(X), -1, dtype=np.int64)
        lookup = {level: i for i, level in enumerate(self.levels_)}
        return np.array([lookup.get(v, -1) for v in X[self.random_effects].tolist()], dtype=np.int64)

    # -- the PED design ----------------------------------------------------------------
    def glm_inputs(
        self, design: np.ndarray, codes: np.ndarray, ped: PEDSplit
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The PED design for :func:`~structunstruct.heads.pamm.glm.fit_glm`.

        Returns
        -------
        X : ndarray of shape (n_rows, n_columns)
            The design on PED rows; subjects are indexed, never copied as frames. With
            a piecewise baseline its interval indicators are left out (they are passed
            as ``groups`` and absorbed, not formed).
        groups : ndarray of shape (n_rows,) or None
            Rank of each row's interval among the intervals with events.
        """
        sl = self.slices()
        piecewise = self.baseline_basis_ is None
        first = sl["baseline"].stop if piecewise else 0
        out = np.zeros((ped.n_rows, self.n_coef - first))

        def block(name: str) -> slice:
            return slice(sl[name].start - first, sl[name].stop - first)

        if not piecewise:
            out[:, block("baseline")] = self.baseline_matrix(self.interval_times)[ped.interval]
        out[:, block("structured")] = design[ped.subject]
        if len(self.tv_columns_):
            x = design[:, self.tv_columns_][ped.subject]
            basis = self.tv_matrix(self.interval_times)[ped.interval]
            out[:, block("time_varying")] = (x[:, :, None] * basis[:, None, :]).reshape(ped.n_rows, -1)
        if self.levels_:
            rows = np.flatnonzero(codes[ped.subject] >= 0)
            out[rows, block("random").start + codes[ped.subject][rows]] = 1.0
        groups = (np.cumsum(self.active_) - 1)[ped.interval] if piecewise else None
        return out, groups

    def penalties(self, design: StructuredDesign) -> list[Penalty]:
        """Penalties of the smooth baseline, ``s(col)`` terms, time-varying effects, groups."""
        sl = self.slices()
        out = []
        if self.baseline_basis_ is not None:
            out.append(Penalty("baseline", sl["baseline"], self.baseline_basis_.penalty_, df=self.baseline_df))
        explicit = {str(enc.term): enc.term.df for enc in design.encodings_}
        start = sl["structured"].start
        for block in design.penalty_blocks:
            cols = slice(start + block.columns.start, start + block.columns.stop)
            out.append(Penalty(block.name, cols, block.matrix, df=explicit.get(block.name)))
        q = self.tv_basis_.n_columns if self.tv_basis_ is not None else 0
        for j, name in enumerate(self.tv_names()):
            first = sl["time_varying"].start + j * q
            out.append(Penalty(name, slice(first, first + q), self.tv_basis_.penalty_))
        if self.levels_:
            out.append(Penalty(f"({self.random_effects})", sl["random"], np.eye(len(self.levels_))))
        if self.ridge > 0:
            names = design.feature_names
            out.extend(Penalty(f"ridge({names[j]})", slice(start + j, start + j + 1), np.ones((1, 1)), lam=self.ridge)
                       for j in linear_columns(design))
        return out

    def structured_penalty(self, design: StructuredDesign) -> np.ndarray | None:
        """Penalties on the subject-level structured design (smooths and ridge), p x p."""
        start = self.slices()["structured"].start
        blocks = [(slice(pen.columns.start - start, pen.columns.stop - start), pen.matrix)
                  for pen in self.penalties(design)
                  if start <= pen.columns.start < start + self.n_structured_]
        return block_penalty(self.n_structured_, blocks)

    def coefficient_names(self, design: StructuredDesign) -> list[str | None]:
        """Name of every coefficient (``None`` for the baseline and random intercepts)."""
        sl = self.slices()
        q = self.tv_basis_.n_columns if self.tv_basis_ is not None else 0
        tv = [f"{name}[{j}]" for name in self.tv_names() for j in range(q)]
        baseline = [None] * (sl["baseline"].stop - sl["baseline"].start)
        return [*baseline, *design.feature_names, *tv, *[None] * len(self.levels_)]

    def tv_names(self) -> list[str]:
        """Names of the time-varying terms, ``"col(t)"``."""
        return [f"{col}(t)" for col in self.time_varying]

    # -- the fitted log hazard ---------------------------------------------------------
    def log_hazard(self, coef: np.ndarray, design: np.ndarray, codes: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """Log hazard of each interval, shape (K, n); ``-inf`` in intervals without events.

        ``shift`` of shape (n,) is added (the deep part).
        """
        sl = self.slices()
        times = self.interval_times
        base = self.baseline_matrix(times) @ coef[sl["baseline"]]
        subject = design @ coef[sl["structured"]] + shift
        if self.levels_:
            effects = coef[sl["random"]]
            subject = subject + np.where(codes >= 0, effects[np.maximum(codes, 0)], 0.0)
        out = base[:, None] + subject[None, :]
        if len(self.tv_columns_):
            gamma = coef[sl["time_varying"]].reshape(len(self.tv_columns_), -1)
            out = out + (self.tv_matrix(times) @ gamma.T) @ design[:, self.tv_columns_].T
        out[~self.active_] = -np.inf
        return out


def _time_varying_columns(design: StructuredDesign, columns: tuple[str, ...]) -> np.ndarray:
    term_columns = design.term_columns()
    index = []
    for col in columns:
        block = term_columns.get(col)
        if block is None or block.stop - block.start != 1:
            raise ValueError(
                f"time_varying column {col!r} must also be a linear structured term with one "
                f"design column (numeric or binary); structured terms: {list(term_columns)}"
            )
        index.append(block.start)
    return np.asarray(index, dtype=np.int64)


__all__ = ["PAMMTerms"]
