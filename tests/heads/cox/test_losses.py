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


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_gradient_passes_finite_difference_check(rng, ties):
    """The analytic gradient of the one-node loss against central differences (float64)."""
    _, time, event = _data(rng, n=40, tie_levels=6)
    eta = torch.tensor(rng.normal(size=40), dtype=torch.float64, requires_grad=True)
    t, e = torch.tensor(time), torch.tensor(event)
    assert torch.autograd.gradcheck(lambda x: cox_ph_loss(x, t, e, ties), (eta,))


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_torch_and_numpy_evaluations_agree(rng, ties):
    """The accelerator path (torch ops) equals the host path (numpy) on the same batch."""
    from structunstruct.heads.cox.loss import RiskSets, _loss_and_gradient, _NumpyOps, _TorchOps

    _, time, event = _data(rng, n=300, tie_levels=20)
    eta = rng.normal(size=300) * 3
    risk_sets = RiskSets.from_arrays(time, event, ties)
    order = risk_sets.order
    loss_np, grad_np = _loss_and_gradient(eta[order], risk_sets, _NumpyOps, True)
    on_torch = risk_sets.to(torch.device("cpu"), torch.float64)
    loss_t, grad_t = _loss_and_gradient(torch.tensor(eta)[on_torch.order], on_torch, _TorchOps, True)
    np.testing.assert_allclose(float(loss_t), loss_np, rtol=1e-12)
    np.testing.assert_allclose(grad_t.numpy(), grad_np, rtol=1e-10, atol=1e-14)


def test_float32_scores_keep_float32_and_match_float64(rng):
    _, time, event = _data(rng)
    eta64 = torch.tensor(rng.normal(size=len(time)), requires_grad=True)
    eta32 = eta64.detach().float().requires_grad_()
    t, e = torch.tensor(time), torch.tensor(event)
    loss32, loss64 = cox_ph_loss(eta32, t, e), cox_ph_loss(eta64, t, e)
    loss32.backward()
    loss64.backward()
    assert loss32.dtype == torch.float32 and eta32.grad.dtype == torch.float32
    np.testing.assert_allclose(loss32.item(), loss64.item(), rtol=1e-6)
    np.testing.assert_allclose(eta32.grad.numpy(), eta64.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_column_scores_and_no_gradient_mode(rng):
    """(n, 1) scores give the same loss; under no_grad no gradient is kept."""
    _, time, event = _data(rng)
    eta = torch.tensor(rng.normal(size=len(time)))
    t, e = torch.tensor(time), torch.tensor(event)
    with torch.no_grad():
        column = cox_ph_loss(eta[:, None], t, e)
    assert not column.requires_grad
    np.testing.assert_allclose(column.item(), cox_ph_loss(eta, t, e).item(), rtol=1e-14)


def test_unknown_ties_are_rejected():
    with pytest.raises(ValueError, match="ties must be one of"):
        cox_ph_loss(torch.zeros(3), torch.arange(3.0), torch.ones(3), ties="exact")
