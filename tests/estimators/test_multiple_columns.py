"""Several image and text columns: one modality (arrays, encoder) per column, shared backbones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import structunstruct as su
from structunstruct.nn import SmallConvNet

FAST = {"max_epochs": 2, "batch_size": 32, "random_state": 0}
WORDS = np.array(["stable disease", "rapid progression", "labs reviewed", "no complaints", "good status"])
KEYS = ["image:ct", "image:xray", "text:note", "text:report"]


@pytest.fixture(scope="module")
def data():
    """150 rows: two 28x28 image columns (the second the inverted first), two text columns."""
    X, y = su.datasets.make_survival_images(n=150, random_state=0)
    rng = np.random.default_rng(0)
    X = X.rename(columns={"image": "ct"})
    X = X.assign(
        xray=[np.ascontiguousarray(255 - im[::-1]) for im in X["ct"]],
        note=[". ".join(rng.choice(WORDS, 2)) for _ in range(150)],
        report=[" ".join(rng.choice(WORDS, 3)) for _ in range(150)],
    )
    return X, y


def _model(kind: str, **params):
    common = {"structured": ["age"], "tabular": ["biomarker"], **FAST, **params}
    if kind == "DeepSurv":
        return su.DeepSurv(**common)
    if kind == "DeepPAMM":
        return su.DeepPAMM(cuts=5, **common)
    return su.SemiStructuredRegressor(**common)


def _target(kind: str, y):
    return np.log(y["time"]) if kind == "SemiStructuredRegressor" else y


def _predictor(model) -> torch.nn.Module:
    """The additive predictor holding the encoders (the regressor's location predictor)."""
    module = model.module_
    return getattr(module, "location", None) or getattr(module, "predictor", None) or module


@pytest.mark.parametrize("kind", ["DeepSurv", "DeepPAMM", "SemiStructuredRegressor"])
def test_two_image_and_two_text_columns_in_every_estimator(data, kind):
    X, y = data
    model = _model(kind, image=["ct", "xray"], text=["note", "report"]).fit(X, _target(kind, y))
    encoders = _predictor(model).encoders
    assert list(encoders) == ["tabular", *KEYS]
    assert encoders["image:ct"].encoder is not encoders["image:xray"].encoder  # own backbones by default
    arrays = model.inputs_.transform(X.iloc[:7])
    assert arrays["image:ct"].shape == arrays["image:xray"].shape == (7, 1, 28, 28)
    assert arrays["text:note"].shape[0] == arrays["text:report"].shape[0] == 7
    # per-column standardization: the inverted column has the mirrored mean, the same std
    ct, xray = model.inputs_.image_inputs_["ct"].images_, model.inputs_.image_inputs_["xray"].images_
    np.testing.assert_allclose(ct.mean_ + xray.mean_, [1.0], rtol=1e-5)
    np.testing.assert_allclose(ct.std_, xray.std_, rtol=1e-4)
    pixels = np.stack(X["xray"].to_numpy()).astype(np.float64) / 255
    np.testing.assert_allclose(xray.mean_, [pixels.mean()], rtol=1e-5)
    # each text column has its own vocabulary: upper/lower case is one word, both columns share words
    assert set(model.inputs_.text_inputs_["note"].text_.vocabulary_) <= set(" ".join(WORDS).split())
    assert np.isfinite(model.predict(X.iloc[:7])).all()


def _backbone_size(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_shared_backbone_is_one_tensor_and_one_backbone_fewer(data, tmp_path):
    X, y = data
    own = su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"], **FAST).fit(X, y)
    shared = su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"], share_encoders=True,
                         **FAST).fit(X, y)
    a, b = shared.module_.encoders["image:ct"].encoder, shared.module_.encoders["image:xray"].encoder
    assert a is b
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert p is q and p.data_ptr() == q.data_ptr(), name
    backbone = _backbone_size(own.module_.encoders["image:ct"].encoder)
    assert backbone > 0
    assert _backbone_size(own.module_) - _backbone_size(shared.module_) == backbone
    # each column keeps its own standardization around the shared backbone
    assert not torch.equal(shared.module_.encoders["image:ct"].mean, shared.module_.encoders["image:xray"].mean)
    # save/load: the state dict names the backbone under both columns, loading ties it again
    state = shared.module_.state_dict()
    key = next(k for k in state if k.startswith("encoders.image:ct.encoder."))
    assert torch.equal(state[key], state[key.replace("image:ct", "image:xray")])
    again = su.load(shared.save(tmp_path / "shared"))
    loaded = again.module_.encoders
    assert loaded["image:ct"].encoder is loaded["image:xray"].encoder
    np.testing.assert_array_equal(again.predict(X.iloc[:9]), shared.predict(X.iloc[:9]))


def test_shared_text_encoder_has_one_vocabulary(data):
    X, y = data
    model = su.DeepSurv(structured=["age"], tabular=[], text=["note", "report"], share_encoders=True,
                        **FAST).fit(X, y)
    note, report = model.module_.encoders["text:note"], model.module_.encoders["text:report"]
    assert note.encoder is report.encoder
    assert note.encoder.embedding.weight is report.encoder.embedding.weight
    texts = model.inputs_.text_inputs_
    assert texts["note"].text_.vocabulary_ == texts["report"].text_.vocabulary_
    # one vocabulary, learned on the words of both columns
    words = set(" ".join([*X["note"], *X["report"]]).lower().replace(".", "").split())
    assert set(texts["note"].text_.vocabulary_) == words
    own = su.DeepSurv(structured=["age"], tabular=[], text=["note", "report"], **FAST).fit(X, y)
    table = own.module_.encoders["text:note"].embedding.weight.numel()
    mlp = sum(p.numel() for p in own.module_.encoders["text:note"].mlp.parameters())
    assert sum(p.numel() for p in own.module_.parameters()) - sum(
        p.numel() for p in model.module_.parameters()) == table + mlp


def test_same_module_for_two_columns_is_one_backbone(data):
    X, y = data
    net = SmallConvNet(in_chans=1)
    model = su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"],
                        image_encoder={"ct": net, "xray": net}, **FAST).fit(X, y)
    encoders = model.module_.encoders
    assert encoders["image:ct"].encoder.backbone is net is encoders["image:xray"].encoder.backbone
    other = su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"],
                        image_encoder={"ct": SmallConvNet(in_chans=1), "xray": SmallConvNet(in_chans=1)},
                        **FAST).fit(X, y)
    assert other.module_.encoders["image:ct"].encoder is not other.module_.encoders["image:xray"].encoder


def test_encoder_and_weights_per_column(data, tmp_path):
    """A mapping gives one column a pretrained timm encoder; the other keeps the default."""
    from safetensors.torch import load_file, save_file

    from structunstruct.nn import create_image_encoder

    X, y = data
    checkpoint = tmp_path / "resnet18.safetensors"
    backbone = create_image_encoder("resnet18", 1, False).backbone
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(checkpoint))
    model = su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"], image_encoder={"xray": "resnet18"},
                        pretrained={"xray": str(checkpoint)}, lr=1e-12, max_epochs=1, random_state=0).fit(X, y)
    encoders = model.module_.encoders
    assert isinstance(encoders["image:ct"].encoder.backbone, SmallConvNet)
    saved = load_file(str(checkpoint))["conv1.weight"]
    torch.testing.assert_close(encoders["image:xray"].encoder.backbone.conv1.weight.detach(), saved,
                               atol=1e-8, rtol=0)  # the checkpoint's weights (lr ~ 0)
    # the pretrained column is standardized as ImageNet weights expect, the other by its data
    xray, ct = model.inputs_.image_inputs_["xray"].images_, model.inputs_.image_inputs_["ct"].images_
    np.testing.assert_allclose(xray.mean_, [np.mean((0.485, 0.456, 0.406))], rtol=1e-6)
    assert ct.mean_[0] < 0.3


def test_missing_value_in_one_column_only(data):
    X, y = data
    X = X.copy()
    X.loc[X.index[::6], "xray"] = None
    with pytest.raises(ValueError, match="image column 'xray' has 25 missing images"):
        su.DeepSurv(image=["ct", "xray"], tabular=[], **FAST).fit(X, y)
    model = su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"], text=["note", "report"],
                        missing_modalities="allow", **FAST).fit(X, y)
    arrays = model.inputs_.transform(X)
    present = X["xray"].notna().to_numpy()
    np.testing.assert_array_equal(arrays["image:xray_present"], present)
    assert arrays["image:ct_present"].all() and arrays["text:note_present"].all()
    assert (arrays["image:xray"][~present] == 0).all() and (arrays["image:ct"][~present] != 0).any()
    pixels = np.stack(X["xray"][present].to_numpy()).astype(np.float64) / 255
    np.testing.assert_allclose(model.inputs_.image_inputs_["xray"].images_.mean_, [pixels.mean()], rtol=1e-5)
    # a row without an x-ray: its prediction does not depend on anything but the CT and the rest
    row = X.iloc[[0]]
    assert np.isfinite(model.predict(row)).all()
    assert list(model.module_.missing.embeddings) == KEYS


def test_modality_dropout_drops_each_column_independently(data):
    X, y = data
    model = su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"], modality_dropout=0.5,
                        **FAST).fit(X, y)
    missing = model.module_.missing.train()
    n = 4000
    torch.manual_seed(0)
    keep = missing.keep_masks({}, n, torch.device("cpu"))
    ct, xray = keep["image:ct"].float(), keep["image:xray"].float()
    assert abs(ct.mean() - 0.5) < 0.03 and abs(xray.mean() - 0.5) < 0.03
    assert abs((1 - ct) @ (1 - xray) / n - 0.25) < 0.03  # both dropped: p**2, not p


def test_per_column_image_size_and_early_fusion(data):
    X, y = data
    model = su.DeepSurv(tabular=["age"], image=["ct", "xray"], image_size={"xray": 12}, **FAST).fit(X, y)
    arrays = model.inputs_.transform(X.iloc[:4])
    assert arrays["image:ct"].shape == (4, 1, 28, 28) and arrays["image:xray"].shape == (4, 1, 12, 12)
    noise = np.random.default_rng(1).integers(0, 256, (len(X), 28, 28), dtype=np.uint8)
    X = X.assign(xray=list(noise))  # another spectrum than the CT's
    early = su.DeepSurv(tabular=["age"], image=["ct", "xray"], fusion="early", image_encoder="pca",
                        **FAST).fit(X, y)
    inputs = early.inputs_.image_inputs_
    assert early.inputs_.n_numeric == 1 + 32 + 32
    numeric = early.inputs_.transform(X)["numeric"]
    # each block: the column's own principal components, standardized (mean 0, std 1 in training)
    for block, column in ((slice(1, 33), "ct"), (slice(33, 65), "xray")):
        np.testing.assert_allclose(numeric[:, block].mean(axis=0), 0, atol=1e-4)
        pixels = np.stack(X[column].to_numpy()).reshape(len(X), -1).astype(np.float64) / 255
        centered = pixels - pixels.mean(axis=0)
        share = np.linalg.svd(centered, compute_uv=False)[:32] ** 2 / len(X)
        raw = numeric[:, block] * inputs[column].feature_std_ + inputs[column].feature_mean_
        np.testing.assert_allclose(raw.var(axis=0) * inputs[column].images_.std_[0] ** 2, share, rtol=1e-3)


def test_single_column_list_is_the_single_string(data):
    X, y = data
    X = X.drop(columns=["xray", "report"])
    one = su.DeepSurv(structured=["age"], image="ct", text="note", **FAST).fit(X, y)
    listed = su.DeepSurv(structured=["age"], image=["ct"], text=["note"], **FAST).fit(X, y)
    assert list(one.module_.encoders) == list(listed.module_.encoders) == ["tabular", "image", "text"]
    assert set(one.inputs_.transform(X.iloc[:3])) >= {"image", "text"}
    np.testing.assert_array_equal(one.predict(X), listed.predict(X))


def test_late_fusion_has_one_member_per_column(data):
    X, y = data
    model = su.DeepSurv(structured=["age"], image=["ct", "xray"], text=["note", "report"], fusion="late",
                        **FAST).fit(X, y)
    assert [name for name, _ in model.late_.estimators_] == ["tabular", *KEYS]
    member = dict(model.late_.estimators_)["image:xray"]
    assert member.image == "xray" and list(member.module_.encoders) == ["image"]


@pytest.mark.parametrize("params, message", [
    ({"image": ["ct", "xray"], "image_encoder": {"ct": "smallcnn", "mri": "smallcnn"}},
     r"image_encoder names column\(s\) \['mri'\]"),
    ({"image": ["ct", "xray"], "pretrained": {"pet": False}}, r"pretrained names column\(s\) \['pet'\]"),
    ({"image": ["ct", "xray"], "image_size": {"mri": 12}}, r"image_size names column\(s\) \['mri'\]"),
    ({"image": ["ct", "xray"], "share_encoders": True, "image_encoder": {"xray": "resnet18"}},
     "share_encoders=True runs one backbone"),
    ({"image": ["ct", "xray"], "fusion_layer": "film"}, "exactly one"),
    ({"image": ["ct", "ct"]}, "lists a column twice"),
    ({"image": ["ct", "note"], "text": ["note"]}, "column 'note' cannot be both an image and a text column"),
    ({"image": ["ct", "mri"]}, r"image column\(s\) \['mri'\] not found"),
])
def test_bad_column_settings_name_the_column(data, params, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        su.DeepSurv(structured=["age"], tabular=[], **FAST, **params).fit(X, y)


def test_non_image_value_in_second_column_is_named(data):
    X, y = data
    X = X.copy()
    X["xray"] = X["xray"].astype(object)
    X.at[X.index[3], "xray"] = 7.5
    with pytest.raises(ValueError, match=r"image column 'xray' at index 3: expected an \(H, W\)"):
        su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"], **FAST).fit(X, y)


def test_undeclared_image_column_is_named(data):
    X, y = data
    with pytest.raises(ValueError, match="tabular column 'xray' holds ndarray values"):
        su.DeepSurv(structured=["age"], image="ct", text=["note", "report"], **FAST).fit(X, y)


def test_text_in_image_list_fails_on_that_column(data):
    X, y = data
    with pytest.raises(ValueError, match="image column 'note'"):
        su.DeepSurv(structured=["age"], tabular=[], image=["ct", "note"], **FAST).fit(X, y)


def test_frame_is_not_modified(data):
    X, y = data
    X = X.copy()
    X.loc[X.index[::7], "note"] = None
    before = X.copy()
    su.DeepSurv(structured=["age"], tabular=[], image=["ct", "xray"], text=["note", "report"],
                missing_modalities="allow", **FAST).fit(X, y)
    pd.testing.assert_frame_equal(X[["age", "note", "report"]], before[["age", "note", "report"]])
    assert all(a is b for a, b in zip(X["xray"], before["xray"]))
