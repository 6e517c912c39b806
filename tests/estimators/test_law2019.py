"""Law et al. (2019): two image columns in a semi-interpretable regression.

House prices from street-view and aerial images next to structured covariates, with the
image features kept orthogonal to the structured effects, either in two stages
(``deep_strategy="two_stage"``) or inside the network (``orthogonalize=True``). Both
keep the location coefficients of the structured-only fit; the images are confounded
with ``x1`` here, so a model that does not orthogonalize moves them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import structunstruct as su
from structunstruct.datasets._mnist import digit_log_risk

STRUCTURED = ["x1", "x2", "sex"]
IMAGES = ["image_a", "image_b"]


@pytest.fixture(scope="module")
def data():
    X, y, digits = su.datasets.make_regression_images(300, n_images=2, random_state=0,
                                                      return_digits=True)
    X = X.copy()
    X["x1"] = X["x1"] + digit_log_risk(digits[:, 0])  # the image_a part is confounded with x1
    return X, y


@pytest.fixture(scope="module")
def structured_only(data):
    X, y = data
    return su.SemiStructuredRegressor(structured=STRUCTURED, tabular=[]).fit(X, y)


def law(**strategy):
    settings = {"max_epochs": 4, "batch_size": 32, "random_state": 0, **strategy}
    return su.SemiStructuredRegressor(structured=STRUCTURED, tabular=[], image=IMAGES, **settings)


@pytest.mark.parametrize("strategy", [{"deep_strategy": "two_stage"}, {"orthogonalize": True}],
                         ids=["two_stage", "joint_orthogonalized"])
def test_two_image_columns_keep_the_structured_fit(data, structured_only, strategy):
    X, y = data
    model = law(**strategy).fit(X, y)
    assert len(model.history_) > 0  # the image part was trained
    # orthogonal image features leave the structured-only coefficients (an identity of the
    # projection, not a matter of training noise)
    np.testing.assert_allclose(model.coef_, structured_only.coef_, atol=1e-6)
    np.testing.assert_allclose(model.intercept_, structured_only.intercept_, atol=1e-6)
    # each image column has its own encoder, sharing no weights
    encoders = model.module_.location.encoders
    assert {"image:image_a", "image:image_b"} <= set(encoders)
    a = {p.data_ptr() for p in encoders["image:image_a"].parameters()}
    b = {p.data_ptr() for p in encoders["image:image_b"].parameters()}
    assert a and b and not a & b
    # and both columns reach the prediction
    prediction = model.predict(X)
    for column in IMAGES:
        shuffled = X.assign(**{column: X[column].sample(frac=1, random_state=1).to_numpy()})
        assert not np.allclose(model.predict(shuffled), prediction)


def test_without_orthogonalization_the_coefficients_move(data, structured_only):
    """The contrast that makes the test above informative: the confounded x1 moves."""
    X, y = data
    model = law(orthogonalize=False, max_epochs=10).fit(X, y)
    shift = np.abs(model.coef_ - structured_only.coef_)
    assert shift[0] > 0.05, shift  # about 0.15: x1 adjusted for the image it is confounded with


def test_shared_encoders_are_one_module(data):
    X, y = data
    model = law(deep_strategy="two_stage", share_encoders=True).fit(X.iloc[:120], y[:120])
    encoders = model.module_.location.encoders
    first = [p for p in encoders["image:image_a"].parameters()]
    second = [p for p in encoders["image:image_b"].parameters()]
    assert all(p is q for p, q in zip(first, second)) and isinstance(first[0], torch.Tensor)
