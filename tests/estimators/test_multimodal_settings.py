"""The chapter's multimodal settings on the estimators: transform, similarity_loss, pretraining."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import load_in_fresh_process, predictions

import structunstruct as su
from structunstruct.estimators import base
from structunstruct.estimators.base import as_tensors
from structunstruct.heads.cox.loss import cox_ph_loss
from structunstruct.nn.multimodal import similarity_loss

FAST = {"max_epochs": 2, "pretraining_epochs": 2, "random_state": 0, "batch_size": 32}
PRETRAININGS = ["correlation", "autoencoder", "cross_autoencoder", "contrastive"]


def _data():
    X, y = su.datasets.make_survival_multimodal(150, random_state=0)
    X.index = X.index + 1000  # transform keeps the index, not a range
    return X, y


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    model = su.DeepSurv(structured=["age"], image=["image_a", "image_b"], text="note", **FAST)
    return model.fit(X, y)


def _inputs(model, X):
    return as_tensors(model.inputs_.transform(X))


# -- transform -------------------------------------------------------------------------
def test_transform_columns_index_and_widths(fitted, data):
    X, _ = data
    emb = fitted.transform(X.iloc[:20])
    assert emb.index.equals(X.index[:20])
    widths = {name: enc.out_dim for name, enc in fitted.module_.encoders.items()}
    assert list(widths) == ["tabular", "image:image_a", "image:image_b", "text"]
    widths["fused"] = fitted.module_.fusion.out_dim
    expected = [f"{name}_{j}" for name, w in widths.items() for j in range(w)]
    assert emb.columns.tolist() == expected
    assert np.isfinite(emb.to_numpy()).all()


def test_transform_equals_the_encoders_applied_by_hand(fitted, data):
    X, _ = data
    rows = X.iloc[:30]
    emb = fitted.transform(rows)
    batch = _inputs(fitted, rows)
    module = fitted.module_.eval()
    with torch.no_grad():
        for name, encoder in module.encoders.items():
            by_hand = encoder(*(batch[k] for k in encoder.input_keys)).numpy()
            got = emb[[f"{name}_{j}" for j in range(encoder.out_dim)]].to_numpy()
            np.testing.assert_allclose(got, by_hand, rtol=1e-5, atol=1e-6)
        fused = module.latent(batch).numpy()
    np.testing.assert_allclose(emb.filter(regex="^fused_").to_numpy(), fused, rtol=1e-5, atol=1e-6)
    # the deep part of the risk is the last linear layer on the fused features
    # (through the cell's projection when orthogonalized: not here, tabular has age)
    if module.orthogonalization is None:
        deep = fused @ module.deep_head.weight.detach().numpy().T
        outputs = fitted._outputs(fitted.module_, fitted.inputs_.transform(rows))
        np.testing.assert_allclose(outputs["deep"], deep, rtol=1e-4, atol=1e-5)


def test_transform_is_deterministic_and_row_wise(fitted, data):
    X, _ = data
    whole = fitted.transform(X.iloc[:40])
    np.testing.assert_array_equal(whole.to_numpy(), fitted.transform(X.iloc[:40]).to_numpy())
    part = fitted.transform(X.iloc[10:15])
    np.testing.assert_allclose(part.to_numpy(), whole.iloc[10:15].to_numpy(), rtol=1e-5, atol=1e-6)


def test_transform_of_pamm_and_regression_is_the_location_network(data):
    X, y = data
    X = X.drop(columns=["image_b"])
    for model, target in [(su.DeepPAMM(structured=["age"], image="image_a", text="note", cuts=5, **FAST), y),
                          (su.SemiStructuredRegressor(structured=["age"], image="image_a", text="note", **FAST),
                           np.log(y["time"]))]:
        model.fit(X, target)
        emb = model.transform(X.iloc[:10])
        predictor = next(m for m in model.module_.modules() if isinstance(m, su.nn.AdditivePredictor))
        with torch.no_grad():
            fused = predictor.eval().latent(_inputs(model, X.iloc[:10])).numpy()
        np.testing.assert_allclose(emb.filter(regex="^fused_").to_numpy(), fused, rtol=1e-5, atol=1e-6)
        assert [c for c in emb.columns if c.endswith("_0")] == ["tabular_0", "image_0", "text_0", "fused_0"]


def test_transform_refuses_a_classical_model_and_late_fusion(data):
    X, y = data
    classical = su.DeepSurv(structured=["age", "biomarker"], tabular=[]).fit(X, y)
    with pytest.raises(ValueError, match="deep part; this model has none"):
        classical.transform(X)
    X = X.drop(columns=["image_b", "note"])
    late = su.DeepSurv(structured=["age"], tabular=[], image="image_a", fusion="late", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="fusion='late'.*late_members_"):
        late.transform(X)


# -- similarity loss (Cheerla & Gevaert 2019) ----------------------------------------------
class _Recorder(base.Trainer):
    """The Trainer, keeping the loss function it was given."""

    loss_functions: list = []

    def __init__(self, module, loss_fn, *args, **kwargs):
        _Recorder.loss_functions.append(loss_fn)
        super().__init__(module, loss_fn, *args, **kwargs)


def test_similarity_term_is_the_loss_of_the_projected_encodings(data, monkeypatch):
    X, y = data
    monkeypatch.setattr(base, "Trainer", _Recorder)
    _Recorder.loss_functions = []
    weight = 0.7
    X = X.copy()
    X.loc[X.index[[3, 8, 20, 33]], "image_b"] = None  # absent: left out of the similarity terms
    model = su.DeepSurv(image=["image_a", "image_b"], text="note", similarity_loss=weight,
                        modality_dropout=0.2, missing_modalities="allow", **FAST).fit(X, y)
    (loss_fn,) = _Recorder.loss_functions
    module = model.module_.eval()
    rows = X.iloc[:40]
    batch = _inputs(model, rows)
    batch["time"] = torch.as_tensor(np.ascontiguousarray(y["time"][:40]), dtype=torch.float32)
    batch["event"] = torch.as_tensor(np.ascontiguousarray(y["event"][:40]), dtype=torch.float32)
    with torch.no_grad():
        outputs = module(batch)
        added = loss_fn(outputs, batch) - cox_ph_loss(outputs["eta"], batch["time"], batch["event"], "efron")
        # widths differ (tabular 32, images 64, text 32): each projected to the smallest
        assert module.embeddings.out_dim == 32 and module.embeddings.projections is not None
        by_hand = [module.embeddings.projections[name](enc(*(batch[k] for k in enc.input_keys)))
                   for name, enc in module.encoders.items()]
        present = torch.ones(40, 4, dtype=torch.bool)
        present[[3, 8, 20, 33], 2] = False
        expected = weight * similarity_loss(by_hand, present)
        assert not torch.isclose(expected, weight * similarity_loss(by_hand))
    assert float(expected) > 0.01  # a term that matters
    np.testing.assert_allclose(float(added), float(expected), rtol=1e-4)
    assert np.isfinite(model.predict(rows)).all()


def test_similarity_weight_zero_leaves_the_fit_unchanged(data):
    X, y = data
    X = X.drop(columns="image_b")
    settings = {"image": "image_a", "text": "note", "tabular": ["age", "biomarker"], **FAST}
    default = su.DeepSurv(**settings).fit(X, y)
    zero = su.DeepSurv(similarity_loss=0.0, **settings).fit(X, y)
    assert zero.module_.embeddings is None
    assert list(zero.module_.state_dict()) == list(default.module_.state_dict())
    np.testing.assert_array_equal(zero.predict(X), default.predict(X))
    weighted = su.DeepSurv(similarity_loss=1.0, **settings).fit(X, y)
    assert not np.allclose(weighted.predict(X), default.predict(X))


def test_similarity_loss_needs_two_modalities(data):
    X, y = data
    with pytest.raises(ValueError, match="similarity_loss compares .* at least two modalities"):
        su.DeepSurv(tabular=["age", "biomarker"], similarity_loss=1.0, **FAST).fit(X[["age", "biomarker"]], y)
    with pytest.raises(ValueError, match="similarity_loss .* fusion='late'"):
        su.DeepSurv(image="image_a", fusion="late", similarity_loss=1.0, **FAST).fit(X, y)


# -- pretraining -----------------------------------------------------------------------------
@pytest.mark.parametrize("setting", PRETRAININGS)
def test_each_pretraining_trains_and_predicts(data, setting):
    X, y = data
    X = X.drop(columns="image_b")
    model = su.DeepSurv(structured=["age"], image="image_a", text="note", pretraining=setting, **FAST).fit(X, y)
    assert len(model.pretraining_history_) == 2 and np.isfinite(model.pretraining_history_).all()
    risk = model.predict(X)
    assert np.isfinite(risk).all() and np.std(risk) > 0
    plain = su.DeepSurv(structured=["age"], image="image_a", text="note", **FAST).fit(X, y)
    assert plain.pretraining_history_ == []
    assert not np.allclose(plain.predict(X), risk)  # the pretrained start changed the fit


@pytest.mark.parametrize("setting", PRETRAININGS)
def test_pretraining_objective_improves(data, setting):
    X, y = data
    model = su.DeepSurv(image=["image_a", "image_b"], text="note", pretraining=setting,
                        **{**FAST, "pretraining_epochs": 5, "max_epochs": 1}).fit(X, y)
    history = np.asarray(model.pretraining_history_)
    assert len(history) == 5
    assert history[-1] < history[0] - 0.02 * abs(history[0]) - 0.01, history
    if setting == "correlation":  # -(sum of correlations) over 32 dims, averaged over pairs
        assert history[-1] < -1.0
    if setting == "contrastive":  # InfoNCE of unrelated embeddings is about log(batch size)
        assert history[0] == pytest.approx(np.log(32), abs=0.5)


def test_pretraining_is_deterministic(data):
    X, y = data
    X = X.drop(columns="image_b")
    settings = {"image": "image_a", "text": "note", "pretraining": "cross_autoencoder", **FAST}
    a = su.DeepSurv(**settings).fit(X, y)
    b = su.DeepSurv(**settings).fit(X, y)
    assert a.pretraining_history_ == b.pretraining_history_
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_pretraining_errors_name_the_setting(data):
    X, y = data
    tabular = X[["age", "biomarker", "noise1"]]
    with pytest.raises(ValueError, match="pretraining='correlation' needs at least two modality encoders"):
        su.DeepSurv(pretraining="correlation", **FAST).fit(tabular, y)
    with pytest.raises(ValueError, match="pretraining='contrastive' needs an image encoder and a text encoder"):
        su.DeepSurv(image="image_a", pretraining="contrastive", **FAST).fit(X.drop(columns=["image_b", "note"]), y)
    with pytest.raises(ValueError, match="pretraining must be None or one of"):
        su.DeepSurv(pretraining="simclr", **FAST).fit(tabular, y)
    with pytest.raises(ValueError, match="pretraining .* fusion='late'"):
        su.DeepSurv(image="image_a", fusion="late", pretraining="autoencoder", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="needs modality encoders"):
        su.DeepSurv(structured=["age"], tabular=[], pretraining="autoencoder", **FAST).fit(tabular, y)


def _saved_cases() -> dict:
    X, y = _data()
    X = X.drop(columns="image_b")
    return {
        "cox_pretrained": (su.DeepSurv(structured=["age"], image="image_a", text="note", pretraining="contrastive",
                                       similarity_loss=0.5, **FAST), X, y),
        "regression_pretrained": (su.SemiStructuredRegressor(structured=["age"], image="image_a", text="note",
                                                             pretraining="correlation", similarity_loss=0.5, **FAST),
                                  X, np.log(y["time"])),
    }


def test_pretrained_models_load_in_a_fresh_process(tmp_path):
    expected, saved = {}, {}
    for name, (model, X, y) in _saved_cases().items():
        model.fit(X, y)
        expected[name] = predictions(model, X.iloc[:10])
        saved[name] = model.save(tmp_path / name)
    loaded = load_in_fresh_process("estimators.test_multimodal_settings:_saved_cases", saved, 10, tmp_path)
    for name, values in expected.items():
        for key, value in values.items():
            np.testing.assert_allclose(loaded[name][key], value, rtol=1e-6, atol=1e-9, err_msg=f"{name} {key}")


def test_clip_pretrained_backbone_as_frozen_early_fusion_features(data):
    """CLIP as frozen features: the contrastively pretrained image backbone given as the
    image_encoder of fusion="early" extracts the features once and is not trained."""
    X, y = data
    X = X.drop(columns="image_b")
    clip = su.DeepSurv(image="image_a", text="note", pretraining="contrastive", **FAST).fit(X, y)
    backbone = clip.module_.encoders["image"].encoder
    weights = {k: v.clone() for k, v in backbone.state_dict().items()}
    early = su.DeepSurv(image="image_a", text="note", fusion="early", image_encoder=backbone, **FAST).fit(X, y)
    frozen = early.inputs_.image_inputs_["image_a"].image_features_.module_
    assert any(module is backbone for module in frozen.modules())  # wrapped, not copied
    assert all(torch.equal(weights[k], v) for k, v in backbone.state_dict().items())
    assert "image" not in early.module_.encoders and np.isfinite(early.predict(X)).all()


def test_a_registered_pretraining_runs_in_the_fit_template(data):
    X, y = data
    X = X.drop(columns=["image_b"])
    from structunstruct.estimators import PretrainingTask, list_pretrainings, register_pretraining
    from structunstruct.estimators._pretraining import PRETRAININGS

    seen = {}

    def record(task: PretrainingTask) -> list[float]:
        seen.update(encoders=list(task.encoders), rows=len(task.tensors["structured"]), epochs=task.epochs)
        return [0.0] * task.epochs

    register_pretraining("record_test", record)
    try:
        assert "record_test" in list_pretrainings()
        with pytest.raises(ValueError, match="already registered"):
            register_pretraining("record_test", record)
        model = su.DeepSurv(image="image_a", text="note", pretraining="record_test", **FAST).fit(X, y)
    finally:
        PRETRAININGS.pop("record_test")
    assert seen == {"encoders": ["tabular", "image", "text"], "rows": 150, "epochs": 2}
    assert model.pretraining_history_ == [0.0, 0.0]
