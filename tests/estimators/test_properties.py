"""Property tests (hypothesis) of the losses and metrics against references from outside.

Small examples and few of them keep the file fast; each property is one that any
correct implementation has whatever the data: invariance to the order of rows, the
Cox loss's invariance to a shift of the scores, finite gradients for extreme scores,
and equality with a direct (quadratic, float64) evaluation of the textbook formula or
with scipy / scikit-survival / lifelines.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lifelines.utils import concordance_index
from scipy import stats
from sksurv import metrics as sksurv_metrics
from sksurv.util import Surv

from structunstruct import metrics
from structunstruct.heads.distributional.families import get_family
from structunstruct.heads.pamm.module import piecewise_exponential_loss, poisson_offset_loss
from structunstruct.nn import cox_ph_loss

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def survival_batches(draw, max_n: int = 25, max_abs_score: float = 20.0):
    """Integer times (many ties), events with at least one event, and scores."""
    n = draw(st.integers(2, max_n))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    time = rng.integers(1, draw(st.integers(2, 12)), n).astype(np.float64)
    event = rng.random(n) < draw(st.floats(0.2, 1.0))
    event[rng.integers(n)] = True
    eta = rng.uniform(-max_abs_score, max_abs_score, n) * draw(st.sampled_from([0.01, 0.1, 1.0]))
    return time, event, eta, rng


def _loss(eta: np.ndarray, time: np.ndarray, event: np.ndarray, ties: str) -> float:
    return float(cox_ph_loss(torch.as_tensor(eta), torch.as_tensor(time), torch.as_tensor(event), ties))


def _direct_cox_loss(eta: np.ndarray, time: np.ndarray, event: np.ndarray, ties: str) -> float:
    """Negative log partial likelihood averaged over events, from the textbook formula
    (Efron 1977; Breslow), one event time at a time, in float64."""
    total = 0.0
    for t in np.unique(time[event]):
        tied = event & (time == t)
        risk = np.exp(eta[time >= t]).sum()
        d_sum, d = np.exp(eta[tied]).sum(), int(tied.sum())
        fractions = np.arange(d) / d if ties == "efron" else np.zeros(d)
        total += np.log(risk - fractions * d_sum).sum() - eta[tied].sum()
    return total / event.sum()


@FAST
@given(survival_batches(), st.sampled_from(["efron", "breslow"]))
def test_cox_loss_equals_the_textbook_partial_likelihood(batch, ties):
    time, event, eta, _ = batch
    assert _loss(eta, time, event, ties) == pytest.approx(_direct_cox_loss(eta, time, event, ties), rel=1e-9, abs=1e-12)


@FAST
@given(survival_batches(), st.sampled_from(["efron", "breslow"]), st.floats(-500, 500))
def test_cox_loss_is_invariant_to_row_order_and_score_shift(batch, ties, shift):
    time, event, eta, rng = batch
    reference = _loss(eta, time, event, ties)
    order = rng.permutation(len(time))
    assert _loss(eta[order], time[order], event[order], ties) == pytest.approx(reference, rel=1e-10, abs=1e-12)
    assert _loss(eta + shift, time, event, ties) == pytest.approx(reference, rel=1e-8, abs=1e-8)


@FAST
@given(survival_batches(max_abs_score=1e4), st.sampled_from(["efron", "breslow"]),
       st.sampled_from([torch.float32, torch.float64]))
def test_cox_gradient_is_finite_and_sums_to_zero_for_scores_up_to_1e4(batch, ties, dtype):
    """The gradient of a shift-invariant loss sums to zero; it is finite even for huge scores."""
    time, event, eta, _ = batch
    scores = torch.as_tensor(eta * 1e4 / max(np.abs(eta).max(), 1e-12), dtype=dtype).requires_grad_(True)
    loss = cox_ph_loss(scores, torch.as_tensor(time), torch.as_tensor(event), ties)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()
    assert float(scores.grad.double().sum()) == pytest.approx(0.0, abs=1e-5)


@FAST
@given(survival_batches(max_n=12, max_abs_score=3.0), st.sampled_from(["efron", "breslow"]))
def test_cox_gradient_equals_finite_differences(batch, ties):
    time, event, eta, _ = batch
    scores = torch.as_tensor(eta).requires_grad_(True)
    cox_ph_loss(scores, torch.as_tensor(time), torch.as_tensor(event), ties).backward()
    step = 1e-6
    numeric = [(_loss(eta + step * unit, time, event, ties) - _loss(eta - step * unit, time, event, ties)) / (2 * step)
               for unit in np.eye(len(eta))]
    np.testing.assert_allclose(scores.grad.numpy(), numeric, rtol=1e-5, atol=1e-7)


# -- PAMM: Poisson log-likelihood with a log-exposure offset --------------------------------
@st.composite
def ped_cells(draw):
    n, k = draw(st.integers(1, 8)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    exposure = rng.uniform(0.05, 3.0, (n, k)) * (rng.random((n, k)) < 0.7)
    exposure[0, 0] = max(exposure[0, 0], 0.5)
    status = (rng.random((n, k)) < 0.3) * (exposure > 0)
    log_hazard = rng.normal(0, draw(st.sampled_from([0.1, 1.0, 5.0])), (n, k))
    return log_hazard, exposure, status.astype(np.float64), rng


@FAST
@given(ped_cells())
def test_pamm_loss_equals_the_poisson_likelihood_with_offset(cells):
    """Each at-risk cell is a Poisson count with mean exposure * hazard (scipy's pmf)."""
    log_hazard, exposure, status, rng = cells
    at_risk = exposure > 0
    mu = exposure[at_risk] * np.exp(log_hazard[at_risk])
    expected = -stats.poisson.logpmf(status[at_risk], mu).sum() / at_risk.sum()
    loss = piecewise_exponential_loss(*(torch.as_tensor(a) for a in (log_hazard, exposure, status)))
    assert float(loss) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    rows = rng.permutation(len(exposure))
    again = piecewise_exponential_loss(*(torch.as_tensor(a[rows]) for a in (log_hazard, exposure, status)))
    assert float(again) == pytest.approx(float(loss), rel=1e-6)
    offset = poisson_offset_loss(torch.as_tensor(log_hazard[at_risk]), torch.as_tensor(np.log(exposure[at_risk])),
                                 torch.as_tensor(status[at_risk]))
    assert float(offset) == pytest.approx(expected, rel=1e-5, abs=1e-6)


# -- distributional families ---------------------------------------------------------------
def _scipy_reference(name: str, p: dict[str, np.ndarray]):
    """The family's documented parameterization, written directly in scipy."""
    loc = p.get("loc")
    scale = p.get("scale")
    return {
        "normal": lambda: stats.norm(loc, scale),
        "laplace": lambda: stats.laplace(loc, scale),
        "student_t": lambda: stats.t(p["shape"], loc, scale),
        "lognormal": lambda: stats.lognorm(s=scale, scale=np.exp(loc)),
        "poisson": lambda: stats.poisson(loc),
        "negbin": lambda: stats.nbinom(1 / scale, 1 / (1 + scale * loc)),
        "gamma": lambda: stats.gamma(1 / scale, scale=loc * scale),
        "bernoulli": lambda: stats.bernoulli(loc),
        "beta": lambda: stats.beta(loc * scale, (1 - loc) * scale),
    }[name]()


_INVERSE_LINKS = {"identity": lambda x: x, "log": np.exp, "logit": lambda x: 1 / (1 + np.exp(-x))}


@pytest.mark.parametrize("name", ["normal", "laplace", "student_t", "lognormal", "poisson",
                                  "negbin", "gamma", "bernoulli", "beta"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_family_log_density_and_moments_equal_scipy(name, seed):
    family = get_family(name)
    rng = np.random.default_rng(seed)
    n = 6
    eta = rng.normal(0, 0.7, (n, family.n_parameters))
    params = {p: _INVERSE_LINKS[link](eta[:, j]) for j, (p, link) in enumerate(zip(family.parameters, family.links))}
    reference = _scipy_reference(name, params)
    y = np.asarray(reference.rvs(random_state=rng), dtype=np.float64)
    if name == "beta":
        y = np.clip(y, 1e-6, 1 - 1e-6)
    log_density = reference.logpmf(y) if family.discrete or name in ("poisson", "bernoulli") else reference.logpdf(y)
    got = family.log_prob(torch.as_tensor(eta), torch.as_tensor(y)).numpy()
    np.testing.assert_allclose(got, log_density, rtol=1e-6, atol=1e-8)
    torch_params = family.transform(torch.as_tensor(eta))
    defined = np.isfinite(reference.mean())  # a Student-t with df <= 1 has no mean
    np.testing.assert_allclose(family.mean(torch_params).numpy()[defined], reference.mean()[defined], rtol=1e-6)
    variance, finite = family.variance(torch_params).numpy(), np.isfinite(reference.var())
    np.testing.assert_allclose(variance[finite], reference.var()[finite], rtol=1e-6)
    assert np.isposinf(variance[~finite]).all()  # Student-t with df <= 2
    rows = rng.permutation(n)
    permuted = family.log_prob(torch.as_tensor(eta[rows]), torch.as_tensor(y[rows])).numpy()
    assert permuted.sum() == pytest.approx(got.sum(), rel=1e-12)
    for j, p in enumerate(family.parameters):
        np.testing.assert_allclose(family.link(p, params[p]), eta[:, j], rtol=1e-8, atol=1e-10)


# -- metrics against scikit-survival and lifelines ----------------------------------------
@FAST
@given(survival_batches(max_n=40, max_abs_score=3.0))
def test_harrell_c_equals_scikit_survival_and_lifelines(batch):
    time, event, eta, rng = batch
    assume((event[:, None] & (time[:, None] < time[None, :])).any())  # a comparable pair
    y = Surv.from_arrays(event, time)
    c = metrics.concordance_index_harrell(y, eta)
    assert c == pytest.approx(sksurv_metrics.concordance_index_censored(event, time, eta)[0], rel=1e-12)
    assert c == pytest.approx(concordance_index(time, -eta, event), rel=1e-12)
    order = rng.permutation(len(time))
    assert metrics.concordance_index_harrell(y[order], eta[order]) == pytest.approx(c, rel=1e-12)


def _train_and_test(rng, n_train: int = 120, n_test: int = 60):
    """Training and test survival with different censoring (so y_train matters)."""
    def draw(n, censor_rate, horizon=np.inf):
        t = rng.exponential(10, n)
        c = np.minimum(rng.exponential(10 / censor_rate, n), horizon)  # administrative end
        return Surv.from_arrays(t <= c, np.round(np.minimum(t, c), 1) + 0.1)
    y_train = draw(n_train, 0.3)
    # test follow-up ends before the last training time: past it the censoring
    # distribution estimated on y_train is 0 and IPCW weights do not exist
    return y_train, draw(n_test, 1.5, horizon=y_train["time"].max() - 0.2)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_ipcw_metrics_with_a_distinct_y_train_equal_scikit_survival(seed):
    rng = np.random.default_rng(seed)
    y_train, y_test = _train_and_test(rng)
    risk = -np.log(y_test["time"]) + rng.normal(0, 1, len(y_test))
    # evaluation times at event times of y_test (an event exactly at the last time is a case)
    event_times = np.unique(y_test["time"][y_test["event"]])
    event_times = event_times[(event_times > np.quantile(y_test["time"], 0.1)) & (event_times < y_train["time"].max())]
    times = event_times[np.linspace(0, int(0.8 * (len(event_times) - 1)), 5).round().astype(int)]
    upper = times[-1]
    survival = np.exp(-np.outer(np.exp(risk), times) / 10)
    ref_auc, ref_mean = sksurv_metrics.cumulative_dynamic_auc(y_train, y_test, risk, times)
    _, ours_auc = metrics.time_dependent_auc(y_test, risk, y_train=y_train, times=times)
    np.testing.assert_allclose(ours_auc, ref_auc, rtol=1e-10)
    assert metrics.cumulative_dynamic_auc(y_test, risk, y_train=y_train, times=times) == pytest.approx(ref_mean, rel=1e-10)
    ours_ibs = metrics.integrated_brier_score(y_test, survival, y_train=y_train, times=times)
    assert ours_ibs == pytest.approx(sksurv_metrics.integrated_brier_score(y_train, y_test, survival, times), rel=1e-10)
    ours_bs = metrics.brier_score(y_test, survival, y_train=y_train, times=times)[1]
    np.testing.assert_allclose(ours_bs, sksurv_metrics.brier_score(y_train, y_test, survival, times)[1], rtol=1e-10)
    tau = float(upper)
    ours_uno = metrics.concordance_index_uno(y_test, risk, y_train=y_train, tau=tau)
    assert ours_uno == pytest.approx(sksurv_metrics.concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0], rel=1e-10)
    # and y_train changes the answer (the censoring distributions differ)
    assert ours_ibs != pytest.approx(metrics.integrated_brier_score(y_test, survival, times=times), rel=1e-6)
