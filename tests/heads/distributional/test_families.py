"""Distribution families: log-likelihoods, moments and quantiles against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from structunstruct.heads.distributional.families import (
    DistributionalPredictor,
    get_family,
    list_families,
)

SAMPLES = {
    "normal": lambda rng, n: rng.normal(1, 2, n),
    "lognormal": lambda rng, n: rng.lognormal(0.2, 0.5, n),
    "student_t": lambda rng, n: rng.standard_t(4, n),
    "laplace": lambda rng, n: rng.laplace(0, 1, n),
    "poisson": lambda rng, n: rng.poisson(3, n).astype(float),
    "negbin": lambda rng, n: rng.negative_binomial(2, 0.4, n).astype(float),
    "gamma": lambda rng, n: rng.gamma(2, 1.5, n),
    "bernoulli": lambda rng, n: (rng.random(n) < 0.3).astype(float),
    "beta": lambda rng, n: rng.beta(2, 5, n),
}


def test_family_names_and_unknown_name():
    assert set(list_families()) == set(SAMPLES)
    with pytest.raises(ValueError, match="unknown family 'weibull'.*normal.*poisson"):
        get_family("weibull")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_log_prob_moments_and_quantiles_match_scipy(name, rng):
    family = get_family(name)
    y = SAMPLES[name](rng, 50)
    eta = torch.as_tensor(
        np.column_stack([family.initial_eta(y) + rng.normal(0, 0.2, family.n_parameters) for _ in y]).T
    )
    params = family.transform(eta)
    frozen = family.scipy_distribution({k: v.numpy() for k, v in params.items()})
    reference = frozen.logpmf(y) if family.discrete else frozen.logpdf(y)
    np.testing.assert_allclose(family.log_prob(eta, torch.as_tensor(y)).numpy(), reference, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(family.mean(params).numpy(), frozen.mean(), rtol=1e-8)
    np.testing.assert_allclose(family.variance(params).numpy(), frozen.var(), rtol=1e-8)
    q = family.quantile({k: v.numpy() for k, v in params.items()}, 0.9)
    assert (frozen.cdf(q) >= 0.9 - 1e-9).all()


@pytest.mark.parametrize("name", list_families())
def test_link_inverts_transform(name):
    family = get_family(name)
    values = [0.3, -0.7, 1.1][: family.n_parameters]  # a different predictor per parameter
    params = family.transform(torch.tensor([values], dtype=torch.float64))
    for parameter, value in zip(family.parameters, values, strict=True):
        assert family.link(parameter, params[parameter].numpy())[0] == pytest.approx(value, rel=1e-10)


@pytest.mark.parametrize(
    ("name", "y", "match"),
    [("poisson", [1.5, 2.0], "counts"), ("gamma", [0.0, 1.0], "positive"), ("beta", [0.2, 1.0], "between 0 and 1"),
     ("bernoulli", [0.0, 2.0], "0 or 1"), ("normal", [np.nan, 1.0], "finite")],
)
def test_target_outside_support_raises(name, y, match):
    with pytest.raises(ValueError, match=match):
        get_family(name).check_target(np.asarray(y))


class _Location(torch.nn.Module):
    def forward(self, batch):
        eta = batch["structured"].sum(1, keepdim=True)
        return {"eta": eta, "structured": eta, "deep": torch.zeros_like(eta)}


def test_distributional_predictor_layout():
    module = DistributionalPredictor(_Location(), [2, 0], ["scale", "shape"])
    with torch.no_grad():
        module.linears["scale"].weight.copy_(torch.tensor([[1.0, -1.0]]))
        module.intercepts.copy_(torch.tensor([0.5, 2.0]))
    batch = {"structured": torch.ones(4, 3), "structured_scale": torch.tensor([[1.0, 0.0]] * 4),
             "offset": torch.full((4,), 0.25)}
    eta = module(batch)["eta"]
    assert module.out_dim == 3 and eta.shape == (4, 3)
    torch.testing.assert_close(eta[0], torch.tensor([3.25, 1.5, 2.0]))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_location_information_is_the_variance_of_the_score(name):
    """Fisher information of the location predictor against its definition, the mean
    squared score ``E[(d log p / d eta_loc)^2]`` by autograd over scipy draws."""
    family = get_family(name)
    eta = torch.tensor([[0.4, 1.5, 1.2][: family.n_parameters]], dtype=torch.float64)
    params = {k: v.numpy()[0] for k, v in family.transform(eta).items()}
    y = torch.as_tensor(family.scipy_distribution(params).rvs(size=100_000, random_state=0), dtype=torch.float64)
    rows = eta.expand(len(y), -1).clone().requires_grad_(True)
    (score,) = torch.autograd.grad(family.log_prob(rows, y).sum(), rows)
    monte_carlo = (score[:, 0] ** 2).mean().item()
    assert family.location_information(eta).item() == pytest.approx(monte_carlo, rel=0.03)
