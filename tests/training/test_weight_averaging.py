"""Weight averaging (EMA) in the training loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from structunstruct.training import EarlyStopping, Trainer, TrainingConfig, WeightAveraging


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def forward(self, batch: dict) -> dict:
        return {"y": self.layer(batch["x"])}


def mse(outputs: dict, batch: dict) -> torch.Tensor:
    return ((outputs["y"][:, 0] - batch["y"]) ** 2).mean()


def _data(n: int = 200, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return {"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3 * torch.randn(n, generator=g)}


def _fit(callbacks=(), ema_decay=None, max_epochs=5, valid=None) -> Trainer:
    torch.manual_seed(0)
    config = TrainingConfig(lr=0.05, batch_size=20, max_epochs=max_epochs, ema_decay=ema_decay)
    trainer = Trainer(Linear(), mse, config, callbacks, torch.Generator().manual_seed(1))
    return trainer.fit(_data(), valid)


def test_decay_zero_is_no_averaging_and_default_config_averages():
    plain = _fit(ema_decay=None)
    zero = _fit([WeightAveraging(decay=0.0)])
    torch.testing.assert_close(plain.module.layer.weight, zero.module.layer.weight)
    assert isinstance(_fit(ema_decay=0.99).callbacks[0], WeightAveraging)
    assert isinstance(Trainer(Linear(), mse, TrainingConfig()).callbacks[0], WeightAveraging)


def test_early_stopping_restores_the_validated_average():
    valid = _data(100, seed=5)
    stopper = EarlyStopping(patience=2)
    trainer = _fit([stopper], ema_decay=0.99, max_epochs=40, valid=valid)
    best = min(trainer.history, key=lambda r: r["valid_loss"])
    assert trainer.best_epoch == best["epoch"]
    with torch.no_grad():
        restored = float(mse(trainer.module(valid), valid))
    assert restored == pytest.approx(best["valid_loss"], rel=1e-5)


def test_decay_must_be_below_one():
    with pytest.raises(ValueError, match="decay"):
        WeightAveraging(decay=1.0)
