"""8-bit images are stored as decoded (uint8) and standardized batch by batch in the network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import structunstruct as su
from structunstruct.data import resolve_roles
from structunstruct.data.inputs import InputBuilder
from structunstruct.nn.encoders.image import create_image_encoder
from structunstruct.nn.encoders.pixels import StandardizedImageEncoder


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


def _network_inputs(X: pd.DataFrame, seed: int = 0):
    """The builder's statistics and the first network's standardized batch and output."""
    builder = InputBuilder(resolve_roles(X, None, [], "image", None))
    arrays = builder.fit_transform(X)
    torch.manual_seed(seed)
    encoder = StandardizedImageEncoder(
        create_image_encoder("smallcnn", builder.in_chans), builder.images_.mean_,
        builder.images_.std_, builder.images_.pixel_scale_,
    ).eval()
    image = torch.from_numpy(arrays["image"])
    with torch.no_grad():
        return builder.images_, encoder.standardize(image), encoder(image)


def test_uint8_and_float_storage_give_the_network_the_same_numbers():
    """Standardizing uint8 batches in the network is the same float32 arithmetic as
    standardizing float images in [0, 1]: statistics, batches and the first forward pass
    agree bit for bit (so training does too, on any CPU), and the batch is the one
    computed in float64 from the pixels."""
    X, _ = su.datasets.make_survival_images(n=80, random_state=1)
    stats8, batch8, out8 = _network_inputs(X)
    stats32, batch32, out32 = _network_inputs(_as_float(X))
    assert stats8.pixel_scale_ == 1 / 255 and stats32.pixel_scale_ == 1.0
    np.testing.assert_array_equal(stats8.mean_, stats32.mean_)
    np.testing.assert_array_equal(stats8.std_, stats32.std_)
    assert batch8.dtype == batch32.dtype == torch.float32
    torch.testing.assert_close(batch8, batch32, rtol=0, atol=0)
    torch.testing.assert_close(out8, out32, rtol=0, atol=0)
    pixels = np.stack(X["image"].to_numpy()).astype(np.float64)[:, None] / 255
    reference = (pixels - pixels.mean()) / pixels.std()
    np.testing.assert_allclose(batch8.numpy(), reference, rtol=1e-5, atol=1e-5)
    assert abs(float(batch8.mean())) < 1e-5 and float(batch8.std()) == pytest.approx(1, abs=1e-3)


def test_float_images_fit_as_float32():
    X, y = su.datasets.make_survival_images(n=60, random_state=1)
    model = su.DeepSurv(image="image", tabular=[], max_epochs=1, random_state=0).fit(_as_float(X), y)
    assert model.inputs_.transform(_as_float(X.iloc[:2]))["image"].dtype == np.float32
    assert np.isfinite(model.predict(_as_float(X))).all()


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
