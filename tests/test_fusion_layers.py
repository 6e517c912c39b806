"""FiLM fusion: starts as concatenation, represents products, and works in the estimators."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import structunstruct as su
from structunstruct.metrics import concordance_index_harrell
from structunstruct.nn.fusion import ConcatFusion, FiLMFusion


def test_film_starts_as_concatenation():
    torch.manual_seed(0)
    film = FiLMFusion([3, 5], target=1, hidden_layers=(4,))
    concat = ConcatFusion([5, 3], hidden_layers=(4,))  # FiLM puts the target first
    concat.mlp.load_state_dict(film.mlp.state_dict())
    tabular, image = torch.randn(10, 3), torch.randn(10, 5)
    torch.testing.assert_close(film([tabular, image]), concat([image, tabular]))


def _fit_product(fusion: nn.Module, steps: int = 400) -> float:
    """Mean squared error of a linear head on ``fusion`` for y = image_0 * tabular_0."""
    generator = torch.Generator().manual_seed(0)
    tabular, image = torch.randn(512, 2, generator=generator), torch.randn(512, 3, generator=generator)
    y = image[:, :1] * tabular[:, :1]
    head = nn.Linear(fusion.out_dim, 1)
    optimizer = torch.optim.Adam([*fusion.parameters(), *head.parameters()], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(head(fusion([tabular, image])), y)
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def test_film_learns_an_image_by_covariate_product_that_concatenation_cannot():
    """Without hidden layers, concatenation is linear in both inputs; FiLM is bilinear."""
    torch.manual_seed(0)
    film_error = _fit_product(FiLMFusion([2, 3], target=1))
    concat_error = _fit_product(ConcatFusion([3, 2]))
    assert film_error < 0.05 < 0.8 < concat_error  # var(y) = 1


def test_film_needs_two_encodings():
    with pytest.raises(ValueError, match="at least one other"):
        FiLMFusion([4], target=0)


@pytest.fixture(scope="module")
def survival_images():
    return su.datasets.make_survival_images(n=900, random_state=3, return_risk=True)


def test_deepsurv_with_film_fusion_fits_and_ranks(survival_images):
    X, y, risk = survival_images
    model = su.DeepSurv(image="image", fusion_layer="film", max_epochs=6, random_state=0)
    model.fit(X[:600], y[:600])
    assert isinstance(model.module_.fusion, FiLMFusion)
    assert model.module_.fusion.modulation.weight.abs().sum() > 0  # the modulation trained
    c_index = concordance_index_harrell(y[600:], model.predict(X[600:]))
    assert c_index > 0.6, c_index  # tabular effects alone reach about 0.65 here
    assert np.corrcoef(model.predict(X[600:]), risk[600:])[0, 1] > 0.3


@pytest.mark.parametrize("params, message", [
    ({"fusion_layer": "film"}, "needs an image column"),
    ({"image": "image", "fusion": "early", "image_encoder": "pca", "fusion_layer": "film"},
     "fusion='joint'"),
    ({"image": "image", "tabular": [], "fusion_layer": "film"}, "modulates the image encoding"),
    ({"image": "image", "fusion_layer": "gated"}, "fusion_layer"),
])
def test_film_settings_are_checked_before_training(survival_images, params, message):
    X, y, _ = survival_images
    with pytest.raises(ValueError, match=message):
        su.DeepSurv(max_epochs=1, **params).fit(X[:100], y[:100])


def test_film_with_missing_images_predicts_every_row(survival_images):
    """Absent images enter FiLM as the learned missing embedding, modulated like any other."""
    X, y, _ = survival_images
    X = X.copy()
    X.loc[X.index[::5], "image"] = None
    model = su.DeepSurv(image="image", fusion_layer="film", missing_modalities="allow",
                        modality_dropout=0.3, max_epochs=3, random_state=0).fit(X[:600], y[:600])
    risk = model.predict(X[600:])
    assert np.isfinite(risk).all()
    without_image = X[600:].assign(image=None)
    assert np.isfinite(model.predict(without_image)).all()
    assert np.std(model.predict(without_image)) > 0  # the tabular part still ranks the rows
