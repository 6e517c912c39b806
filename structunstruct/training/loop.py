"""The one training loop, as overridable steps (skorch style).

``Trainer.fit`` runs epochs of ``train_step`` over shuffled mini-batches, evaluates
``validation_step`` on the held-out rows, records ``history`` and hands each record to
the callbacks (early stopping, pruning, ...). Data are dicts of tensors; the loop
knows nothing of DataFrames or of the model family (the loss is a function).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .callbacks import Callback
from .device import autocast

Batch = Mapping[str, Tensor]
LossFn = Callable[[dict[str, Tensor], Batch], Tensor]


@dataclass
class TrainingConfig:
    """Optimisation settings.

    Attributes
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
    """

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 100
    device: torch.device = torch.device("cpu")
    autocast_dtype: torch.dtype | None = None
    verbose: bool = False
    grad_clip: float | None = 10.0


def iterate_batches(
    tensors: Batch, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[dict[str, Tensor]]:
    """Yield mini-batches of a dict of equally long tensors.

    Shuffled when ``generator`` is given. Rows are split into ``ceil(n / batch_size)``
    nearly equal batches, so no batch is tiny (a Cox risk set of two rows is useless).
    """
    n = len(next(iter(tensors.values())))
    n_batches = max(1, math.ceil(n / batch_size))
    index = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for chunk in torch.tensor_split(index, n_batches):
        yield {k: v[chunk] for k, v in tensors.items()}


def to_device(batch: Batch, device: torch.device) -> dict[str, Tensor]:
    """Move a batch to ``device`` without blocking the host."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


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
        self.generator = generator
        self.history: list[dict[str, Any]] = []
        self.stop_training = False
        self.best_epoch: int | None = None

    def configure_optimizer(self) -> torch.optim.Optimizer:
        """AdamW over the trainable parameters."""
        params = [p for p in self.module.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def get_loss(self, outputs: dict[str, Tensor], batch: Batch) -> Tensor:
        """The loss of one batch."""
        return self.loss_fn(outputs, batch)

    def train_step(self, batch: Batch, optimizer: torch.optim.Optimizer) -> Tensor:
        """One optimisation step; returns the (detached) batch loss."""
        self.module.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast(self.config.device, self.config.autocast_dtype):
            outputs = self.module(batch)
        loss = self.get_loss(_as_float(outputs), batch)
        loss.backward()
        if self.config.grad_clip:
            nn.utils.clip_grad_norm_(self.module.parameters(), self.config.grad_clip)
        optimizer.step()
        return loss.detach()

    @torch.no_grad()
    def validation_step(self, data: Batch) -> float:
        """Loss on the whole validation set (forward in batches, loss on all rows)."""
        outputs = predict_outputs(self.module, data, self.config)
        targets = {k: v.to(self.config.device) for k, v in data.items()}
        return float(self.get_loss(outputs, targets))

    def fit(self, train: Batch, valid: Batch | None = None) -> Trainer:
        """Train for up to ``max_epochs`` epochs."""
        self.module.to(self.config.device)
        optimizer = self.configure_optimizer()
        for cb in self.callbacks:
            cb.on_train_begin(self)
        epochs = _epoch_range(self.config)
        for epoch in epochs:
            record = self._run_epoch(epoch, train, valid, optimizer)
            self.history.append(record)
            if hasattr(epochs, "set_postfix"):
                epochs.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k.endswith("loss")})
            for cb in self.callbacks:
                cb.on_epoch_end(self, record)
            if self.stop_training:
                break
        for cb in self.callbacks:
            cb.on_train_end(self)
        self.module.eval()
        return self

    def _run_epoch(
        self, epoch: int, train: Batch, valid: Batch | None, optimizer: torch.optim.Optimizer
    ) -> dict[str, Any]:
        start = time.perf_counter()
        losses = []
        for batch in iterate_batches(train, self.config.batch_size, self.generator):
            losses.append(self.train_step(to_device(batch, self.config.device), optimizer))
        record: dict[str, Any] = {"epoch": epoch, "train_loss": float(torch.stack(losses).mean())}
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
    """Evaluate ``module`` on all rows of ``data`` in batches; outputs concatenated (float32)."""
    module.eval()
    chunks: list[dict[str, Tensor]] = []
    for batch in iterate_batches(data, max(config.batch_size, 1024)):
        with autocast(config.device, config.autocast_dtype):
            chunks.append(_as_float(module(to_device(batch, config.device))))
    return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}


def _as_float(outputs: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.float() for k, v in outputs.items()}


def _epoch_range(config: TrainingConfig) -> Any:
    epochs = range(1, config.max_epochs + 1)
    if not config.verbose:
        return epochs
    from tqdm.auto import tqdm

    return tqdm(epochs, desc="epochs", unit="epoch")
