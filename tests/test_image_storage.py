"""8-bit images are stored as decoded (uint8) and standardized batch by batch in the network."""

from __future__ import annotations

import numpy as np
import pandas as pd

import structunstruct as su
from structunstruct.data import resolve_roles
from structunstruct.data.inputs import InputBuilder


def _as_float(X: pd.DataFrame) -> pd.DataFrame:
    """The same images as float32 arrays in [0, 1] (what an 8-bit image means)."""
    return X.assign(image=[np.asarray(im, dtype=np.float32) / 255 for im in X["image"]])


def test_joint_fusion_keeps_8bit_images_as_uint8():
    X, _ = su.datasets.make_survival_images(n=60, random_state=0)
    builder = InputBuilder(resolve_roles(X, None, [], "image", None))
    arrays = builder.fit_transform(X)
    assert arrays["image"].dtype == np.uint8  # a quarter of the memory of float32
    assert arrays["image"].shape == (60, 1, 28, 28)
    np.testing.assert_array_equal(arrays["image"][3, 0], X["image"].iloc[3])
    assert builder.transform(X.iloc[:5])["image"].dtype == np.uint8


def test_uint8_and_float_images_give_the_same_model():
    """Standardizing in the network equals standardizing float images up front."""
    X, y = su.datasets.make_survival_images(n=300, random_state=1)
    settings = dict(image="image", tabular=[], max_epochs=2, random_state=0, augment=False)
    from_uint8 = su.DeepSurv(**settings).fit(X, y)
    from_float = su.DeepSurv(**settings).fit(_as_float(X), y)
    assert from_float.inputs_.transform(_as_float(X.iloc[:2]))["image"].dtype == np.float32
    np.testing.assert_allclose(from_uint8.predict(X), from_float.predict(_as_float(X)), rtol=1e-4, atol=1e-4)


def test_threaded_decoding_equals_sequential(tmp_path, monkeypatch):
    from PIL import Image

    from structunstruct.data import images

    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        Image.fromarray((rng.random((9, 7, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    column = pd.Series(paths, index=np.arange(100, 112))
    sequential = images.load_image_column(column, "image", keep_uint8=True)
    monkeypatch.setattr(images, "_FILES_PER_WORKER", 1)
    monkeypatch.setattr(images.os, "cpu_count", lambda: 4)
    threaded = images.load_image_column(column, "image", keep_uint8=True)
    assert sequential.shape == (12, 3, 9, 7)
    np.testing.assert_array_equal(threaded, sequential)
