"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``).

The design: every process (rank) holds all rows in memory and trains on its shard of
every global mini-batch. Each epoch all ranks draw the same permutation (the same
seeded generator), split it into global batches exactly as one process would with
``batch_size * world_size`` rows per batch, and each rank takes its contiguous part
of every global batch (:func:`shard_bounds`). So a step under ``W`` processes sees the
same rows as one step of a single process with the global batch.

Gradients are averaged over ranks by :class:`~torch.nn.parallel.DistributedDataParallel`
(DDP). Losses are written so that this average equals the single-process gradient of
the global batch; a loss learns that it sees one shard of a global batch from
:func:`sharded_batches` (a context the training loop enters around a training step):

- a mean over rows, ``sum_i l_i / N``: each rank returns ``W * sum_{i in shard} l_i / N``
  with the global count ``N`` (one ``all_reduce`` of a count, no gather; see
  :func:`global_mean`); the DDP average is ``sum_i l_i / N``, exact for unequal shards;
- the Cox partial likelihood, whose risk sets span ranks: the risk scores are gathered
  with gradients (:func:`gather_with_grad`, as open_clip gathers features) and each rank
  scores its own events against the global risk sets, scaled by ``W / D`` (``D`` the
  global number of events) — see :func:`structunstruct.heads.cox.loss.cox_ph_loss`.

Rank 0 decides early stopping (:func:`broadcast_flag`), its weights are the final ones
(:func:`broadcast_module`), and only it writes files (:func:`is_main_process`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch
from torch import Tensor, nn

_SHARDED = contextvars.ContextVar("structunstruct_sharded_batches", default=False)


def init_distributed(backend: str | None = None, timeout_s: float = 600.0) -> bool:
    """Initialize the default process group from ``torchrun``'s environment variables.

    Does nothing when the process group is already initialized or when ``WORLD_SIZE``
    is unset or 1 (a plain ``python`` run).

    Parameters
    ----------
    backend : {"gloo", "nccl"}, optional
        Default: ``"nccl"`` when CUDA is available, else ``"gloo"``.
    timeout_s : float
        Timeout of collective operations.

    Returns
    -------
    bool
        Whether the process now runs in a group of more than one process.
    """
    if not torch.distributed.is_available():
        return False
    if torch.distributed.is_initialized():
        return world_size() > 1
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return False
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise OSError(f"WORLD_SIZE={size} but the environment lacks {missing}; launch with torchrun")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return True


def is_distributed() -> bool:
    """Whether a process group of more than one process is initialized."""
    return torch.distributed.is_available() and torch.distributed.is_initialized() and (
        torch.distributed.get_world_size() > 1
    )


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return torch.distributed.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return torch.distributed.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Whether this process is rank 0 (the one that writes files)."""
    return rank() == 0


def shard_bounds(n: int, rank_: int, world_size_: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank_``'s part of ``n`` rows (``torch.tensor_split`` sizes).

    Parameters
    ----------
    n : int
        Number of rows.
    rank_ : int
        The rank whose part is wanted.
    world_size_ : int
        Number of ranks.

    Returns
    -------
    tuple of (int, int)
    """
    small, n_large = divmod(n, world_size_)
    start = rank_ * small + min(rank_, n_large)
    return start, start + small + (rank_ < n_large)


@contextlib.contextmanager
def sharded_batches(active: bool = True) -> Iterator[None]:
    """Within this context losses see one rank's shard of a global batch.

    The training loop enters it around a training step when :func:`is_distributed`;
    :func:`global_mean` and :func:`~structunstruct.heads.cox.loss.cox_ph_loss` then scale
    (and gather) so that DDP's gradient average is the global batch's gradient.

    Parameters
    ----------
    active : bool, default=True
        ``False`` leaves losses unscaled (e.g. for a validation pass).

    Yields
    ------
    None
    """
    token = _SHARDED.set(bool(active) and is_distributed())
    try:
        yield
    finally:
        _SHARDED.reset(token)


def in_sharded_batch() -> bool:
    """Whether a loss evaluated now sees one shard of a global batch."""
    return _SHARDED.get()


def global_mean(total: Tensor, count: Tensor | float) -> Tensor:
    """``total / count`` on one process; ``W * total / sum_ranks(count)`` on a shard.

    Parameters
    ----------
    total : Tensor
        Scalar sum of the per-row losses of this rank's rows.
    count : Tensor or float
        Number (or total weight) of this rank's rows.

    Returns
    -------
    Tensor
        A scalar whose average over ranks is the mean over the global batch, so that
        DDP's averaged gradient equals the single-process gradient of that mean.
    """
    count = torch.as_tensor(count, dtype=torch.float64, device=total.device).detach()
    if not in_sharded_batch():
        return total / count.clamp_min(1).to(total.dtype)
    global_count = count.clone()
    torch.distributed.all_reduce(global_count)
    return total * (world_size() / float(global_count.clamp_min(1)))


def _gather_sizes(n: int, device: torch.device) -> list[int]:
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(world_size())]
    torch.distributed.all_gather(sizes, torch.tensor([n], dtype=torch.int64, device=device))
    return [int(s) for s in sizes]


def _pad(tensor: Tensor, rows: int) -> Tensor:
    if len(tensor) == rows:
        return tensor.contiguous()
    padding = tensor.new_zeros((rows - len(tensor), *tensor.shape[1:]))
    return torch.cat([tensor, padding]).contiguous()


def gather_with_grad(tensor: Tensor) -> tuple[Tensor, slice]:
    """Concatenate ``tensor`` of every rank along dim 0, keeping gradients.

    Shards may differ in length (they are padded to the longest for the collective).
    The backward pass sums, over ranks, the gradients with respect to each rank's
    slice (``torch.distributed.nn.functional.all_gather``).

    Parameters
    ----------
    tensor : Tensor of shape (n, ...)
        This rank's rows.

    Returns
    -------
    gathered : Tensor of shape (sum of lengths, ...)
    own : slice
        Rows of ``gathered`` that are this rank's.
    """
    sizes = _gather_sizes(len(tensor), tensor.device)
    longest = max(sizes)
    stacked = _all_gather_autograd(_pad(tensor, longest))
    parts = [stacked[r * longest:(r + 1) * longest] for r in range(len(sizes))]
    start = sum(sizes[:rank()])
    gathered = torch.cat([part[:size] for part, size in zip(parts, sizes)])
    return gathered, slice(start, start + len(tensor))


def _all_gather_autograd(tensor: Tensor) -> Tensor:
    """All ranks' equally long ``tensor`` concatenated along dim 0, with a backward pass.

    torch's functional collective where it exists (its name has changed across
    releases), else ``torch.distributed.nn.functional.all_gather`` (as open_clip does).
    """
    from torch.distributed import _functional_collectives as collectives

    group = torch.distributed.group.WORLD
    for name in ("all_gather_single_autograd", "all_gather_tensor_autograd"):
        function = getattr(collectives, name, None)
        if function is not None:
            return function(tensor, gather_dim=0, group=group).wait()
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor))


@torch.no_grad()
def gather(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` of every rank along dim 0 (no gradient; lengths may differ).

    Parameters
    ----------
    tensor : Tensor of shape (n, ...)
        This rank's rows.

    Returns
    -------
    Tensor of shape (sum of lengths, ...)
    """
    sizes = _gather_sizes(len(tensor), tensor.device)
    padded = _pad(tensor, max(sizes))
    parts = [torch.empty_like(padded) for _ in sizes]
    torch.distributed.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def all_reduce_mean(value: float) -> float:
    """Average of a float over ranks (the value itself on one process).

    Parameters
    ----------
    value : float
        This rank's value.

    Returns
    -------
    float
    """
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    torch.distributed.all_reduce(tensor)
    return float(tensor) / world_size()


def broadcast_flag(flag: bool, src: int = 0) -> bool:
    """Rank ``src``'s value of ``flag`` on every rank (e.g. its early-stopping decision).

    Parameters
    ----------
    flag : bool
        This rank's value (only rank ``src``'s counts).
    src : int, default=0
        The rank that decides.

    Returns
    -------
    bool
    """
    if not is_distributed():
        return flag
    tensor = torch.tensor([int(flag)], dtype=torch.int64)
    torch.distributed.broadcast(tensor, src)
    return bool(tensor)


def broadcast_object(value: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``value`` (a picklable object) on every rank.

    Parameters
    ----------
    value : object
        This rank's value (only rank ``src``'s counts).
    src : int, default=0
        The rank that sends.

    Returns
    -------
    object
    """
    if not is_distributed():
        return value
    holder = [value]
    torch.distributed.broadcast_object_list(holder, src)
    return holder[0]


def all_gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value`` (a picklable object), in rank order.

    Parameters
    ----------
    value : object
        This rank's value.

    Returns
    -------
    list
        ``[value]`` on one process.
    """
    if not is_distributed():
        return [value]
    values: list[Any] = [None] * world_size()
    torch.distributed.all_gather_object(values, value)
    return values


@torch.no_grad()
def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Overwrite every parameter and buffer of ``module`` with rank ``src``'s values.

    Parameters
    ----------
    module : torch.nn.Module
        The same architecture on every rank.
    src : int, default=0
        The rank whose values are kept.
    """
    if not is_distributed():
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        torch.distributed.broadcast(tensor.data, src)


def wrap_data_parallel(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` (itself alone).

    DDP copies rank 0's weights to every rank when it is built. A step may leave
    parameters unused when a submodule says so (an attribute ``skips_parameters =
    True``: encoders skipped for missing or dropped modalities); DDP then looks for
    them after every backward pass.
    BatchNorm layers keep per-rank statistics (each rank normalizes with its shard's
    batch statistics; running statistics are broadcast from rank 0 at every forward).
    """
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = None
    if device.type == "cuda":
        device_ids = [device.index if device.index is not None else torch.cuda.current_device()]
    skips = any(getattr(m, "skips_parameters", False) for m in module.modules())
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=skips)


__all__ = [
    "all_gather_objects",
    "all_reduce_mean",
    "broadcast_flag",
    "broadcast_module",
    "broadcast_object",
    "gather",
    "gather_with_grad",
    "global_mean",
    "in_sharded_batch",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "rank",
    "shard_bounds",
    "sharded_batches",
    "world_size",
]
