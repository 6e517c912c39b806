"""The one training loop, as overridable steps (skorch style).

``Trainer.fit`` runs epochs of ``train_step`` over shuffled mini-batches, evaluates
``validation_step`` on the held-out rows, records ``history`` and hands each record to
the callbacks (early stopping, pruning, ...). Data are dicts of tensors; the loop
knows nothing of DataFrames or of the model family (the loss is a function).

Under ``torch.distributed`` (a process group of several processes, e.g. started by
``torchrun`` and :func:`~structunstruct.training.distributed.init_distributed`) the
same ``fit`` trains data-parallel: the module is wrapped in DistributedDataParallel,
``batch_size`` rows per process make a global batch of ``batch_size * world_size``
rows drawn exactly as one process would draw it, each rank trains on its part of it
(losses see the global batch, :mod:`~structunstruct.training.distributed`), the
validation loss is that of all validation rows (each rank evaluates its share, the
outputs are gathered), rank 0's early-stopping decision is broadcast and its final
weights are copied to every rank. Every rank holds all rows in memory.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from . import distributed
from .callbacks import Callback, WeightAveraging
from .checkpoint import Checkpointer, trainer_fingerprint
from .device import autocast
from .optim import AdamW, fused_kernel_available

Batch = Mapping[str, Tensor]
LossFn = Callable[[dict[str, Tensor], Batch], Tensor]


@dataclass
class TrainingConfig:
    """Optimisation settings.

    Parameters
    ----------
    lr, weight_decay : float
        AdamW settings.
    batch_size : int
        Rows per mini-batch (the last partial batch is spread over the others).
    max_epochs : int
    device : torch.device
    autocast_dtype : torch.dtype or None
        bf16 mixed precision on CUDA, ``None`` for float32.
    verbose : bool
        Show a progress bar over epochs.
    grad_clip : float or None
        Clip the gradient norm.
    ema_decay : float or None
        Validate and keep an exponential moving average of the weights with this
        per-step decay (:class:`~structunstruct.training.WeightAveraging`); ``None``
        keeps the last (or best) trained weights as they are.
    batch_sampler : callable or None
        ``sampler(tensors, batch_size, generator) -> list of row-index tensors``, drawn
        once per epoch (:mod:`~structunstruct.training.samplers`); ``None``: shuffled
        nearly equal batches (:func:`iterate_batches`).
    checkpoint_dir : str, path-like or None
        Write the training state there after every epoch and resume an unfinished
        run of the same fit from it (:mod:`~structunstruct.training.checkpoint`).
    checkpoint_fingerprint : dict of str to str
        The caller's part of the fingerprint that identifies the run (an estimator's
        class and parameters, :func:`~structunstruct.training.checkpoint.estimator_fingerprint`).
    """

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 100
    device: torch.device = torch.device("cpu")
    autocast_dtype: torch.dtype | None = None
    verbose: bool = False
    grad_clip: float | None = 10.0
    ema_decay: float | None = 0.995
    batch_sampler: Callable[..., list[Tensor]] | None = None
    checkpoint_dir: str | os.PathLike | None = None
    checkpoint_fingerprint: dict[str, str] = field(default_factory=dict)


def iterate_batches(
    tensors: Batch,
    batch_size: int,
    generator: torch.Generator | None = None,
    shard: tuple[int, int] | None = None,
) -> Iterator[dict[str, Tensor]]:
    """Yield mini-batches of a dict of equally long tensors.

    Shuffled when ``generator`` is given. Rows are split into ``ceil(n / batch_size)``
    nearly equal batches, so no batch is tiny (a Cox risk set of two rows is useless).
    The rows of several consecutive batches (at most :data:`GATHER_BYTES` of data) are
    gathered with one indexing call per tensor and the batches are contiguous slices of
    that copy: the same batches as indexing each one, in far fewer tensor operations.

    With ``shard=(rank, world_size)`` the batches are drawn as above (``batch_size`` is
    then the global batch) and only part ``rank`` of each (contiguous, nearly equal
    parts, :func:`~structunstruct.training.distributed.shard_bounds`) is yielded: every
    rank, drawing with an identically seeded ``generator``, gets the same number of
    batches, and together they make up the single-process batches.

    Parameters
    ----------
    tensors : dict of str to Tensor
        Equally long tensors.
    batch_size : int
        Rows per batch (at most).
    generator : torch.Generator, optional
        Shuffles the rows when given.
    shard : tuple of (int, int), optional
        ``(rank, world_size)``: yield only this rank's part of each batch.
    """
    n = len(next(iter(tensors.values())))
    index = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    sizes = _batch_sizes(n, batch_size)
    if shard is not None:
        yield from _shards_of_batches(tensors, index, sizes, *shard)
        return
    small = sizes[-1]
    per_gather = _batches_per_gather(tensors, n, small + 1)
    start = 0
    for first in range(0, len(sizes), per_gather):
        block = sizes[first:first + per_gather]
        rows = index[start:start + sum(block)]
        start += sum(block)
        pieces = {k: torch.split(v[rows], block) for k, v in tensors.items()}
        for j in range(len(block)):
            yield {k: parts[j] for k, parts in pieces.items()}


def iterate_indexed_batches(
    tensors: Batch, indices: Sequence[Tensor], shard: tuple[int, int] | None = None
) -> Iterator[dict[str, Tensor]]:
    """Yield the batches of rows ``indices[0]``, ``indices[1]``, ... (with ``shard``: part ``rank`` of each)."""
    for rows in indices:
        if shard is not None:
            lo, hi = distributed.shard_bounds(len(rows), *shard)
            rows = rows[lo:hi]
        yield {k: v[rows] for k, v in tensors.items()}


def _batch_sizes(n: int, batch_size: int) -> list[int]:
    """Sizes of ``ceil(n / batch_size)`` nearly equal batches (``torch.tensor_split``'s: larger first)."""
    n_batches = max(1, math.ceil(n / batch_size))
    small, n_large = divmod(n, n_batches)
    return [small + 1] * n_large + [small] * (n_batches - n_large)


def _shards_of_batches(
    tensors: Batch, index: Tensor, sizes: list[int], rank: int, world_size: int
) -> Iterator[dict[str, Tensor]]:
    """Part ``rank`` of each batch of ``index`` (batches of ``sizes`` rows, in order)."""
    start = 0
    for size in sizes:
        lo, hi = distributed.shard_bounds(size, rank, world_size)
        rows = index[start + lo:start + hi]
        start += size
        yield {k: v[rows] for k, v in tensors.items()}


#: Most bytes gathered at once by :func:`iterate_batches` (at least one batch is).
GATHER_BYTES = 32 * 2**20


def _batches_per_gather(tensors: Batch, n: int, batch_rows: int) -> int:
    """How many batches of ``batch_rows`` rows fit in :data:`GATHER_BYTES`."""
    row_bytes = sum(v.numel() * v.element_size() for v in tensors.values()) / max(n, 1)
    return max(1, int(GATHER_BYTES // max(row_bytes * batch_rows, 1)))


def to_device(batch: Batch, device: torch.device) -> dict[str, Tensor]:
    """Move a batch to ``device`` without blocking the host (tensors already there are kept)."""
    return {k: v if v.device == device else v.to(device, non_blocking=True)
            for k, v in batch.items()}


class Trainer:
    """Train a module on a loss with mini-batches, validation and callbacks.

    Parameters
    ----------
    module : nn.Module
        Maps a batch dict to a dict of outputs.
    loss_fn : callable
        ``loss_fn(outputs, batch) -> scalar Tensor``.
    config : TrainingConfig
    callbacks : sequence of Callback
    generator : torch.Generator, optional
        Drives the shuffling.

    Attributes
    ----------
    history : list of dict
        One record per epoch: ``epoch``, ``train_loss``, ``valid_loss``, ``seconds``.
    stop_training : bool
        Set by a callback to end training after the current epoch.
    best_epoch : int or None
        Epoch whose weights were restored by early stopping.
    optimizer : torch.optim.Optimizer or None
        The optimizer of the running (or last) ``fit``.
    eval_module : nn.Module or None
        Module validated instead of ``module`` (set by
        :class:`~structunstruct.training.WeightAveraging` to its averaged copy).
    train_module : nn.Module
        Module the training steps run: ``module`` in DistributedDataParallel while a
        ``fit`` runs under ``torch.distributed``, else ``module`` itself.
    """

    def __init__(
        self,
        module: nn.Module,
        loss_fn: LossFn,
        config: TrainingConfig,
        callbacks: Sequence[Callback] = (),
        generator: torch.Generator | None = None,
    ) -> None:
        self.module = module
        self.loss_fn = loss_fn
        self.config = config
        self.callbacks = list(callbacks)
        if config.ema_decay is not None and not any(
            isinstance(cb, WeightAveraging) for cb in self.callbacks
        ):  # first, so that its weights are in place before early stopping restores the best
            self.callbacks.insert(0, WeightAveraging(config.ema_decay))
        self.generator = generator
        self.history: list[dict[str, Any]] = []
        self.stop_training = False
        self.best_epoch: int | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.eval_module: nn.Module | None = None
        self.train_module: nn.Module = module

    def evaluated_module(self) -> nn.Module:
        """The module that is validated: ``eval_module`` when set, else ``module``."""
        return self.module if self.eval_module is None else self.eval_module

    def configure_optimizer(self) -> torch.optim.Optimizer:
        """AdamW over the trainable parameters, with the fastest safe implementation.

        The fused kernel (:class:`~structunstruct.training.optim.AdamW`) on CUDA, and on
        CPU when torch runs on one thread: for DeepSurv's MLP its step takes about
        0.03 ms against 0.2 ms for ``torch.optim.AdamW(fused=True)`` and 0.6 ms for
        the default per-parameter loop. torch's fused CPU kernel opens a parallel
        region for every parameter, which stalls when several threads compete with
        other processes for the cores (twice as slow, measured on a shared 2-core
        machine), so with several CPU threads torch's multi-tensor (foreach) AdamW is
        used.
        """
        params = [p for p in self.module.parameters() if p.requires_grad]
        kwargs = {"lr": self.config.lr, "weight_decay": self.config.weight_decay}
        single_cpu_thread = torch.get_num_threads() == 1
        if fused_kernel_available(params) and (params[0].device.type == "cuda" or single_cpu_thread):
            return AdamW(params, **kwargs)
        on_cpu = bool(params) and all(p.device.type == "cpu" for p in params)
        return torch.optim.AdamW(params, foreach=True if on_cpu else None, **kwargs)

    def get_loss(self, outputs: dict[str, Tensor], batch: Batch) -> Tensor:
        """The loss of one batch.

        Parameters
        ----------
        outputs : dict of str to Tensor
            The module's outputs on the batch.
        batch : dict of str to Tensor
            The batch (targets included).

        Returns
        -------
        Tensor
            A scalar.
        """
        return self.loss_fn(outputs, batch)

    def train_step(self, batch: Batch, optimizer: torch.optim.Optimizer) -> Tensor:
        """One optimisation step; returns the (detached) batch loss.

        Under ``torch.distributed`` the batch is this rank's shard of the global batch,
        the forward pass runs through DistributedDataParallel (``train_module``) and the
        loss is evaluated inside
        :func:`~structunstruct.training.distributed.sharded_batches`.

        Parameters
        ----------
        batch : dict of str to Tensor
            One mini-batch.
        optimizer : torch.optim.Optimizer
            Steps the module's parameters.

        Returns
        -------
        Tensor
        """
        if not self.module.training:  # set once per epoch, not walked every batch
            self.train_module.train()
        # the optimizer's parameters: the trainable ones, without walking the module tree
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for p in params:  # zero_grad(set_to_none=True) without its profiling wrapper
            p.grad = None
        with autocast(self.config.device, self.config.autocast_dtype):
            outputs = self.train_module(batch)
        with distributed.sharded_batches(self.train_module is not self.module):
            loss = self.get_loss(_as_float(outputs), batch)
        loss.backward()
        if self.config.grad_clip:
            clip_grad_norm(params, self.config.grad_clip)
        optimizer.step()
        return loss.detach()

    @torch.no_grad()
    def validation_step(self, data: Batch) -> float:
        """Loss on the whole validation set (forward in batches, loss on all rows).

        Under ``torch.distributed`` each rank evaluates the module on its contiguous
        share of the rows and the outputs are gathered, so every rank computes the
        same loss of all validation rows.

        Parameters
        ----------
        data : dict of str to Tensor
            The validation rows.

        Returns
        -------
        float
        """
        if distributed.is_distributed():
            n = len(next(iter(data.values())))
            lo, hi = distributed.shard_bounds(n, distributed.rank(), distributed.world_size())
            share = predict_outputs(self.evaluated_module(), {k: v[lo:hi] for k, v in data.items()},
                                    self.config)
            outputs = {k: distributed.gather(v) for k, v in share.items()}
        else:
            outputs = predict_outputs(self.evaluated_module(), data, self.config)
        targets = {k: v.to(self.config.device) for k, v in data.items()}
        return float(self.get_loss(outputs, targets))

    def fit(self, train: Batch, valid: Batch | None = None) -> Trainer:
        """Train for up to ``max_epochs`` epochs.

        With ``config.checkpoint_dir`` the training state is written after every epoch,
        and an unfinished checkpoint of the same run found there is restored first, so
        the fit continues where the interrupted one stopped
        (:mod:`~structunstruct.training.checkpoint`).

        Parameters
        ----------
        train : dict of str to Tensor
            Training rows.
        valid : dict of str to Tensor, optional
            Validation rows (validation loss, early stopping).

        Returns
        -------
        Trainer
            ``self``, with ``history``.
        """
        checkpoint = self._checkpointer(train, valid)  # fingerprinted before anything changes
        self.module.to(self.config.device)
        self.train_module = distributed.wrap_data_parallel(self.module, self.config.device)
        self.optimizer = optimizer = self.configure_optimizer()
        for cb in self.callbacks:
            cb.on_train_begin(self)
        first = 1 if checkpoint is None else checkpoint.restore(self)
        epochs = _epoch_range(self.config, first)
        for epoch in epochs:
            record = self._run_epoch(epoch, train, valid, optimizer)
            self.history.append(record)
            if hasattr(epochs, "set_postfix"):
                epochs.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k.endswith("loss")})
            for cb in self.callbacks:
                cb.on_epoch_end(self, record)
            self.stop_training = distributed.broadcast_flag(self.stop_training)  # rank 0 decides
            if checkpoint is not None:
                checkpoint.save(self, epoch)
            if self.stop_training:
                break
        for cb in self.callbacks:
            cb.on_train_end(self)
        if checkpoint is not None:
            checkpoint.complete(len(self.history))
        distributed.broadcast_module(self.module)  # rank 0's final weights everywhere
        self.train_module = self.module
        self.module.eval()
        return self

    def _checkpointer(self, train: Batch, valid: Batch | None) -> Checkpointer | None:
        """The checkpoint writer of this run (``None`` without ``config.checkpoint_dir``)."""
        if self.config.checkpoint_dir is None:
            return None
        return Checkpointer(self.config.checkpoint_dir, trainer_fingerprint(self, train, valid))

    def batches(self, train: Batch) -> Iterator[dict[str, Tensor]]:
        """The mini-batches of one epoch (this rank's part of each under ``torch.distributed``).

        Parameters
        ----------
        train : dict of str to Tensor
            The training rows.

        Returns
        -------
        iterator of dict of str to Tensor
        """
        world = distributed.world_size()
        shard = (distributed.rank(), world) if world > 1 else None
        batch_size = self.config.batch_size * world
        if self.config.batch_sampler is None:
            return iterate_batches(train, batch_size, self.generator, shard)
        indices = self.config.batch_sampler(train, batch_size, self.generator)
        return iterate_indexed_batches(train, indices, shard)

    def _run_epoch(
        self, epoch: int, train: Batch, valid: Batch | None, optimizer: torch.optim.Optimizer
    ) -> dict[str, Any]:
        start = time.perf_counter()
        losses = []
        for batch in self.batches(train):
            losses.append(self.train_step(to_device(batch, self.config.device), optimizer))
        train_loss = distributed.all_reduce_mean(float(torch.stack(losses).mean()))
        record: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss}
        if valid is not None:
            record["valid_loss"] = self.validation_step(valid)
        record["seconds"] = time.perf_counter() - start
        if not math.isfinite(record["train_loss"]):
            raise FloatingPointError(
                f"training loss became {record['train_loss']} in epoch {epoch}; "
                "lower the learning rate"
            )
        return record


@torch.no_grad()
def predict_outputs(module: nn.Module, data: Batch, config: TrainingConfig) -> dict[str, Tensor]:
    """Evaluate ``module`` on all rows of ``data`` in batches; outputs concatenated (float32).

    Parameters
    ----------
    module : torch.nn.Module
        Evaluated in eval mode.
    data : dict of str to Tensor
        All rows.
    config : TrainingConfig
        Device, precision and batch size.

    Returns
    -------
    dict of str to Tensor
    """
    module.eval()
    chunks: list[dict[str, Tensor]] = []
    for batch in iterate_batches(data, max(config.batch_size, 1024)):
        with autocast(config.device, config.autocast_dtype):
            chunks.append(_as_float(module(to_device(batch, config.device))))
    return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}


def _as_float(outputs: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v if v.dtype == torch.float32 else v.float() for k, v in outputs.items()}


def clip_grad_norm(parameters: Sequence[Tensor], max_norm: float) -> None:
    """Scale the gradients so that their joint 2-norm is at most ``max_norm``.

    The computation of ``torch.nn.utils.clip_grad_norm_`` (per-tensor norms, their norm,
    ``clamp(max_norm / (norm + 1e-6), max=1)``) in four tensor calls: torch's own
    version falls back to one call per gradient on CPU. On CPU the scaling is skipped
    when the norm is within ``max_norm`` (the factor would be 1 up to 1e-6 relative);
    on an accelerator it is always applied, so the host never waits for the device. Gradients on several devices or
    of several dtypes are passed to torch's version.
    """
    with_grad = [p for p in parameters if p.grad is not None]
    if not with_grad:
        return
    grads = [p.grad for p in with_grad]
    if len({(g.device, g.dtype) for g in grads}) > 1:
        nn.utils.clip_grad_norm_(with_grad, max_norm)
        return
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if grads[0].device.type == "cpu" and float(total) <= max_norm:
        return  # reading the norm costs nothing on the host: skip the no-op scaling
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def _epoch_range(config: TrainingConfig, first: int = 1) -> Any:
    epochs = range(first, config.max_epochs + 1)
    if not config.verbose:
        return epochs
    from tqdm.auto import tqdm

    return tqdm(epochs, desc="epochs", unit="epoch", initial=first - 1, total=config.max_epochs)
