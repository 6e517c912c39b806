"""Shared features run on every estimator that accepts them.

Every subclass of ``SemiStructuredEstimator`` found by
:func:`structunstruct.estimators.all_estimators` is fitted with each shared option
(joint image fusion, early fusion by PCA, bag-of-words text, missing images,
the image cache, FiLM fusion, late fusion) on tiny data (120 rows, 28x28 images,
2 epochs) and must give finite predictions of the documented shapes. A new shared
option is added to ``FEATURES``; a new estimator is picked up by the discovery.
"""

from __future__ import annotations

import numpy as np
import pytest

import structunstruct as su
from structunstruct.estimators import all_estimators
from structunstruct.estimators.base import SemiStructuredEstimator
from structunstruct.estimators.survival import SurvivalMixin

N = 120
TRAINING = {"max_epochs": 2, "batch_size": 32, "random_state": 0, "early_stopping": None}
#: Settings of an estimator's own that keep its fit tiny.
OWN = {"DeepPAMM": {"cuts": 5}, "MultiSurv": {"cuts": 5}}
#: (estimator, feature) pairs refused with a ValueError matching the message.
REFUSED = {("MultiSurv", "late"): "fusion='late' is not supported"}
#: (structured column, deep tabular column) of each kind of data.
COLUMNS = {"survival": ("age", "biomarker"), "regression": ("x1", "x2")}


def _features(structured: str, tabular: str, cache) -> dict[str, dict]:
    """Feature name -> the estimator parameters that switch it on."""
    one = {"structured": [structured]}
    return {
        "joint_image": {**one, "tabular": [tabular], "image": "image"},
        "early_pca": {"tabular": [structured, tabular], "image": "image", "fusion": "early",
                      "image_encoder": "pca"},
        "text_bow": {**one, "tabular": [], "text": "note"},
        "missing_image": {**one, "tabular": [], "image": "image", "missing_modalities": "allow"},
        "image_cache": {**one, "tabular": [], "image": "image", "image_cache": cache},
        "film": {**one, "tabular": [tabular], "image": "image", "fusion_layer": "film"},
        "late": {**one, "tabular": [], "image": "image", "fusion": "late"},
    }


FEATURES = list(_features("a", "b", None))
ESTIMATORS = [(name, cls) for name, cls in all_estimators() if issubclass(cls, SemiStructuredEstimator)]


def _notes(n: int, rng: np.random.Generator) -> list[str]:
    words = np.array(["stable disease", "rapid progression", "labs reviewed", "no complaints"])
    return [". ".join(rng.choice(words, 2)) for _ in range(n)]


@pytest.fixture(scope="module")
def frames():
    """kind -> (X with a text column and, as ``X_missing``, every fourth image removed, y)."""
    out = {}
    for kind, make in (("survival", su.datasets.make_survival_images),
                       ("regression", su.datasets.make_regression_images)):
        X, y = make(N, random_state=0)
        X = X.assign(note=_notes(N, np.random.default_rng(0)))
        missing = X.copy()
        missing.loc[missing.index[::4], "image"] = None
        out[kind] = (X, missing, y)
    return out


def test_every_semi_structured_estimator_is_covered():
    assert {name for name, _ in ESTIMATORS} >= {"DeepSurv", "DeepPAMM", "SemiStructuredRegressor"}


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("name,cls", ESTIMATORS, ids=[name for name, _ in ESTIMATORS])
def test_shared_feature_fits_and_predicts(name, cls, feature, frames, tmp_path):
    kind = "survival" if issubclass(cls, SurvivalMixin) else "regression"
    X, X_missing, y = frames[kind]
    params = _features(*COLUMNS[kind], tmp_path / "cache")[feature]
    if feature == "missing_image":
        X = X_missing
    if (name, feature) in REFUSED:
        with pytest.raises(ValueError, match=REFUSED[name, feature]):
            cls(**params, **OWN.get(name, {}), **TRAINING).fit(X, y)
        return
    model = cls(**params, **OWN.get(name, {}), **TRAINING).fit(X, y)
    rows = X.iloc[:9]
    risk = model.predict(rows)
    assert risk.shape == (9,) and np.isfinite(risk).all()
    if kind == "survival":
        surv = model.predict_survival_function(rows, times=[0.5, 1.0, 5.0])
        assert surv.shape == (3, 9) and np.isfinite(surv.to_numpy()).all()
        assert ((surv.to_numpy() > 0) & (surv.to_numpy() <= 1)).all()
    else:
        dist = model.predict_distribution(rows)
        assert dist.shape == (9, len(model.family_.parameters)) and np.isfinite(dist.to_numpy()).all()
    _check_feature_was_used(model, feature, tmp_path)


def _check_feature_was_used(model, feature: str, tmp_path) -> None:
    """The option took effect (not silently ignored)."""
    if feature == "late":
        assert model.late_ is not None and [n for n, _ in model.late_members_()] == ["tabular", "image"]
        return
    encoders = _encoders(model.module_)
    expected = {"joint_image": {"image", "tabular"}, "early_pca": {"tabular"}, "text_bow": {"text"},
                "missing_image": {"image"}, "image_cache": {"image"}, "film": {"image", "tabular"}}
    assert encoders == expected[feature], encoders
    if feature == "image_cache":
        files = [p.suffix for p in (tmp_path / "cache").iterdir()]  # the training and the predicted rows
        assert files and set(files) == {".npy"}


def _encoders(module) -> set[str]:
    """Names of the modality encoders inside an estimator's fitted network."""
    from structunstruct.nn import AdditivePredictor

    predictor = next(m for m in module.modules() if isinstance(m, AdditivePredictor))
    return set(predictor.encoders)


def test_features_name_every_shared_option_they_switch_on():
    """Each feature sets an option of the shared constructor (a renamed option fails here)."""
    from structunstruct.estimators._parameters import SHARED_DEFAULTS

    shared = set(SHARED_DEFAULTS) | {"structured", "tabular", "image", "text"}
    for feature, params in _features("a", "b", None).items():
        assert set(params) <= shared, feature
