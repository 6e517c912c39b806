"""Device and precision choices, and reproducible randomness without global seeding."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; anything else is passed to torch.

    Parameters
    ----------
    device : str or torch.device, default="auto"

    Returns
    -------
    torch.device
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available")
    return resolved


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``"auto"`` is bf16 on CUDA and full float32 on CPU.

    Returns ``None`` for full precision.

    Parameters
    ----------
    precision : {"auto", "32", "bf16"}
    device : torch.device
    """
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if precision in ("32", "fp32", "float32"):
        return None
    if precision in ("bf16", "bfloat16"):
        return torch.bfloat16
    raise ValueError(f"precision must be one of ['auto', '32', 'bf16']; got {precision!r}")


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast context for ``dtype`` on ``device`` (a no-op for full precision).

    Parameters
    ----------
    device : torch.device
    dtype : torch.dtype or None

    Returns
    -------
    context manager
    """
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def local_torch_seed(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's default generators inside the block and restore them afterwards.

    Weight initialisation and dropout draw from torch's default generators; forking
    them keeps a fit reproducible without changing the caller's random state.

    Parameters
    ----------
    seed : int
    device : torch.device
        Its generator is seeded too when it is a CUDA device.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        # Seed only the generators in use: torch.manual_seed also queues a lazy seeding
        # of every accelerator, recording a stack trace each time (milliseconds).
        torch.default_generator.manual_seed(seed)
        for index in devices:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield
