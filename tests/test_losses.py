"""The torch Cox loss equals the exact partial likelihood of the Newton fitter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from statsmodels.duration.hazard_regression import PHReg

from structunstruct.nn import cox_ph_loss


def _data(rng, n=200, tie_levels=15):
    X = rng.normal(size=(n, 3))
    time = rng.integers(1, tie_levels, size=n).astype(float)  # many ties
    event = rng.random(n) < 0.7
    return X, time, event


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_loss_equals_statsmodels_loglik(rng, ties):
    X, time, event = _data(rng)
    beta = np.array([0.3, -0.5, 0.2])
    model = PHReg(time, X, status=event.astype(int), ties=ties)
    loglik = model.loglike(beta)
    loss = cox_ph_loss(
        torch.tensor(X @ beta), torch.tensor(time), torch.tensor(event), ties=ties
    )
    np.testing.assert_allclose(float(loss), -loglik / event.sum(), rtol=1e-10)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_gradient_equals_statsmodels_score(rng, ties):
    X, time, event = _data(rng)
    beta = torch.tensor([0.1, 0.4, -0.3], dtype=torch.float64, requires_grad=True)
    loss = cox_ph_loss(torch.tensor(X) @ beta, torch.tensor(time), torch.tensor(event), ties)
    loss.backward()
    score = PHReg(time, X, status=event.astype(int), ties=ties).score(beta.detach().numpy())
    np.testing.assert_allclose(beta.grad.numpy(), -score / event.sum(), rtol=1e-8, atol=1e-12)


def test_loss_is_invariant_to_row_order_and_shift(rng):
    X, time, event = _data(rng)
    eta = torch.tensor(X @ np.array([1.0, 2.0, -1.0]))
    t, e = torch.tensor(time), torch.tensor(event)
    perm = torch.from_numpy(rng.permutation(len(time)))
    base = cox_ph_loss(eta, t, e)
    assert torch.allclose(base, cox_ph_loss(eta[perm], t[perm], e[perm]))
    assert torch.allclose(base, cox_ph_loss(eta + 123.0, t, e))


def test_loss_is_finite_for_huge_scores(rng):
    _, time, event = _data(rng)
    eta = torch.tensor(rng.normal(size=len(time)) * 1e4, dtype=torch.float32, requires_grad=True)
    loss = cox_ph_loss(eta, torch.tensor(time), torch.tensor(event))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(eta.grad).all()


def test_no_events_gives_zero_loss():
    eta = torch.zeros(5, requires_grad=True)
    loss = cox_ph_loss(eta, torch.arange(5.0), torch.zeros(5))
    loss.backward()
    assert float(loss.detach()) == 0.0


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_untied_batch_equals_statsmodels(rng, ties):
    """The shortcut for batches without tied times is the same partial likelihood."""
    X, _, event = _data(rng)
    time = rng.permutation(len(event)).astype(float) + 1.0  # all distinct
    beta = torch.tensor([0.3, -0.5, 0.2], dtype=torch.float64, requires_grad=True)
    loss = cox_ph_loss(torch.tensor(X) @ beta, torch.tensor(time), torch.tensor(event), ties)
    loss.backward()
    model = PHReg(time, X, status=event.astype(int), ties=ties)
    np.testing.assert_allclose(loss.item(), -model.loglike(beta.detach().numpy()) / event.sum(), rtol=1e-10)
    np.testing.assert_allclose(beta.grad.numpy(), -model.score(beta.detach().numpy()) / event.sum(),
                               rtol=1e-8, atol=1e-12)
