"""Deep paths of DeepSurv: wide & deep, orthogonalization, encoders, training loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import structunstruct as su
from structunstruct.metrics import concordance_index_harrell
from structunstruct.nn import Orthogonalization, orthogonal_complement


def _simulate(rng, n=800):
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.uniform(-2, 2, n)})
    eta = 0.8 * X["x1"] - 0.5 * X["x2"] + np.sin(2 * X["x3"])
    time = rng.exponential(1 / np.exp(eta))
    censor = rng.exponential(2.0, n)
    return X, (np.minimum(time, censor), time <= censor)


def test_orthogonal_complement_is_orthogonal(rng):
    design = torch.tensor(rng.normal(size=(50, 3)))
    latent = torch.tensor(rng.normal(size=(50, 4))) + design[:, :1] * 3
    resid = orthogonal_complement(latent, design)
    x1 = torch.cat([torch.ones(50, 1, dtype=design.dtype), design], 1)
    assert torch.allclose(x1.T @ resid, torch.zeros(4, 4, dtype=design.dtype), atol=1e-10)


def test_stored_projection_matches_batch_projection_on_training_rows(rng):
    design = torch.tensor(rng.normal(size=(80, 2)), dtype=torch.float32)
    latent = torch.tensor(rng.normal(size=(80, 3)), dtype=torch.float32) + design.sum(1, keepdim=True)
    cell = Orthogonalization()
    cell.fit_projection(latent, design)
    cell.eval()
    expected = orthogonal_complement(latent.double(), design.double()).float()
    assert torch.allclose(cell(latent, design), expected, atol=1e-5)
    # one row on its own gets the same value as inside the whole set
    assert torch.allclose(cell(latent[:1], design[:1]), expected[:1], atol=1e-5)


@pytest.mark.parametrize("seed", [12345, 2])
def test_orthogonalization_keeps_structured_effects_identifiable(seed):
    """The deep net sees x1, x2 and x3. With the orthogonalization cell the structured
    coefficients of x1, x2 match the oracle Cox fit (which knows the sin(2 x3) term);
    without it the deep part absorbs the linear effects and the coefficients are off.
    Measured (seed 12345): oracle (0.81, -0.58), orthogonalized (0.78, -0.60),
    not orthogonalized (-0.42, 0.00)."""
    X, y = _simulate(np.random.default_rng(seed))
    oracle = su.DeepSurv(structured=["x1", "x2", "s"], tabular=[]).fit(
        X.assign(s=np.sin(2 * X["x3"])), y
    ).coef_[:2]
    kwargs = {"structured": ["x1", "x2"], "tabular": ["x1", "x2", "x3"], "random_state": 0,
              "max_epochs": 60}
    orth = su.DeepSurv(orthogonalize=True, **kwargs).fit(X, y)
    plain = su.DeepSurv(orthogonalize=False, **kwargs).fit(X, y)
    np.testing.assert_allclose(orth.coef_, oracle, atol=0.12)
    assert np.abs(plain.coef_ - oracle).max() > 0.3
    assert list(orth.summary_.index) == ["x1", "x2"]
    assert (orth.summary_["se"] > 0).all()


def test_deep_part_learns_nonlinear_effect(rng):
    X, y = _simulate(rng, n=1200)
    train, test = slice(0, 900), slice(900, None)
    y_test = (y[0][test], y[1][test])
    cox = su.DeepSurv(structured=["x1", "x2", "x3"], tabular=[]).fit(X[train], (y[0][train], y[1][train]))
    deep = su.DeepSurv(tabular=["x1", "x2", "x3"], random_state=0).fit(
        X[train], (y[0][train], y[1][train])
    )
    c_cox = concordance_index_harrell(y_test, cox.predict(X[test]))
    c_deep = concordance_index_harrell(y_test, deep.predict(X[test]))
    assert c_deep > c_cox + 0.02


def test_history_and_early_stopping(rng):
    X, y = _simulate(rng, n=300)
    model = su.DeepSurv(tabular=["x1", "x2", "x3"], max_epochs=200, early_stopping=3, random_state=0)
    model.fit(X, y)
    epochs = [r["epoch"] for r in model.history_]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) < 200
    assert {"train_loss", "valid_loss", "seconds"} <= set(model.history_[0])
    best = min(model.history_, key=lambda r: r["valid_loss"])
    assert model.best_epoch_ == best["epoch"]
    assert len(epochs) - model.best_epoch_ == 3


def test_verbose_shows_progress_bar(rng, capsys):
    X, y = _simulate(rng, n=100)
    su.DeepSurv(tabular=["x1"], max_epochs=2, verbose=True, random_state=0).fit(X, y)
    assert "epochs" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_images():
    return su.datasets.make_survival_images(n=240, random_state=3)


def test_timm_encoder_and_module_encoder(small_images):
    X, y = small_images
    for encoder in ("resnet10t", su.nn.SmallConvNet(in_chans=1, width=4)):
        model = su.DeepSurv(
            image="image", tabular=[], image_encoder=encoder, max_epochs=1, batch_size=64,
            random_state=0,
        ).fit(X, y)
        risk = model.predict(X)
        assert risk.shape == (len(X),) and np.isfinite(risk).all()


def test_pretrained_weights_load_from_a_local_file(small_images, tmp_path):
    import timm
    from safetensors.torch import save_file

    reference = timm.create_model("resnet10t", pretrained=False, num_classes=0, in_chans=3)
    path = tmp_path / "resnet10t.safetensors"
    save_file(reference.state_dict(), str(path))
    encoder = su.nn.create_image_encoder("resnet10t", in_chans=3, pretrained=path)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(encoder.backbone.state_dict()[name], tensor), name


def test_joint_fusion_beats_tabular_only():
    """Images carry half of the hazard: fusing them must raise the held-out C-index."""
    X, y, risk = su.datasets.make_survival_images(n=1500, random_state=11, return_risk=True)
    train, test = slice(0, 1000), slice(1000, None)
    tab = ["age", "sex", "biomarker", "noise1", "noise2"]
    tabular = su.DeepSurv(tabular=tab, random_state=0).fit(X[train], y[train])
    joint = su.DeepSurv(image="image", random_state=0, max_epochs=40).fit(X[train], y[train])
    c_tab = concordance_index_harrell(y[test], tabular.predict(X[test]))
    c_joint = concordance_index_harrell(y[test], joint.predict(X[test]))
    c_oracle = concordance_index_harrell(y[test], risk[test])
    assert c_joint > c_tab + 0.02
    # the joint model closes a good part of the gap to the true risk (measured: 0.673,
    # 0.731, oracle 0.768: 61%), and a held-out C above the oracle's would be leakage
    assert c_joint - c_tab > 0.35 * (c_oracle - c_tab)
    assert c_joint < c_oracle + 0.01
