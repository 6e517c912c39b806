"""The small loop shared by the pretraining functions of this package."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn


def check_batches(batches: Any, epochs: int) -> None:
    """Refuse an iterator that cannot be iterated again for a second epoch.

    Raises
    ------
    TypeError
        If ``batches`` is not iterable, or is a one-shot iterator and ``epochs > 1``.
    ValueError
        If ``epochs`` is not a positive integer.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer; got {epochs!r}")
    if not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of batches; got {type(batches).__name__}")
    if epochs > 1 and iter(batches) is batches:
        raise TypeError(
            "batches is a one-shot iterator but epochs > 1; pass a list or a DataLoader, "
            "which can be iterated once per epoch"
        )


def call_encoder(encoder: nn.Module, inputs: Any) -> Tensor:
    """``encoder(*inputs)`` for a tuple or list of tensors, else ``encoder(inputs)``."""
    if isinstance(inputs, (tuple, list)):
        return encoder(*inputs)
    return encoder(inputs)


def run_pretraining(
    modules: Sequence[nn.Module],
    batches: Iterable[Any],
    batch_loss: Callable[[Any], Tensor],
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
) -> list[float]:
    """Train ``modules`` with Adam on ``batch_loss`` over ``epochs`` passes of ``batches``.

    Parameters
    ----------
    modules : sequence of torch.nn.Module
        Every module whose parameters are trained (encoders, a loss with a learnable
        temperature); each is put in training mode, and in evaluation mode afterwards.
    batches : iterable
        Re-iterable source of batches (a list or a DataLoader).
    batch_loss : callable
        Batch -> scalar loss tensor.
    epochs : int
        Passes over ``batches``.
    lr, weight_decay : float
        Adam's learning rate and weight decay.

    Returns
    -------
    list of float
        The mean loss of each epoch (as computed during the epoch), length ``epochs``.
    """
    check_batches(batches, epochs)
    parameters = [p for m in modules for p in m.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the modules to pretrain have no trainable parameters")
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    for module in modules:
        module.train()
    history: list[float] = []
    for _ in range(epochs):
        total, count = 0.0, 0
        for batch in batches:
            optimizer.zero_grad()
            loss = batch_loss(batch)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            count += 1
        if count == 0:
            raise ValueError("batches is empty")
        history.append(total / count)
    for module in modules:
        module.eval()
    return history
