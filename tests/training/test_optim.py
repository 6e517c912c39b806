"""The lean fused AdamW equals torch's AdamW and keeps the optimizer contract."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from structunstruct.training import AdamW, Trainer, TrainingConfig
from structunstruct.training.optim import fused_kernel_available


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))


def _train(net: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 25) -> None:
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(32, 5, generator=generator)
        y = x.sum(dim=1, keepdim=True)
        optimizer.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        optimizer.step()


def _step_with_fixed_gradients(net: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 25) -> None:
    """Steps on gradients drawn independently of the weights: no feedback loop amplifies
    the optimizers' round-off, so the comparison holds on any CPU."""
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in net.parameters():
            p.grad = torch.randn(p.shape, generator=generator)
        optimizer.step()


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_updates_equal_torch_adamw(weight_decay):
    ours, reference = _net(0), _net(0)
    _step_with_fixed_gradients(ours, AdamW(ours.parameters(), lr=0.01, weight_decay=weight_decay))
    _step_with_fixed_gradients(reference, torch.optim.AdamW(reference.parameters(), lr=0.01, weight_decay=weight_decay))
    moved = sum(float((a - b).detach().abs().sum()) for a, b in zip(ours.parameters(), _net(0).parameters()))
    assert moved > 0.1  # the comparison below is not between untrained nets
    for a, b in zip(ours.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_step_hooks_run_and_state_round_trips():
    net = _net(0)
    optimizer = AdamW(net.parameters(), lr=0.01)
    calls = []
    optimizer.register_step_pre_hook(lambda *_: calls.append("pre"))
    optimizer.register_step_post_hook(lambda *_: calls.append("post"))
    _train(net, optimizer, steps=3)
    assert calls == ["pre", "post"] * 3
    assert all(float(optimizer.state[p]["step"]) == 3 for p in net.parameters())

    twin = _net(0)
    twin.load_state_dict(net.state_dict())
    restored = AdamW(twin.parameters(), lr=0.01)
    restored.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # as if saved and loaded
    _train(net, optimizer, steps=4)
    _train(twin, restored, steps=4)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert float(restored.state[next(twin.parameters())]["step"]) == 7


def test_parameters_without_gradient_are_left_alone():
    net = _net(0)
    frozen = nn.Parameter(torch.ones(3))
    optimizer = AdamW([*net.parameters(), frozen], lr=0.1)
    _train(net, optimizer, steps=2)
    assert torch.equal(frozen, torch.ones(3))
    assert "exp_avg" not in optimizer.state.get(frozen, {})


def test_unsupported_parameters_are_rejected():
    assert not fused_kernel_available([torch.zeros(2, dtype=torch.int64)])
    with pytest.raises(ValueError, match="torch.optim.AdamW"):
        AdamW([nn.Parameter(torch.zeros(2, dtype=torch.int64), requires_grad=False)])
    with pytest.raises(ValueError, match="betas"):
        AdamW([nn.Parameter(torch.zeros(2))], betas=(0.9, 1.0))


def test_trainer_uses_the_fused_optimizer_on_one_cpu_thread():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = Trainer(_net(0), lambda o, b: o, TrainingConfig()).configure_optimizer()
        torch.set_num_threads(2)
        several = Trainer(_net(0), lambda o, b: o, TrainingConfig()).configure_optimizer()
    finally:
        torch.set_num_threads(threads)
    assert isinstance(single, AdamW)
    assert type(several) is torch.optim.AdamW and several.defaults["foreach"]
