"""save → load in a fresh process with pickle disabled gives the same predictions."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import load_in_fresh_process, predictions

import structunstruct as su
from structunstruct import persistence

FAST = {"max_epochs": 2, "batch_size": 32, "random_state": 0}
ROWS = 12  # rows predicted and compared per model


def _notes(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, tuple]:
    words = np.array(["stable disease", "rapid progression", "labs reviewed", "no complaints"])
    notes = [". ".join(rng.choice(words, 2)) for _ in range(n)]
    age = rng.normal(60, 10, n)
    time = rng.exponential(10, n)
    return pd.DataFrame({"age": age, "note": notes}), (time, rng.random(n) < 0.7)


def _regression_data(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(-2, 2, n),
                      "g": pd.Categorical(rng.choice(["a", "b", "c"], n))})
    y = 1 + X["x1"] + np.sin(X["x2"]) + rng.normal(size=n) * np.exp(0.3 * X["x1"])
    return X, y.to_numpy()


def _resnet_checkpoint(directory: Path) -> str:
    """A local resnet18 checkpoint (random weights, safetensors) for the frozen early-fusion encoder."""
    from safetensors.torch import save_file

    from structunstruct.nn import create_image_encoder

    file = directory / "resnet18.safetensors"
    backbone = create_image_encoder("resnet18", 1, False).backbone
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(file))
    return str(file)


def _cases(gbsg2, checkpoint: str = "unused") -> dict:
    """name -> (unfitted estimator, X, y): the configurations of the common tests.

    ``checkpoint``: weights of the frozen encoder of early fusion (the loading process
    only needs the data, the saved model holds the weights).
    """
    X, y = gbsg2
    X, y = X.iloc[:160].copy(), y[:160]
    Xi, yi = su.datasets.make_survival_images(n=80, random_state=0)
    Xm = Xi.copy()
    Xm.loc[Xm.index[::4], "image"] = None
    Xt, yt = _notes(80, np.random.default_rng(0))
    Xr, yr = _regression_data(120, np.random.default_rng(1))
    image = {"image": "image", "image_size": 16, **FAST}
    X2 = Xi.assign(xray=[np.ascontiguousarray(im[::-1]) for im in Xi["image"]])
    X2m = X2.copy()
    X2m.loc[X2m.index[::5], "xray"] = None  # missing in the second image column only
    X2t = Xt.assign(report=Xt["note"].str.upper().to_numpy()[::-1])
    X2tm = X2t.copy()
    X2tm.loc[X2tm.index[::7], "report"] = None
    return {
        "cox": (su.DeepSurv(structured=["age", "pnodes", "horTh"], tabular=[]), X, y),
        "deepsurv": (su.DeepSurv(tabular=["age", "pnodes", "horTh", "tgrade"], **FAST), X, y),
        "wide_deep_orth": (su.DeepSurv(structured=["age", "pnodes"], orthogonalize=True, **FAST), X, y),
        "joint_image": (su.DeepSurv(structured=["age", "sex"], tabular=["biomarker"], **image), Xi, yi),
        "early_pca": (su.DeepSurv(tabular=["age"], fusion="early", image_encoder="pca", **image), Xi, yi),
        "early_frozen_resnet": (su.DeepSurv(tabular=["age"], fusion="early", image_encoder="resnet18",
                                         pretrained=checkpoint, **image),
                             Xi, yi),
        "missing_images": (su.DeepSurv(structured=["age"], missing_modalities="allow", tabular=[],
                                       modality_dropout=0.2, **image), Xm, yi),
        "text_bow": (su.DeepSurv(structured=["age"], tabular=[], text="note", **FAST), Xt, yt),
        "pamm_spline": (su.DeepPAMM(structured=["age", "horTh"], tabular=[], cuts=6, baseline="spline",
                                    time_varying=["age"]), X, y),
        "deep_pamm_random": (su.DeepPAMM(structured=["age"], tabular=["pnodes", "tgrade"], cuts=6,
                                         random_effects="menostat", **FAST), X, y),
        "regression_scale_orth": (su.SemiStructuredRegressor(
            structured="x1 + s(x2, df=4) + g", tabular=["x2"], scale="x1", orthogonalize=True, **FAST), Xr, yr),
        "regression_formula": (su.SemiStructuredRegressor(
            structured="C(g) + x1:x2 + np.log(x2 + 3) + s(x1, df=3) + scale(x2)", tabular=["x1"], **FAST),
            Xr, yr),
        "pamm_formula": (su.DeepPAMM(structured="age + C(horTh) + age:pnodes + np.log(pnodes) + s(tsize)",
                                     tabular=[], cuts=6, time_varying=["age"]), X, y),
        "regression_post_hoc": (su.SemiStructuredRegressor(
            structured=["x1", "g"], tabular=["x2"], deep_strategy="post_hoc", **FAST), Xr, yr),
        "late_mean": (su.LateFusion(
            [("cox", su.DeepSurv(structured=["age", "pnodes"], tabular=[])),
             ("deep", su.DeepSurv(tabular=["horTh", "tgrade"], **FAST))], combine="mean"), X, y),
        "late_stacking": (su.LateFusion(
            [("cox", su.DeepSurv(structured=["age", "pnodes"], tabular=[])),
             ("deep", su.DeepSurv(tabular=["horTh", "tgrade"], **FAST))],
            combine="stacking", cv=2, random_state=0), X, y),
        "deepsurv_late": (su.DeepSurv(structured=["age"], fusion="late", **image), Xi, yi),
        "two_images_shared": (su.DeepSurv(structured=["age"], tabular=[], share_encoders=True,
                                          **{**image, "image": ["image", "xray"]}), X2, yi),
        "two_images_own_sizes": (su.SemiStructuredRegressor(
            structured=["age"], tabular=[], image=["image", "xray"], image_size={"xray": 12},
            missing_modalities="allow", **FAST), X2m, np.log(yi["time"])),
        "two_texts": (su.DeepPAMM(structured=["age"], tabular=[], text=["note", "report"], cuts=5, **FAST),
                      X2t, yt),
        "two_texts_shared": (su.DeepSurv(structured=["age"], tabular=[], text=["note", "report"],
                                         share_encoders=True, missing_modalities="allow", **FAST), X2tm, yt),
    }


def loader_cases() -> dict:
    """The cases as the loading process builds them (its data only; the models are loaded)."""
    from structunstruct.datasets import load_gbsg2

    return _cases(load_gbsg2())


@pytest.fixture(scope="module")
def round_trip(gbsg2, tmp_path_factory):
    """Fit every case, save it, load all in one fresh process; expected and loaded predictions."""
    root = tmp_path_factory.mktemp("saved")
    expected, saved, models = {}, {}, {}
    for name, (model, X, y) in _cases(gbsg2, _resnet_checkpoint(root)).items():
        model.fit(X, y)
        expected[name] = predictions(model, X.iloc[:ROWS])
        saved[name] = model.save(root / name)
        models[name] = model
    loaded = load_in_fresh_process("test_persistence:loader_cases", saved, ROWS, root)
    return expected, loaded, models, root


CASE_NAMES = [
    "cox", "deepsurv", "wide_deep_orth", "joint_image", "early_pca", "early_frozen_resnet", "missing_images", "text_bow",
    "pamm_spline", "deep_pamm_random", "regression_scale_orth", "regression_formula", "pamm_formula",
    "regression_post_hoc", "late_mean", "late_stacking", "deepsurv_late", "two_images_shared",
    "two_images_own_sizes", "two_texts", "two_texts_shared",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_loaded_model_predicts_the_same_in_a_fresh_process(round_trip, name):
    expected, loaded, _, _ = round_trip
    assert set(loaded[name]) == set(expected[name])
    for key, values in expected[name].items():
        np.testing.assert_array_equal(loaded[name][key], values, err_msg=f"{name}: {key}")


def test_cases_cover_every_estimator_and_fusion(gbsg2):
    cases = _cases(gbsg2)
    assert list(cases) == CASE_NAMES
    kinds = {type(model).__name__ for model, _, _ in cases.values()}
    assert kinds == {"DeepSurv", "DeepPAMM", "SemiStructuredRegressor", "LateFusion"}
    assert {getattr(m, "fusion", None) for m, _, _ in cases.values()} >= {"early", "joint", "late"}


def test_every_fitted_attribute_round_trips(round_trip):
    """Loaded in this process: the same fitted attributes, equal values (networks: equal weights)."""
    _, _, models, root = round_trip
    for name, model in models.items():
        again = su.load(root / name)
        assert type(again) is type(model)
        assert sorted(vars(again)) == sorted(vars(model)), name
        assert repr(again.get_params()) == repr(model.get_params()), name
        for attr, value in vars(model).items():
            _assert_same(getattr(again, attr), value, f"{name}.{attr}")


def _assert_same(a, b, where: str) -> None:
    """Equal values, recursively: containers and objects of the package, then leaves."""
    if isinstance(b, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(b, dict):
        assert type(a) is type(b) and list(a) == list(b), where
        for key in b:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif type(b).__module__.startswith("structunstruct.") and hasattr(b, "__dict__") \
            and not isinstance(b, torch.nn.Module):
        assert type(a) is type(b) and sorted(vars(a)) == sorted(vars(b)), where
        for key, value in vars(b).items():
            _assert_same(getattr(a, key), value, f"{where}.{key}")
    else:
        _assert_same_leaf(a, b, where)


def _assert_same_leaf(a, b, where: str) -> None:
    assert type(a) is type(b), where
    if isinstance(b, torch.nn.Module):
        sa, sb = a.state_dict(), b.state_dict()
        assert list(sa) == list(sb), where
        assert all(torch.equal(sa[key], sb[key]) for key in sb), where
    elif isinstance(b, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(b, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True)
    elif isinstance(b, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True, check_exact=True)
    elif isinstance(b, np.ndarray):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(b, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def test_pickle_still_round_trips(round_trip):
    _, _, models, _ = round_trip
    model = models["joint_image"]
    again = pickle.loads(pickle.dumps(model))
    X, _ = su.datasets.make_survival_images(n=80, random_state=0)
    np.testing.assert_array_equal(again.predict(X.iloc[:ROWS]), model.predict(X.iloc[:ROWS]))


def test_newer_format_version_is_refused(round_trip, tmp_path):
    _, _, models, _ = round_trip
    target = models["cox"].save(tmp_path / "m")
    config = json.loads((target / "config.json").read_text())
    config["format_version"] = persistence.FORMAT_VERSION + 1
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"format version {persistence.FORMAT_VERSION + 1}.*up to "
                                         f"{persistence.FORMAT_VERSION}"):
        su.load(target)


@pytest.mark.parametrize("file", ["config.json", "arrays.safetensors", "weights.safetensors"])
def test_damaged_or_missing_files_name_the_file(round_trip, tmp_path, file):
    _, _, models, _ = round_trip
    target = models["deepsurv"].save(tmp_path / "m")
    data = (target / file).read_bytes()
    (target / file).write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match=file):
        su.load(target)
    (target / file).unlink()
    with pytest.raises(OSError, match=file):
        su.load(target)


def test_missing_array_key_names_the_file(round_trip, tmp_path):
    from safetensors.numpy import load_file, save_file

    _, _, models, _ = round_trip
    target = models["pamm_spline"].save(tmp_path / "m")
    arrays = load_file(str(target / "arrays.safetensors"))
    arrays.pop(sorted(arrays)[0])
    save_file(arrays, str(target / "arrays.safetensors"))
    with pytest.raises(OSError, match="arrays.safetensors"):
        su.load(target)


def test_unknown_class_is_refused(round_trip, tmp_path):
    _, _, models, _ = round_trip
    target = models["cox"].save(tmp_path / "m")
    config = json.loads((target / "config.json").read_text())
    for bad in ("structunstruct.estimators:NoSuchModel", "os:system"):
        config["class"] = bad
        (target / "config.json").write_text(json.dumps(config))
        with pytest.raises(TypeError, match="NoSuchModel|refusing"):
            su.load(target)


def test_unsaveable_values_are_named_at_save_time(tmp_path, gbsg2):
    import torch

    X, y = gbsg2
    model = su.DeepSurv(structured=["age"], tabular=[]).fit(X.iloc[:100], y[:100])
    model.extra_ = {"fn": lambda v: v}
    with pytest.raises(TypeError, match=r"extra_\['fn'\]"):
        model.save(tmp_path / "a")
    model.extra_ = object()
    with pytest.raises(TypeError, match="extra_"):
        model.save(tmp_path / "b")
    module = su.DeepSurv(image="image", image_encoder=torch.nn.Identity())
    with pytest.raises(TypeError, match="image_encoder"):
        module.save(tmp_path / "c")


def test_a_model_saved_for_cuda_loads_and_predicts_on_the_cpu(round_trip, tmp_path, monkeypatch):
    import torch

    expected, _, models, _ = round_trip
    target = models["deepsurv_late"].save(tmp_path / "m")
    config = json.loads((target / "config.json").read_text())
    text = json.dumps(config).replace('"device": "auto"', '"device": "cuda"')
    assert text.count('"device": "cuda"') >= 3  # the model, its LateFusion members
    (target / "config.json").write_text(text)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, _ = su.datasets.make_survival_images(n=80, random_state=0)
    with pytest.raises(ValueError, match="CUDA is not available"):
        su.load(target).predict(X.iloc[:ROWS])
    model = su.load(target, device="cpu")
    np.testing.assert_array_equal(model.predict(X.iloc[:ROWS]), expected["deepsurv_late"]["predict"])


def test_every_allowed_kind_of_value_round_trips(tmp_path):
    from structunstruct.metrics._calibration import DCalibrationResult

    columns = pd.MultiIndex.from_tuples([("loc", "x"), ("scale", "x")], names=["parameter", "term"])
    values = {
        "floats": [np.nan, np.inf, -np.inf, 0.1, 1e-300], "ints": (1, -2, 2**40), "flags": {True, False},
        "frozen": frozenset({"a"}), "none": None, 3: "integer key", ("a", 1): "tuple key",
        "scalars": [np.float32(0.5), np.int64(7), np.bool_(True), np.float64(2.5)],
        "arrays": [np.arange(6, dtype=np.int16).reshape(2, 3), np.array(["a", "bc"]),
                   np.array(["x", None, 1.5], dtype=object), np.array(["2020-01-02"], dtype="datetime64[D]"),
                   np.zeros((0, 3)), np.float16([1.5])],
        "frame": pd.DataFrame([[1.0, 2.0]], columns=columns, index=pd.Index(["r"], name="row")),
        "categorical": pd.Series(pd.Categorical(["b", "a", "b"], categories=["b", "a"], ordered=True),
                                 index=pd.RangeIndex(2, 8, 2), name="c"),
        "intervals": pd.Series([0.1, 0.2], index=pd.IntervalIndex.from_breaks([0.0, 1.0, 3.0])),
        "strings": pd.Series(["u", None], dtype="string"), "nullable": pd.Series([1, None], dtype="Int64"),
        "path": Path("/tmp/x"),
        "tensor": torch.arange(3.0), "device": torch.device("cpu"),
        "named": DCalibrationResult(1.5, 0.2, np.array([0.1, 0.9])), "function": su.load,
    }
    model = su.DeepSurv()
    model.extra_ = values
    again = su.load(model.save(tmp_path / "m")).extra_
    assert list(again) == list(values)
    for key, value in values.items():
        if isinstance(value, DCalibrationResult):
            assert type(again[key]) is DCalibrationResult
            np.testing.assert_array_equal(again[key][2], value[2])
            assert again[key][:2] == value[:2]
        else:
            _assert_same(again[key], value, repr(key))
    assert [type(v) for v in again["scalars"]] == [type(v) for v in values["scalars"]]


def test_estimators_are_saved_by_their_public_path_and_moved_classes_by_alias(round_trip, tmp_path, monkeypatch):
    _, _, models, _ = round_trip
    target = models["deep_pamm_random"].save(tmp_path / "m")
    text = (target / "config.json").read_text()
    assert json.loads(text)["class"] == "structunstruct:DeepPAMM"
    old = '"structunstruct.data.inputs:InputBuilder"'
    assert old in text
    (target / "config.json").write_text(text.replace(old, '"structunstruct.old_layout:InputBuilder"'))
    with pytest.raises(TypeError, match="old_layout"):
        su.load(target)
    monkeypatch.setitem(persistence.CLASS_ALIASES, "structunstruct.old_layout:InputBuilder",
                        "structunstruct.data.inputs:InputBuilder")
    X, _ = su.datasets.load_gbsg2()
    np.testing.assert_array_equal(su.load(target).predict(X.iloc[:ROWS]), models["deep_pamm_random"].predict(X.iloc[:ROWS]))


@pytest.mark.parametrize("name", ["cox", "pamm"])
def test_files_of_the_design_before_formulaic_still_load(gbsg2, name):
    """Saved (format 1) by the regex-parser design (``fixtures/persistence_v1/make_fixture.py``
    run on commit 0b94d40); the term/encoding state is upgraded on load."""
    fixtures = Path(__file__).parent / "fixtures" / "persistence_v1"
    model = su.load(fixtures / name)
    expected = np.load(fixtures / f"{name}_expected.npz")
    rows = gbsg2[0].iloc[:12]
    np.testing.assert_allclose(model.predict(rows), expected["predict"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.predict_survival_function(rows).to_numpy(), expected["survival"],
                               rtol=1e-12, atol=1e-14)
    builder = next(v for v in vars(model).values() if hasattr(v, "design_"))  # the fitted input builder
    assert [len(enc.factors) for enc in builder.design_.encodings_] == [1] * len(builder.design_.terms)
