"""Batch samplers: how the rows of an epoch are grouped into mini-batches.

A batch sampler is a function ``sampler(tensors, batch_size, generator) -> list of
index tensors`` (every row in exactly one batch); the training loop draws one list
per epoch. ``"random"`` is the loop's own shuffled split into nearly equal batches
(:func:`~structunstruct.training.iterate_batches`), registered as ``None``.

``"events"`` (:func:`event_batches`) is for the Cox partial likelihood on small
batches: a batch without an event contributes no term (a zero loss, a wasted step),
and an event whose tied partners sit in other batches gets another Efron correction
than in the full data. It keeps each group of tied times in one batch and gives
every batch at least one event.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import Tensor

BatchSampler = Callable[[Mapping[str, Tensor], int, "torch.Generator | None"], list[Tensor]]


def event_batches(
    tensors: Mapping[str, Tensor], batch_size: int, generator: torch.Generator | None = None
) -> list[Tensor]:
    """Shuffled batches of about ``batch_size`` rows, each with an event, ties kept together.

    Rows with equal ``time`` form one unit; units are shuffled; the first units with
    an event open the ``min(ceil(n / batch_size), units with an event)`` batches, and
    every other unit goes to the currently smallest batch. So every batch has an event
    and batch sizes differ by at most the size of the largest tie group; with fewer
    event units than ``n / batch_size`` batches are larger than ``batch_size``.

    Parameters
    ----------
    tensors : mapping with ``"time"`` and ``"event"`` tensors of shape (n,)
    batch_size : int
    generator : torch.Generator, optional
        Drives the shuffles (a fixed order without it).

    Returns
    -------
    list of Tensor of int64
        Row indices of each batch, in a shuffled order of batches.
    """
    missing = [k for k in ("time", "event") if k not in tensors]
    if missing:
        raise KeyError(f"the 'events' batch sampler needs the keys {missing} in the training data")
    time = tensors["time"].detach().cpu().numpy().reshape(-1)
    event = tensors["event"].detach().cpu().numpy().reshape(-1) != 0
    n = len(time)
    _, unit = np.unique(time, return_inverse=True)
    units = _permutation(int(unit.max()) + 1 if n else 0, generator)
    rows_of = np.split(np.argsort(unit, kind="stable"), np.cumsum(np.bincount(unit))[:-1])
    has_event = np.bincount(unit, weights=event, minlength=len(rows_of)) > 0
    event_units = [u for u in units if has_event[u]]
    if not event_units:
        raise ValueError("the 'events' batch sampler needs at least one event in the training rows")
    n_batches = max(1, min(math.ceil(n / batch_size), len(event_units)))
    batches: list[list[int]] = [list(rows_of[u]) for u in event_units[:n_batches]]
    heap = [(len(rows), b) for b, rows in enumerate(batches)]
    heapq.heapify(heap)
    opened = set(event_units[:n_batches])
    for u in units:
        if u in opened:
            continue
        size, b = heapq.heappop(heap)
        batches[b].extend(rows_of[u])
        heapq.heappush(heap, (size + len(rows_of[u]), b))
    order = _permutation(n_batches, generator)
    return [torch.as_tensor(np.asarray(batches[b], dtype=np.int64)) for b in order]


def _permutation(n: int, generator: torch.Generator | None) -> np.ndarray:
    if generator is None:
        return np.arange(n)
    return torch.randperm(n, generator=generator).numpy()


#: Batch samplers by name (``None``: the loop's shuffled split, :func:`iterate_batches`).
BATCH_SAMPLERS: dict[str, BatchSampler | None] = {"random": None, "events": event_batches}


def register_batch_sampler(name: str, sampler: BatchSampler) -> None:
    """Register a batch sampler under ``name``.

    Parameters
    ----------
    name : str
        The name given to ``DeepSurv(batch_sampler=...)``.
    sampler : callable
        ``sampler(tensors, batch_size, generator)`` returning the row indices of each
        batch of one epoch (see :func:`event_batches`).
    """
    BATCH_SAMPLERS[name] = sampler


def list_batch_samplers() -> list[str]:
    """Names of the registered batch samplers."""
    return sorted(BATCH_SAMPLERS)


def get_batch_sampler(name: str) -> BatchSampler | None:
    """The batch sampler registered as ``name`` (``None`` for ``"random"``).

    Parameters
    ----------
    name : str
        A registered name (:func:`list_batch_samplers`).

    Returns
    -------
    callable or None

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if name not in BATCH_SAMPLERS:
        raise ValueError(f"unknown batch sampler {name!r}; known: {list_batch_samplers()}")
    return BATCH_SAMPLERS[name]


def stratified_holdout(event: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a validation split stratified by the event indicator."""
    if fraction <= 0:
        return np.zeros(0, dtype=np.int64)
    parts = []
    for value in (False, True):
        idx = np.flatnonzero(event == value)
        take = int(round(fraction * len(idx)))
        parts.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(parts)).astype(np.int64)


__all__ = [
    "stratified_holdout",
    "BATCH_SAMPLERS",
    "event_batches",
    "get_batch_sampler",
    "list_batch_samplers",
    "register_batch_sampler",
]
