"""Read an image column (arrays or file paths) into one channels-first array."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .roles import check_no_missing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")


def load_image_column(
    column: pd.Series, name: str, image_size: int | Sequence[int] | None = None,
    keep_uint8: bool = False, cache_dir: str | os.PathLike | None = None,
    channels: int | None = None,
) -> np.ndarray:
    """Load every cell of an image column.

    Parameters
    ----------
    column : pandas.Series
        Cells are arrays of shape (H, W) or (H, W, C), or paths to PNG, JPEG, TIFF,
        BMP or NPY files.
    name : str
        The column name, for error messages.
    image_size : int or (int, int), optional
        Resize every image to this size; without it all images must share a shape.
    keep_uint8 : bool, default=False
        Return 8-bit images as decoded (uint8, a quarter of the memory of float32)
        instead of float32 in [0, 1].
    cache_dir : path, optional
        Decode into a ``.npy`` file in this directory and return it memory-mapped, so
        the images never need to fit in memory (the operating system pages in the rows
        a batch reads). The file is named by a hash of the column's content (file
        paths with their size and modification time, or array bytes) and of
        ``image_size``, so the same column is decoded once and later loads are
        instant; a changed file gives a new name. Requires ``keep_uint8`` for 8-bit
        images (they are stored as decoded) and one pixel type in the whole column.

    Returns
    -------
    numpy.ndarray of shape (n_samples, C, H, W): float32 in [0, 1] for 8-bit images
    (uint8 with ``keep_uint8``); other arrays float32 on their own scale. With
    ``cache_dir`` a copy-on-write memory map of the file (writes stay in memory).

    Raises
    ------
    ValueError
        If a cell is missing, a file does not exist or cannot be read, or shapes differ.
    """
    check_no_missing(missing_images(column), column.index, "image", name)
    _check_files_exist(column, name)
    size = _as_size(image_size)
    if cache_dir is not None:
        if not keep_uint8:
            raise ValueError("cache_dir stores 8-bit images as decoded; pass keep_uint8=True")
        return _cached_images(column, name, size, Path(cache_dir), channels)
    images = _read_cells(column, name, size)
    target = common_channels([im.shape[0] for im in images]) if channels is None else channels
    labels = column.index.tolist()
    images = [to_channels(im, target, name, labels[i]) for i, im in enumerate(images)]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(
            f"image column {name!r} holds images of different shapes {sorted(shapes)[:4]}; "
            "pass image_size=... to resize them to one size"
        )
    stacked = np.stack(images)
    if stacked.dtype == np.uint8:
        return stacked if keep_uint8 else stacked.astype(np.float32) / 255.0
    stacked = stacked.astype(np.float32)
    if not np.isfinite(stacked).all():
        raise ValueError(f"image column {name!r} has NaN or infinite pixel values")
    return stacked


#: Bump when the decoding changes, so that older cache files are not reused.
_CACHE_FORMAT = "1"


def image_cache_key(column: pd.Series, size: tuple[int, int] | None) -> str:
    """Hash of an image column's content, in row order, and of the target size.

    Files count by resolved path, size and modification time (not decoded); arrays
    by dtype, shape and bytes.
    """
    digest = hashlib.sha256(f"{_CACHE_FORMAT}|{size}|{len(column)}".encode())
    for cell in column:
        if isinstance(cell, (str, os.PathLike)):
            path = Path(cell).resolve()
            stat = path.stat()
            digest.update(f"f|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        else:
            array = np.ascontiguousarray(cell)
            digest.update(f"a|{array.dtype}|{array.shape}".encode())
            digest.update(array.view(np.uint8).reshape(-1))
    return digest.hexdigest()[:32]


def _cached_images(
    column: pd.Series, name: str, size: tuple[int, int] | None, cache_dir: Path, channels: int | None
) -> np.ndarray:
    """The decoded column as a memory-mapped ``.npy`` file in ``cache_dir`` (decoded once)."""
    if channels is None:
        channels = common_channels([_cell_channels(cell) for cell in column])
    path = cache_dir / f"images-{image_cache_key(column, size)}-c{channels}.npy"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        _decode_into_file(column, name, size, path, channels)
    return np.load(path, mmap_mode="c")


#: Rows decoded (and held in memory) at a time while a cache file is written.
_CACHE_CHUNK = 1024


def _decode_into_file(
    column: pd.Series, name: str, size: tuple[int, int] | None, path: Path, channels: int
) -> None:
    """Decode the column chunk by chunk into a new ``.npy`` file, then move it to ``path``.

    The file is written under a temporary name and renamed when complete, so a
    crash or a concurrent writer never leaves a partial file under the final name.
    """
    first_label = column.index[:1].tolist()[0]
    first = to_channels(_read_cell(column.iloc[0], name, first_label, size), channels, name, first_label)
    dtype = np.uint8 if first.dtype == np.uint8 else np.float32
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
    out = np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=(len(column), *first.shape))
    try:
        for start in range(0, len(column), _CACHE_CHUNK):
            chunk = column.iloc[start:start + _CACHE_CHUNK]
            labels = chunk.index.tolist()  # plain Python values, for the messages
            for offset, image in enumerate(_read_cells(chunk, name, size)):
                image = to_channels(image, channels, name, labels[offset])
                out[start + offset] = _checked_like(image, first, dtype, name, labels[offset])
        out.flush()
        del out
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


def _checked_like(image: np.ndarray, first: np.ndarray, dtype: type, name: str, index: object) -> np.ndarray:
    """``image`` as ``dtype`` after checking it has the first image's shape and pixel type."""
    if image.shape != first.shape:
        raise ValueError(
            f"image column {name!r} holds images of different shapes {sorted({first.shape, image.shape})} "
            f"(index {index!r}); pass image_size=... to resize them to one size"
        )
    if (image.dtype == np.uint8) != (dtype == np.uint8):
        raise ValueError(
            f"image column {name!r} mixes 8-bit and other pixel types (index {index!r} is "
            f"{image.dtype}, the first image {first.dtype}); the image cache needs one type"
        )
    if dtype != np.uint8:
        image = image.astype(np.float32)
        if not np.isfinite(image).all():
            raise ValueError(f"image column {name!r} has NaN or infinite pixel values (index {index!r})")
    return image


#: Weights of R, G, B in the luminance of an RGB image (ITU-R 601-2, PIL's "L" mode).
_LUMINANCE = np.array([0.299, 0.587, 0.114])


def common_channels(counts: Sequence[int]) -> int:
    """The channel count a column is converted to: its own when all images agree,
    else 3 (RGB) when any image has colour, else the largest."""
    distinct = set(counts)
    if len(distinct) <= 1:
        return next(iter(distinct), 1)
    return 3 if max(distinct) >= 3 else max(distinct)


def to_channels(image: np.ndarray, channels: int, name: str, index: object) -> np.ndarray:
    """Convert a (C, H, W) image to ``channels`` channels.

    One channel is replicated (grayscale to RGB, as PIL's ``convert("RGB")``); a
    fourth (alpha) channel is dropped; RGB becomes one channel by its luminance
    (``0.299 R + 0.587 G + 0.114 B``, PIL's ``convert("L")``).

    Raises
    ------
    ValueError
        For other channel counts, naming the column and the row.
    """
    have = image.shape[0]
    if have == channels:
        return image
    if have == 4 and channels in (1, 3):
        return to_channels(image[:3], channels, name, index)
    if have == 1:
        return np.ascontiguousarray(np.repeat(image, channels, axis=0))
    if have == 3 and channels == 1:
        gray = np.tensordot(_LUMINANCE, image.astype(np.float64), axes=1)[None]
        return gray.round().clip(0, 255).astype(np.uint8) if image.dtype == np.uint8 else gray.astype(image.dtype)
    raise ValueError(
        f"image column {name!r} at index {index!r}: an image with {have} channels cannot be "
        f"converted to the column's {channels} channels (grayscale, RGB and RGBA mix; other "
        "channel counts must agree)"
    )


def _cell_channels(cell: object) -> int:
    """Channels a cell decodes to, read from the file header (no pixels decoded)."""
    if isinstance(cell, (str, os.PathLike)):
        path = Path(cell)
        if path.suffix.lower() == ".npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            return 1 if len(shape) == 2 else int(shape[-1])
        from PIL import Image

        try:
            with Image.open(path) as img:
                return 1 if img.mode == "L" else 3
        except Exception:  # noqa: BLE001 - unreadable: decoding reports it with the file
            return 1
    shape = np.shape(cell)
    return 1 if len(shape) == 2 else int(shape[-1])


def missing_images(column: pd.Series) -> np.ndarray:
    """Which cells of an image column are missing (``None``, ``NaN`` or ``pd.NA``).

    Returns
    -------
    numpy.ndarray of shape (n_samples,), bool
    """
    return np.fromiter((_is_missing(cell) for cell in column), dtype=bool, count=len(column))


def _is_missing(cell: object) -> bool:
    if cell is None or cell is pd.NA:
        return True
    return isinstance(cell, float) and np.isnan(cell)


def _check_files_exist(column: pd.Series, name: str) -> None:
    paths = [(idx, cell) for idx, cell in column.items() if isinstance(cell, (str, os.PathLike))]
    absent = [(idx, p) for idx, p in paths if not Path(p).is_file()]
    if absent:
        idx, path = absent[0]
        raise ValueError(
            f"image column {name!r}: {len(absent)} file(s) not found, first {str(path)!r} "
            f"(index {idx!r})"
        )


def _as_size(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int):
        return (image_size, image_size)
    height, width = image_size
    return (int(height), int(width))


#: Files decoded by one worker thread before another is worth starting.
_FILES_PER_WORKER = 64


def _read_cells(column: pd.Series, name: str, size: tuple[int, int] | None) -> list[np.ndarray]:
    """Decode every cell; files are decoded by a pool of threads (the decoders release the
    GIL), one per CPU core up to 8."""
    cells = list(column.items())
    n_files = sum(isinstance(cell, (str, os.PathLike)) for _, cell in cells)
    workers = min(8, os.cpu_count() or 1, n_files // _FILES_PER_WORKER)
    if workers < 2:
        return [_read_cell(cell, name, index, size) for index, cell in cells]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: _read_cell(item[1], name, item[0], size), cells))


def _read_cell(cell: object, name: str, index: object, size: tuple[int, int] | None) -> np.ndarray:
    if isinstance(cell, (str, os.PathLike)):
        array = _read_file(Path(cell), name)
    else:
        array = np.asarray(cell)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(
            f"image column {name!r} at index {index!r}: expected an (H, W) or (H, W, C) image, "
            f"got shape {array.shape}"
        )
    if size is not None and array.shape[:2] != size:
        array = _resize(array, size)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def _read_file(path: Path, name: str) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(
            f"image column {name!r}: file {str(path)!r} has unsupported type {suffix!r}; "
            f"supported: {list(IMAGE_SUFFIXES)}"
        )
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        from PIL import Image

        with Image.open(path) as img:
            if img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            return np.asarray(img)
    except Exception as err:  # noqa: BLE001 - any decoder failure is reported with the file
        raise ValueError(f"image column {name!r}: cannot read {str(path)!r}: {err}") from err


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1)[None]
    resized = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)[0]
    out = resized.permute(1, 2, 0).numpy()
    return out.round().clip(0, 255).astype(np.uint8) if array.dtype == np.uint8 else out


def pretrained_normalization(encoder: object, pretrained: object) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Per-channel mean and std the pretrained weights of ``encoder`` expect, or ``None``.

    Read from timm's pretrained configuration of the model name (the data config
    timm's own transforms use; e.g. ImageNet statistics for ``resnet18``, 0.5/0.5 for
    ``tf_efficientnet_lite0``), on the [0, 1] pixel scale. ``None`` without pretrained
    weights, for names that are not timm models (the built-in encoders) and for modules, whose inputs are then
    standardized with statistics of the training images.
    """
    if not pretrained or not isinstance(encoder, str):
        return None
    import timm
    from timm.models import get_pretrained_cfg

    if not timm.is_model(encoder):
        return None
    config = get_pretrained_cfg(encoder)
    if config is None or config.mean is None or config.std is None:
        return None
    return tuple(float(m) for m in config.mean), tuple(float(s) for s in config.std)
