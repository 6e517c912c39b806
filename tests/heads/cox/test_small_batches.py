"""Small Cox batches: the 'events' batch sampler and the queue of past risk scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from structunstruct.heads.cox.loss import RiskSetMemory
from structunstruct.nn import cox_ph_loss
from structunstruct.training import Trainer, TrainingConfig
from structunstruct.training.samplers import event_batches, get_batch_sampler


@pytest.fixture
def tied_survival(rng):
    """120 rows, integer times 1..15 (heavy ties), 15% events."""
    n = 120
    return {
        "x": torch.as_tensor(rng.normal(size=(n, 3)), dtype=torch.float32),
        "time": torch.as_tensor(rng.integers(1, 16, n), dtype=torch.float32),
        "event": torch.as_tensor(rng.random(n) < 0.15, dtype=torch.float32),
    }


@pytest.mark.parametrize("batch_size", [1, 4, 8, 32])
def test_event_batches_give_every_batch_an_event_and_keep_ties_together(tied_survival, batch_size):
    batches = event_batches(tied_survival, batch_size, torch.Generator().manual_seed(0))
    rows = torch.cat(batches).numpy()
    assert np.array_equal(np.sort(rows), np.arange(120))  # every row once
    time, event = tied_survival["time"].numpy(), tied_survival["event"].numpy()
    assert all(event[b.numpy()].sum() >= 1 for b in batches)
    batch_of = np.empty(120, dtype=int)
    for k, b in enumerate(batches):
        batch_of[b.numpy()] = k
    for t in np.unique(time):  # one batch per tie group
        assert len(np.unique(batch_of[time == t])) == 1
    units_with_event = len(np.unique(time[event > 0]))
    assert len(batches) == min(int(np.ceil(120 / batch_size)), units_with_event)


def test_event_batches_without_events_or_times_are_refused(tied_survival):
    with pytest.raises(ValueError, match="at least one event"):
        event_batches({**tied_survival, "event": torch.zeros(120)}, 8)
    with pytest.raises(KeyError, match="time"):
        event_batches({"x": tied_survival["x"], "event": tied_survival["event"]}, 8)
    with pytest.raises(ValueError, match="unknown batch sampler 'often'.*events"):
        get_batch_sampler("often")


def test_random_batches_of_eight_miss_events_that_the_sampler_provides(tied_survival):
    """The trainer draws the sampler's batches; the loop's random split leaves some without events."""
    module = torch.nn.Linear(3, 1)
    config = TrainingConfig(batch_size=8, ema_decay=None)
    random = Trainer(module, None, config, generator=torch.Generator().manual_seed(0))
    assert any(b["event"].sum() == 0 for b in random.batches(tied_survival))
    config.batch_sampler = get_batch_sampler("events")
    sampled = Trainer(module, None, config, generator=torch.Generator().manual_seed(0))
    assert all(b["event"].sum() >= 1 for b in sampled.batches(tied_survival))


def test_memory_loss_is_the_cox_loss_of_the_batch_with_detached_past_rows(tied_survival):
    eta = torch.randn(120, 1, dtype=torch.float64)
    time, event = tied_survival["time"].double(), tied_survival["event"].double()
    memory = RiskSetMemory(50, ties="efron")
    for start in range(0, 80, 10):  # fill the queue: 8 batches of 10, the last 50 rows kept
        memory.loss(eta[start:start + 10], time[start:start + 10], event[start:start + 10])
    assert torch.equal(memory.scores, eta[30:80, 0])
    assert torch.equal(memory.time, time[30:80])

    batch = eta[80:90].clone().requires_grad_(True)
    value = memory.loss(batch, time[80:90], event[80:90])
    value.backward()
    reference_batch = eta[80:90].clone().requires_grad_(True)
    past = eta[30:80].clone().requires_grad_(True)
    reference = cox_ph_loss(
        torch.cat([reference_batch, past.detach()]), torch.cat([time[80:90], time[30:80]]),
        torch.cat([event[80:90], event[30:80]]), "efron")
    reference.backward()
    assert float(value.detach()) == pytest.approx(float(reference.detach()), rel=1e-12)
    torch.testing.assert_close(batch.grad, reference_batch.grad, rtol=1e-12, atol=1e-14)
    assert past.grad is None
    # the past events are scored too: more events than the batch's own
    assert float(event[30:90].sum()) > float(event[80:90].sum())


def test_batch_size_one_gets_gradients_with_the_memory(tied_survival):
    """Alone, a row is its own risk set: every single-row Cox step is zero (torchsurv #35)."""
    x, time, event = tied_survival["x"], tied_survival["time"], tied_survival["event"]
    weight = torch.zeros(3, requires_grad=True)

    def gradient_norms(memory: RiskSetMemory | None) -> np.ndarray:
        norms = []
        for i in range(60):
            weight.grad = None
            eta = x[i:i + 1] @ weight
            loss = memory.loss(eta, time[i:i + 1], event[i:i + 1]) if memory else cox_ph_loss(
                eta, time[i:i + 1], event[i:i + 1])
            loss.backward()
            norms.append(float(weight.grad.norm()))
        return np.asarray(norms)

    assert np.all(gradient_norms(None) == 0.0)
    with_memory = gradient_norms(RiskSetMemory(32))
    assert np.mean(with_memory[10:] > 0) > 0.8


def test_deepsurv_trains_with_the_sampler_and_the_memory(gbsg2):
    from structunstruct import DeepSurv

    X, y = gbsg2
    X, y = X.iloc[:200], y[:200]
    model = DeepSurv(tabular=["age", "pnodes", "progrec"], batch_size=8, batch_sampler="events",
                     risk_set_memory=64, max_epochs=3, hidden_layers=(8,), random_state=0).fit(X, y)
    assert np.isfinite(model.predict(X)).all()
    assert len(model.history_) == 3
    with pytest.raises(ValueError, match="unknown batch sampler"):
        DeepSurv(tabular=["age"], batch_sampler="often").fit(X, y)
