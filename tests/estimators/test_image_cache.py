"""Decoded images on disk: memory-mapped, decoded once, keyed by content, same model."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import structunstruct as su
from structunstruct.data import images
from structunstruct.data.inputs import _channel_moments


def _write_pngs(directory, arrays) -> list[str]:
    paths = []
    for i, array in enumerate(arrays):
        path = directory / f"{i}.png"
        Image.fromarray(array).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture()
def png_column(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [(rng.random((9, 7)) * 255).astype(np.uint8) for _ in range(30)]
    (tmp_path / "png").mkdir()
    return pd.Series(_write_pngs(tmp_path / "png", arrays), index=np.arange(200, 230)), arrays


def test_cached_column_is_a_memory_map_decoded_once(png_column, tmp_path, monkeypatch):
    column, arrays = png_column
    cache = tmp_path / "cache"
    monkeypatch.setattr(images, "_CACHE_CHUNK", 7)  # several chunks
    first = images.load_image_column(column, "scan", keep_uint8=True, cache_dir=cache)
    assert isinstance(first, np.memmap) and first.dtype == np.uint8 and first.shape == (30, 1, 9, 7)
    np.testing.assert_array_equal(first, images.load_image_column(column, "scan", keep_uint8=True))
    assert [p.suffix for p in cache.iterdir()] == [".npy"]  # no partial file left

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(images, "_read_file", no_decoding)
    again = images.load_image_column(column, "scan", keep_uint8=True, cache_dir=cache)
    np.testing.assert_array_equal(again, np.stack(arrays)[:, None])
    again[0] = 0  # copy-on-write: the file keeps the decoded image
    np.testing.assert_array_equal(
        images.load_image_column(column, "scan", keep_uint8=True, cache_dir=cache)[0, 0], arrays[0]
    )


def test_a_changed_file_or_size_is_decoded_anew(png_column, tmp_path):
    column, arrays = png_column
    cache = tmp_path / "cache"
    images.load_image_column(column, "scan", keep_uint8=True, cache_dir=cache)
    Image.fromarray(255 - arrays[3]).save(column.iloc[3])
    os.utime(column.iloc[3], ns=(1, 1))  # a different modification time for sure
    changed = images.load_image_column(column, "scan", keep_uint8=True, cache_dir=cache)
    np.testing.assert_array_equal(changed[3, 0], 255 - arrays[3])
    resized = images.load_image_column(column, "scan", (4, 4), keep_uint8=True, cache_dir=cache)
    assert resized.shape == (30, 1, 4, 4)
    assert len(list(cache.glob("images-*.npy"))) == 3


def test_shape_mismatch_is_reported_and_leaves_no_file(png_column, tmp_path):
    column, _ = png_column
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(column.iloc[12])
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"image column 'scan' holds images of different shapes.*index 212"):
        images.load_image_column(column, "scan", keep_uint8=True, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_channel_moments_by_chunks_equal_the_direct_ones(monkeypatch):
    rng = np.random.default_rng(1)
    pixels = (rng.random((50, 3, 6, 5)) * 255).astype(np.uint8)
    monkeypatch.setattr("structunstruct.data.inputs._MOMENT_CHUNK_VALUES", 7 * 3 * 30)  # 7 rows
    mean, std = _channel_moments(pixels, 1 / 255)
    # the [0, 1] pixels as float images hold them: float32(x / 255)
    direct = (pixels.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float32) / np.float32(255)).astype(np.float64)
    np.testing.assert_allclose(mean, direct.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(std, direct.std(axis=1), rtol=1e-10)


def test_deepsurv_from_the_disk_cache_equals_in_memory(tmp_path):
    X, y = su.datasets.make_survival_images(n=240, random_state=2)
    (tmp_path / "png").mkdir()
    X = X.assign(image=_write_pngs(tmp_path / "png", X["image"]))
    settings = dict(image="image", max_epochs=1, random_state=0)
    in_memory = su.DeepSurv(**settings).fit(X, y)
    cached = su.DeepSurv(image_cache=tmp_path / "cache", **settings).fit(X, y)
    # the network sees the same numbers (trained outputs are not compared across
    # storage paths: round-off grows with training and depends on the CPU's kernels)
    stored, in_ram = cached.inputs_.transform(X), in_memory.inputs_.transform(X)
    assert isinstance(stored["image"], np.memmap) or isinstance(stored["image"].base, np.memmap)
    np.testing.assert_array_equal(np.asarray(stored["image"]), in_ram["image"])
    np.testing.assert_array_equal(cached.inputs_.images_.mean_, in_memory.inputs_.images_.mean_)
    np.testing.assert_array_equal(cached.inputs_.images_.std_, in_memory.inputs_.images_.std_)
    assert np.isfinite(cached.predict(X)).all()
    assert len(list((tmp_path / "cache").glob("images-*.npy"))) == 1  # fit and predict: one column
