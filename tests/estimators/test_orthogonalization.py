"""The orthogonalization cell: weighted projection, and structured effects next to a
deep part that sees the structured columns (modelled scale, every family, DeepPAMM,
wide & deep Cox)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import torch

import structunstruct as su
from structunstruct.nn import Orthogonalization, orthogonal_complement


def test_weighted_complement_is_the_wls_residual(rng):
    design = rng.normal(size=(60, 2))
    latent = rng.normal(size=(60, 3)) + 2 * design[:, :1]
    weight = np.exp(rng.normal(size=60))
    resid = orthogonal_complement(torch.tensor(latent), torch.tensor(design), torch.tensor(weight)).numpy()
    for j in range(3):
        reference = sm.WLS(latent[:, j], sm.add_constant(design), weights=weight).fit().resid
        np.testing.assert_allclose(resid[:, j], reference, atol=1e-10)
    cell = Orthogonalization()
    cell.fit_projection(torch.tensor(latent), torch.tensor(design), torch.tensor(weight))
    cell.eval()
    stored = cell(torch.tensor(latent, dtype=torch.float32), torch.tensor(design, dtype=torch.float32))
    np.testing.assert_allclose(stored.numpy(), resid, atol=1e-4)


def _heteroscedastic(rng, n):
    """The case of issue 11: nonlinear mean with an interaction, log-linear sd in x2."""
    X = pd.DataFrame(rng.standard_normal((n, 3)), columns=["x1", "x2", "x3"])
    mean = 1 + 1.5 * X.x1 - X.x2 + np.sin(2 * X.x3) + 0.8 * X.x1 * X.x3
    y = mean + np.exp(-0.7 + 0.4 * X.x2) * rng.standard_normal(n)
    return X, y.to_numpy(), mean.to_numpy()


def test_cell_with_a_modelled_scale_keeps_the_structured_fit_and_learns_the_rest():
    """Measured (seed 0): structured-only ML (1.521, -1.034); the cell (1.524, -1.018),
    test R² 0.918 of 0.929 achievable. Before the fix: (1.07, -0.58), R² 0.73; with the
    cell skipped in training the slopes are shrunk as well."""
    rng = np.random.default_rng(0)
    X, y, _ = _heteroscedastic(rng, 2000)
    X_test, y_test, mean_test = _heteroscedastic(rng, 2000)
    achievable = 1 - np.mean((y_test - mean_test) ** 2) / np.var(y_test)
    common = {"structured": ["x1", "x2"], "scale": ["x2"], "random_state": 0}
    classical = su.SemiStructuredRegressor(**common, tabular=[]).fit(X, y)
    model = su.SemiStructuredRegressor(**common, tabular=["x1", "x2", "x3"], orthogonalize=True).fit(X, y)
    np.testing.assert_allclose(model.coef_, classical.coef_, atol=0.05)
    assert model.score(X_test, y_test) >= 0.9 * achievable
    # the network's own slopes (before the refit) are near the structured fit as well
    slopes = model.network_coef_[1:] / model.inputs_.design_.scale_
    np.testing.assert_allclose(slopes, classical.coef_, atol=0.1)


def test_weighted_cell_reports_the_wls_fit_in_the_models_own_weights():
    """With a modelled scale, the deep part is orthogonal to [1, X] in the weights
    1/sigma^2, so the reported location coefficients are the weighted least-squares
    fit of y alone (no deep part) in the fitted model's weights. Here the mean has
    0.5 x2^2 and sigma grows with x2, so weighted and unweighted projections differ
    (measured: unweighted cell -1.12 for x2, weighted -1.79, OLS -1.01)."""
    rng = np.random.default_rng(1)
    n = 1000
    X = pd.DataFrame(rng.standard_normal((n, 3)), columns=["x1", "x2", "x3"])
    sd = np.exp(-0.5 + 0.5 * X.x2)
    y = (1 + X.x1 - X.x2 + 0.5 * X.x2**2 + np.sin(2 * X.x3) + sd * rng.standard_normal(n)).to_numpy()
    model = su.SemiStructuredRegressor(
        structured=["x1", "x2"], scale=["x2"], tabular=["x1", "x2", "x3"], orthogonalize=True,
        max_epochs=30, random_state=0,
    ).fit(X, y)
    weight = model.predict_distribution(X)["scale"].to_numpy() ** -2.0
    wls = sm.WLS(y, sm.add_constant(X[["x1", "x2"]]), weights=weight).fit().params.to_numpy()
    np.testing.assert_allclose(model.summary_.loc["loc", "coef"].to_numpy(), wls, atol=1e-4)
    ols = sm.OLS(y, sm.add_constant(X[["x1", "x2"]])).fit().params.to_numpy()
    assert abs(wls[2] - ols[2]) > 0.3  # the weights matter in this case


def _rossi():
    from lifelines.datasets import load_rossi

    frame = load_rossi()
    return frame.drop(columns=["week", "arrest"]), (frame["week"].to_numpy(), frame["arrest"].to_numpy() == 1)


def test_default_orthogonalizes_when_the_deep_part_sees_structured_columns():
    """Rossi with every column structured and (by default) in the deep MLP: the
    default keeps fin near the classical Cox fit. Measured (50 epochs, seed 0): auto
    -0.355, orthogonalize=False -0.078, classical -0.379."""
    X, y = _rossi()
    columns = list(X.columns)
    classical = su.DeepSurv(structured=columns, tabular=[]).fit(X, y)
    model = su.DeepSurv(structured=columns, random_state=0, max_epochs=50).fit(X, y)
    assert model.get_params()["orthogonalize"] == "auto" and model.orthogonalize_ is True
    fin = columns.index("fin")
    assert abs(model.coef_[fin] - classical.coef_[fin]) < 0.1


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"structured": ["x1"]}, True),  # default tabular: every column
        ({"structured": ["x1"], "tabular": ["x2"]}, False),
        ({"structured": "s(x1)", "tabular": ["x1"]}, True),
        ({"structured": ["x1"], "tabular": []}, False),
        ({"tabular": ["x1"]}, False),
        ({"structured": ["x1"], "tabular": ["x1"], "orthogonalize": False}, False),
        ({"structured": ["x1"], "tabular": ["x2"], "orthogonalize": True}, True),
        ({"structured": ["x1"], "tabular": ["x1"], "deep_strategy": "two_stage"}, False),
    ],
)
def test_auto_rule(kwargs, expected, rng):
    X = pd.DataFrame({"x1": rng.normal(size=80), "x2": rng.normal(size=80)})
    y = X.x1.to_numpy() + rng.normal(size=80)
    model = su.SemiStructuredRegressor(max_epochs=1, random_state=0, **kwargs)
    from sklearn.base import clone

    assert clone(model).get_params()["orthogonalize"] == kwargs.get("orthogonalize", "auto")
    model.fit(X, y)
    assert model.orthogonalize_ is expected
    cell = model.module_.location.orthogonalization
    assert (cell is not None) == (expected and bool(kwargs.get("structured")))


# -- the simulation of benchmarks/orthogonalization_models.py at small n ----------------
from benchmarks.orthogonalization_models import (  # noqa: E402
    MODELS,
    OrthogonalityProbe,
    estimator,
    location_coef,
    oracle_coef,
    simulate,
)

SMALL = {"hidden_layers": (16, 8), "dropout": 0.0, "lr": 5e-3, "weight_decay": 0.0, "max_epochs": 30,
         "early_stopping": None, "batch_size": 64, "random_state": 0}
#: Logistic and proportional-hazards models are not collapsible: the classical fit
#: without the nonlinear part is attenuated, so the reference there is the classical
#: fit with the true (orthogonalized) nonlinear part as an offset.
NON_COLLAPSIBLE = ("bernoulli", "deeppamm", "deepsurv")
#: Largest |cell - reference| over the two slopes; measured at n = 400 (seed 0):
#: normal 0.017, lognormal 0.004, laplace 0.025, student_t 0.019, poisson 0.056,
#: negbin 0.047, gamma 0.029, bernoulli 0.033, beta 0.008, deeppamm 0.014, deepsurv
#: 0.018; without the cell: 1.34, 0.39, 1.42, 1.28, 0.40, 0.29, 0.30, 0.85, 0.33,
#: 0.039 (DeepPAMM starts at the classical fit and moves little in 30 epochs; there
#: the probe is what fails when the cell is skipped), 0.91.
TOLERANCE = {
    "normal": 0.1, "lognormal": 0.05, "laplace": 0.1, "student_t": 0.1, "poisson": 0.15,
    "negbin": 0.15, "gamma": 0.1, "bernoulli": 0.15, "beta": 0.05, "deeppamm": 0.05, "deepsurv": 0.1,
}


@pytest.mark.parametrize("model", MODELS)
def test_cell_keeps_structured_effects_in_every_model(model):
    rng = np.random.default_rng(0)
    X, y = simulate(model, 400, rng)
    classical = estimator(model, deep=False).fit(X, y)
    reference = oracle_coef(model, X, y, classical) if model in NON_COLLAPSIBLE else location_coef(classical)
    probe = OrthogonalityProbe()
    fitted = estimator(model, deep=True, callbacks=[probe], **SMALL).fit(X, y)
    # the cell acts on every training batch (a refit after training would hide its absence)
    assert probe.batches >= SMALL["max_epochs"] and probe.violation < 1e-4
    difference = np.max(np.abs(location_coef(fitted) - reference))
    assert difference < TOLERANCE[model], difference
