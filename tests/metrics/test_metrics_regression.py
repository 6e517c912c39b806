"""CRPS from quantiles against the closed form of the normal distribution, and the
regression scorers."""

import numpy as np
import pytest
from scipy import stats

from structunstruct import SemiStructuredRegressor, metrics
from structunstruct.metrics import crps_from_quantiles, get_scorer
from structunstruct.metrics._regression import quantile_levels


def normal_crps(y, mu, sigma):
    """Gneiting & Raftery (2007), eq. (5): the CRPS of N(mu, sigma^2) at y."""
    z = (y - mu) / sigma
    return sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def test_crps_from_quantiles_matches_the_normal_closed_form():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=50), rng.uniform(0.5, 2.0, size=50)
    y = rng.normal(mu, 1.5 * sigma)
    levels = quantile_levels(999)
    q = stats.norm.ppf(levels[None, :], mu[:, None], sigma[:, None])
    np.testing.assert_allclose(crps_from_quantiles(y, q, levels), normal_crps(y, mu, sigma),
                               rtol=2e-3, atol=1e-4)


def test_crps_of_a_point_mass_is_the_absolute_error():
    levels = quantile_levels(10)
    y = np.array([0.0, 3.0])
    q = np.tile(np.array([[1.0], [1.0]]), (1, 10))
    np.testing.assert_allclose(crps_from_quantiles(y, q, levels), [1.0, 2.0])


def test_crps_shape_error_names_shapes():
    with pytest.raises(ValueError, match="quantiles must have shape"):
        crps_from_quantiles([0.0, 1.0], np.zeros((2, 3)), quantile_levels(4))


def test_regression_scorers_on_a_classical_normal_model():
    rng = np.random.default_rng(1)
    import pandas as pd

    X = pd.DataFrame({"x": rng.normal(size=200)})
    y = 1.0 + 2.0 * X["x"].to_numpy() + rng.normal(scale=0.5, size=200)
    model = SemiStructuredRegressor(structured=["x"], tabular=[]).fit(X, y)
    params = model.predict_distribution(X)
    expected_ll = stats.norm.logpdf(y, params["loc"], params["scale"]).mean()
    assert get_scorer("log_likelihood")(model, X, y) == pytest.approx(expected_ll, rel=1e-6)
    expected_crps = normal_crps(y, params["loc"].to_numpy(), params["scale"].to_numpy()).mean()
    assert -get_scorer("neg_crps")(model, X, y) == pytest.approx(expected_crps, rel=5e-3)
    assert metrics.crps(model, X, y) == pytest.approx(expected_crps, rel=5e-3)
