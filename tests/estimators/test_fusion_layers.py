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


# -- the fusion-layer registry ---------------------------------------------------------------
class CountingSum(nn.Module):
    """A user fusion: per-encoding linear maps to the first width, summed; counts its calls."""

    def __init__(self, in_dims, hidden_layers=(), dropout=0.0):
        super().__init__()
        self.maps = nn.ModuleList(nn.Linear(d, in_dims[0]) for d in in_dims)
        self.out_dim = int(in_dims[0])
        self.calls = 0

    def forward(self, encodings):
        self.calls += 1
        return sum(m(e) for m, e in zip(self.maps, encodings, strict=True))


@pytest.fixture(scope="module")
def small_images():
    X, y = su.datasets.make_survival_images(n=120, random_state=0)
    return X.assign(note=["stable disease" if i % 2 else "rapid progression" for i in range(len(X))]), y


TINY = {"image_size": 14, "max_epochs": 1, "batch_size": 32, "random_state": 0, "early_stopping": None}


def test_a_user_fusion_class_trains_in_deepsurv_and_is_used(small_images):
    X, y = small_images
    model = su.DeepSurv(tabular=["age", "biomarker"], image="image", fusion_layer=CountingSum, **TINY)
    initial = CountingSum([32, 64]).maps[0].weight.detach().clone()  # another draw: only the shape matters
    model.fit(X, y)
    fusion = model.module_.fusion
    assert isinstance(fusion, CountingSum) and fusion.calls > 0
    own = {id(p) for p in fusion.parameters()}
    assert own and own <= {id(p) for p in model.module_.parameters()}
    assert fusion.maps[0].weight.shape == initial.shape
    calls = fusion.calls
    assert np.isfinite(model.predict(X.iloc[:5])).all() and fusion.calls > calls


@pytest.mark.parametrize("layer", su.nn.list_fusion_layers())
def test_every_registered_fusion_layer_trains(layer, small_images):
    X, y = small_images
    model = su.DeepSurv(tabular=["age", "biomarker"], image="image", text="note", fusion_layer=layer, **TINY)
    model.fit(X, y)
    assert isinstance(model.module_.fusion, type(su.nn.create_fusion_layer(layer, [32, 64, 16], names=[
        "tabular", "image", "text"])))
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("name", ["attention", "max", "sum", "mean"])
def test_modality_fusions_project_to_a_common_width(name):
    from structunstruct.nn.fusion import ModalityFusionLayer
    from structunstruct.nn.multimodal import create_modality_fusion

    torch.manual_seed(0)
    layer = su.nn.create_fusion_layer(name, [3, 5, 2], hidden_layers=())
    assert isinstance(layer, ModalityFusionLayer) and layer.out_dim == 5
    encodings = [torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 2)]
    projected = torch.stack([p(e) for p, e in zip(layer.projections, encodings, strict=True)])
    reference = create_modality_fusion(name, 5)
    reference.load_state_dict(layer.fusion.state_dict())
    torch.testing.assert_close(layer(encodings), reference(projected))
    if name == "sum":  # the known answer of the sum
        torch.testing.assert_close(layer(encodings), projected.sum(dim=0))


def test_register_fusion_layer_with_a_builder_and_a_class():
    from structunstruct.nn.fusion import FUSION_LAYERS, ConcatFusion

    seen = {}

    def builder(in_dims, hidden_layers=(), dropout=0.0, names=()):
        seen["names"] = names
        return ConcatFusion(in_dims, hidden_layers, dropout)

    try:
        su.nn.register_fusion_layer("my_concat", builder)
        su.nn.register_fusion_layer("my_sum", CountingSum)
        assert {"my_concat", "my_sum"} <= set(su.nn.list_fusion_layers())
        assert su.nn.create_fusion_layer("my_concat", [2, 3], names=["tabular", "image"]).out_dim == 5
        assert seen["names"] == ["tabular", "image"]
        assert isinstance(su.nn.create_fusion_layer("my_sum", [2, 3]), CountingSum)
    finally:
        FUSION_LAYERS.pop("my_concat", None)
        FUSION_LAYERS.pop("my_sum", None)
    with pytest.raises(TypeError, match="nn.Module"):
        su.nn.register_fusion_layer("bad", int)
    try:
        su.nn.register_fusion_layer("no_width", lambda in_dims, **kw: nn.Identity())
        with pytest.raises(TypeError, match="out_dim"):
            su.nn.create_fusion_layer("no_width", [2])
    finally:
        FUSION_LAYERS.pop("no_width", None)


@pytest.mark.parametrize("value, error, message", [
    ("gated", ValueError, r"unknown fusion_layer 'gated'; known: \['attention', 'concat', 'film'"),
    (dict, TypeError, "nn.Module subclass"),
])
def test_bad_fusion_layers_are_refused_before_training(value, error, message, small_images):
    X, y = small_images
    with pytest.raises(error, match=message):
        su.DeepSurv(image="image", fusion_layer=value, **TINY).fit(X, y)


def test_registered_fusion_saves_and_a_user_class_does_not(small_images, tmp_path):
    X, y = small_images
    model = su.DeepSurv(tabular=["age"], image="image", fusion_layer="attention", **TINY).fit(X, y)
    loaded = su.load(model.save(tmp_path / "attention"))
    assert loaded.fusion_layer == "attention"
    np.testing.assert_array_equal(loaded.predict(X.iloc[:7]), model.predict(X.iloc[:7]))
    user = su.DeepSurv(tabular=["age"], image="image", fusion_layer=CountingSum, **TINY).fit(X, y)
    with pytest.raises(TypeError, match="cannot save fusion_layer.*CountingSum.*not a class or function"):
        user.save(tmp_path / "user")
