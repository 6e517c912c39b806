"""A table of bad or awkward inputs across the four estimators.

Each error case asserts the exception type and a message naming the column, file or
parameter, raised before any training (the trainer and the classical fitters are
replaced by functions that fail if called); each awkward-but-valid case fits with one
epoch and predicts finite values. Every case checks that the user's data is unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

import structunstruct as su
from structunstruct.estimators import base
from structunstruct.heads.cox import head as cox_head
from structunstruct.heads.distributional import head as distributional_head
from structunstruct.heads.pamm import head as pamm_head

N = 40
DEEP = dict(hidden_layers=(4,), fusion_layers=(4,), max_epochs=1, batch_size=16, early_stopping=None,
            validation_fraction=0.0, random_state=0)


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(60, 10, N),
        "sex": rng.choice(["f", "m"], N),
        "x": rng.normal(size=N),
    })


def _survival(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X = _frame(seed)
    rng = np.random.default_rng(seed + 1)
    time = rng.exponential(np.exp(-0.03 * (X["age"] - 60)))
    event = rng.random(N) < 0.7
    event[:2] = True
    return X, su.data.make_survival_target(time, event)


def _regression(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X = _frame(seed)
    # noise from its own stream: default_rng(seed) draws the same normals as X["age"]
    return X, 1.0 + 0.05 * X["age"].to_numpy() + np.random.default_rng(seed + 2).normal(size=N)


MODELS: dict[str, Callable[..., object]] = {
    "cox": lambda **kw: su.DeepSurv(**{"structured": ["age", "sex"], "tabular": [], **kw}),
    "deepsurv": lambda **kw: su.DeepSurv(**{**DEEP, **kw}),
    "pamm": lambda **kw: su.DeepPAMM(**{"structured": ["age"], "tabular": ["x"], "cuts": 3, **DEEP, **kw}),
    "reg": lambda **kw: su.SemiStructuredRegressor(**{"structured": ["age"], "tabular": ["x"], **DEEP, **kw}),
    "late": lambda **kw: su.LateFusion(
        [("a", su.DeepSurv(structured=["age"], tabular=[])), ("b", su.DeepSurv(structured=["x"], tabular=[]))],
        **kw),
}


def _with(column: str, values: Callable[[pd.DataFrame], object]) -> Callable:
    """A mutation that sets one column of X."""
    def mutate(X, y, tmp):
        X = X.copy()
        X[column] = values(X)
        return X, y
    return mutate


def _target(time: Callable | None = None, event: Callable | None = None) -> Callable:
    """A mutation that replaces the survival target by a (time, event) tuple."""
    def mutate(X, y, tmp):
        t = y["time"].copy() if time is None else time(y["time"].copy())
        e = y["event"].astype(int) if event is None else event(y["event"].astype(int))
        return X, (t, e)
    return mutate


def _y(values: Callable) -> Callable:
    return lambda X, y, tmp: (X, values(np.array(y, dtype=float)))


def _rows(k: int) -> Callable:
    return lambda X, y, tmp: (X.iloc[:k].copy(), y[:k].copy())


def _set(index: int, value: object) -> Callable:
    def values(X):
        col = X["x"].astype(object).copy()
        col.iloc[index] = value
        return col
    return values


def _words(seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = ["pain", "fever", "cough", "stable", "worse", "better", "acute", "mild", "severe", "chronic"]
    return [" ".join(rng.choice(vocab, 6)) for _ in range(N)]


def _images(modes: tuple[str, ...], sizes: tuple[int, ...] = (8,), suffix: str = ".png") -> Callable:
    """A mutation adding an image column of files written to the test's tmp_path."""
    from PIL import Image

    def mutate(X, y, tmp):
        rng = np.random.default_rng(0)
        paths = []
        for i in range(len(X)):
            mode, size = modes[i % len(modes)], sizes[i % len(sizes)]
            bands = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
            pixels = rng.integers(0, 255, (size, size, bands), dtype=np.uint8)
            img = Image.fromarray(pixels[:, :, 0] if bands == 1 else pixels, mode=mode)
            path = tmp / f"im{i}{suffix}"
            img.save(path, format="PNG")
            paths.append(str(path))
        return X.assign(image=paths), y
    return mutate


def _chain(*mutations: Callable) -> Callable:
    def mutate(X, y, tmp):
        for m in mutations:
            X, y = m(X, y, tmp)
        return X, y
    return mutate


def _garbage_file(name: str, content: bytes = b"not an image") -> Callable:
    def mutate(X, y, tmp):
        X, y = _images(("L",))(X, y, tmp)
        (tmp / name).write_bytes(content)
        X = X.copy()
        X.loc[X.index[3], "image"] = str(tmp / name)
        return X, y
    return mutate


def _checkpoint(state: object) -> Callable:
    def mutate(X, y, tmp):
        torch.save(state, tmp / "weights.pt")
        return _images(("RGB",), (32,))(X, y, tmp)
    return mutate


@dataclass
class Case:
    """One input: the model, how the data is spoiled, and what must happen."""

    id: str
    model: str
    mutate: Callable | None = None
    error: type[Exception] | None = None
    match: str | None = None
    params: dict = field(default_factory=dict)
    predict: Callable | None = None  # spoils X at predict time (the error comes then)
    call: Callable = lambda model, X: model.predict(X)  # noqa: E731 - the prediction made
    # False where the check is the classical fitter's own first step (its Newton
    # iterations are the training of a model without a deep part), so it is not blocked
    blocked: bool = True


def _drop(col):
    return lambda X: X.drop(columns=col)


CASES = [
    # -- identifiability (classical fits) -------------------------------------------
    Case("x-collinear-cox", "cox", _with("dup", lambda X: 2 * X["age"]), ValueError, r"\['age', 'dup'\]",
         {"structured": ["age", "dup"]}, blocked=False),
    Case("x-collinear-pamm", "pamm", _with("dup", lambda X: 2 * X["age"] + 1), ValueError, r"\['age', 'dup'\]",
         {"structured": ["age", "dup"]}),
    Case("x-collinear-reg", "reg", _with("dup", lambda X: X["age"] - 3), ValueError, r"\['age', 'dup'\]",
         {"structured": ["age", "dup"]}),
    # -- survival times ------------------------------------------------------------
    Case("time-negative", "cox", _target(time=lambda t: t - 1.0), ValueError, "survival times must be non-negative"),
    Case("time-nan", "deepsurv", _target(time=lambda t: np.where(np.arange(N) == 3, np.nan, t)), ValueError,
         "survival times contain 1 NaN"),
    Case("time-inf", "pamm", _target(time=lambda t: np.where(np.arange(N) == 3, np.inf, t)), ValueError,
         "survival times contain 1 NaN or infinite"),
    Case("time-strings", "late", _target(time=lambda t: np.array(["a"] * N)), ValueError,
         "survival times must be numeric"),
    Case("time-length", "cox", _target(time=lambda t: t[:-1], event=lambda e: e[:-1]), ValueError,
         "39 rows but X has 40"),
    Case("time-some-zero", "cox", _target(time=lambda t: np.where(np.arange(N) < 3, 0.0, t))),
    Case("time-some-zero-pamm", "pamm", _target(time=lambda t: np.where(np.arange(N) < 3, 0.0, t))),
    Case("time-all-tied", "cox", _target(time=lambda t: np.ones_like(t))),
    Case("time-all-tied-pamm", "pamm", _target(time=lambda t: np.ones_like(t))),
    Case("time-all-tied-deep", "deepsurv", _target(time=lambda t: np.ones_like(t))),
    # -- events ----------------------------------------------------------------------
    Case("event-two", "cox", _target(event=lambda e: e * 2), ValueError, r"0/1 or boolean; found values \[2\]"),
    Case("event-all-censored", "deepsurv", _target(event=lambda e: e * 0), ValueError, "no events"),
    Case("event-nan", "pamm", _target(event=lambda e: np.where(np.arange(N) == 0, np.nan, e)), ValueError,
         "event indicator must be 0/1"),
    Case("event-strings", "late", _target(event=lambda e: np.where(e == 1, "yes", "no")), ValueError,
         "event indicator must be 0/1 or boolean"),
    Case("event-all-observed", "cox", _target(event=lambda e: e * 0 + 1)),
    Case("event-all-observed-late", "late", _target(event=lambda e: e * 0 + 1)),
    # -- covariates ------------------------------------------------------------------
    Case("x-nan-structured", "cox", _with("age", lambda X: X["age"].where(X.index != 5)), ValueError,
         "structured column 'age' has 1 NaN"),
    Case("x-inf-tabular", "deepsurv", _with("x", lambda X: X["x"].replace(X["x"].iloc[2], np.inf)), ValueError,
         "tabular column 'x' has 1 NaN or infinite"),
    Case("x-nan-categorical", "cox", _with("sex", lambda X: X["sex"].where(X.index != 1)), ValueError,
         "structured column 'sex' has 1 missing"),
    Case("x-nan-categorical-tabular", "deepsurv", _with("sex", lambda X: X["sex"].where(X.index != 1)),
         ValueError, "tabular column 'sex' has 1 missing"),
    Case("x-constant-structured", "cox", _with("age", lambda X: 1.0), ValueError, r"\['age'\] are constant"),
    Case("x-constant-tabular", "deepsurv", _with("x", lambda X: 1.0)),
    Case("x-string-in-numeric-tabular", "deepsurv", _with("x", _set(4, "?")), ValueError,
         r"tabular column 'x' is numeric except for 1 value\(s\) '\?'"),
    Case("x-string-in-numeric-structured", "reg", _with("age", lambda X: X["age"].astype(object).where(
        X.index != 2, "n/a")), ValueError, "structured column 'age' is numeric except for 1 value"),
    Case("x-free-text", "deepsurv", _with("note", lambda X: _words()), ValueError, "text='note'"),
    Case("x-identifier", "reg", lambda X, y, tmp: (X.assign(id=[f"p{i}" for i in range(N)]), y), ValueError,
         "column 'id' has 40 distinct strings", {"tabular": None}),
    Case("x-free-text-structured", "cox", _with("note", lambda X: _words()), ValueError, "text='note'",
         {"structured": ["age", "note"]}),
    Case("x-object-numbers", "reg", _with("x", lambda X: X["x"].astype(object))),
    Case("x-nullable-int-with-na", "cox", _with("age", lambda X: X["age"].round().astype("Int64").where(
        X.index != 6)), ValueError, "structured column 'age' has 1 NaN"),
    Case("x-nullable-int", "deepsurv", _with("x", lambda X: (10 * X["x"]).round().astype("Int64"))),
    Case("x-string-dtype-category", "cox", _with("sex", lambda X: X["sex"].astype("string"))),
    Case("x-dates", "deepsurv", _with("visit", lambda X: pd.date_range("2020-01-01", periods=N)), ValueError,
         "tabular column 'visit' holds dates"),
    Case("x-bool-column", "deepsurv", _with("flag", lambda X: X["x"] > 0)),
    Case("x-declared-category", "deepsurv", _with("sex", lambda X: X["sex"].astype("category"))),
    Case("x-int-column-names", "deepsurv", lambda X, y, tmp: (X[["age", "x"]].set_axis([0, 1], axis=1), y)),
    Case("x-numpy", "pamm", lambda X, y, tmp: (X[["age", "x"]].to_numpy(), y), params={"structured": ["x0"],
                                                                                       "tabular": ["x1"]}),
    Case("x-string-index", "reg", lambda X, y, tmp: (X.set_axis([f"r{i}" for i in range(N)]), y)),
    Case("x-duplicated-columns", "deepsurv", lambda X, y, tmp: (X.set_axis(["age", "sex", "age"], axis=1), y),
         ValueError, "'age' 2 times"),
    Case("x-one-row", "cox", _rows(1), ValueError, "n_samples=1"),
    Case("x-one-row-reg", "reg", lambda X, y, tmp: (X.iloc[:1], y[:1]), ValueError, "n_samples=1"),
    Case("x-empty", "deepsurv", _rows(0), ValueError, r"0 sample\(s\)"),
    Case("x-empty-pamm", "pamm", _rows(0), ValueError, r"0 sample\(s\)"),
    Case("x-no-columns", "reg", lambda X, y, tmp: (X[[]], y), ValueError, r"0 feature\(s\)"),
    Case("x-numpy-with-image", "deepsurv", lambda X, y, tmp: (X[["age"]].to_numpy(), y), TypeError,
         "X must be a pandas DataFrame", {"image": "image"}),
    # -- target leakage ----------------------------------------------------------------
    Case("leak-duration", "deepsurv", lambda X, y, tmp: (X.assign(duration=y["time"]), y), ValueError,
         "column 'duration' of X equals the target's survival time"),
    Case("leak-event", "cox", lambda X, y, tmp: (X.assign(status=y["event"].astype(int)), y), ValueError,
         "column 'status' of X equals the target's event indicator", {"structured": ["age", "status"]}),
    Case("leak-event-bool", "pamm", lambda X, y, tmp: (X.assign(dead=y["event"]), y), ValueError,
         "column 'dead' of X equals the target's event", {"tabular": ["x", "dead"]}),
    Case("leak-censoring", "deepsurv", lambda X, y, tmp: (X.assign(cens=1 - y["event"].astype(int)), y),
         ValueError, r"column 'cens' of X equals the target's censoring indicator"),
    Case("leak-late-member", "late", lambda X, y, tmp: (X.assign(age=y["time"]), y), ValueError,
         "column 'age' of X equals the target's survival time"),
    Case("leak-unused-column-ok", "cox", lambda X, y, tmp: (X.assign(duration=y["time"]), y)),
    # -- formulas --------------------------------------------------------------------
    Case("formula-unknown-column", "cox", None, ValueError, r"\['nope'\] not found", {"structured": "age + nope"}),
    Case("formula-smooth-categorical", "pamm", None, ValueError, r"s\(sex\)", {"structured": "age + s(sex)"}),
    Case("formula-smooth-in-deepsurv", "cox", None, ValueError, r"smooth terms \['s\(age\)'\]",
         {"structured": "s(age) + sex"}),
    Case("formula-repeated-term", "reg", None, ValueError, "'age' appears more than once",
         {"structured": "age + age"}),
    Case("formula-scale-unknown", "reg", None, ValueError, r"scale column\(s\) \['nope'\]", {"scale": ["nope"]}),
    Case("formula-scale-no-parameter", "reg", _y(lambda y: np.round(np.abs(y))), ValueError, "has no 'scale' parameter",
         {"family": "poisson", "scale": ["age"]}),
    # -- images ----------------------------------------------------------------------
    Case("image-missing-file", "deepsurv", _chain(_images(("L",)), _with("image", lambda X: X["image"].where(
        X.index != 2, "/nonexistent/scan7.png"))), ValueError, "scan7.png", {"image": "image", "tabular": []}),
    Case("image-unreadable", "deepsurv", _garbage_file("broken.png"), ValueError, "cannot read .*broken.png",
         {"image": "image", "tabular": []}),
    Case("image-unsupported-type", "deepsurv", _garbage_file("notes.txt"), ValueError, "notes.txt",
         {"image": "image", "tabular": []}),
    Case("image-missing-cell", "deepsurv", _chain(_images(("L",)), _with("image", lambda X: X["image"].where(
        X.index != 2))), ValueError, "image column 'image' has 1 missing", {"image": "image", "tabular": []}),
    Case("image-sizes-differ", "deepsurv", _images(("L",), (8, 10)), ValueError, "image_size",
         {"image": "image", "tabular": []}),
    Case("image-mixed-modes", "deepsurv", _images(("L", "RGB", "RGBA")), params={"image": "image", "tabular": []}),
    Case("image-mixed-modes-pamm", "pamm", _images(("RGBA", "L")), params={"image": "image"}),
    Case("image-checkpoint-not-tensors", "deepsurv", _checkpoint({"conv1.weight": 3}), ValueError,
         "weights.pt' is not a state dict of tensors",
         {"image": "image", "tabular": [], "image_encoder": "resnet10t", "pretrained": "CKPT"}),
    Case("image-checkpoint-wrong-arch", "deepsurv", _checkpoint({"w": torch.zeros(2)}), ValueError,
         "weights.pt' does not fit",
         {"image": "image", "tabular": [], "image_encoder": "resnet10t", "pretrained": "CKPT"}),
    Case("image-checkpoint-garbage", "deepsurv", _chain(_checkpoint({}), lambda X, y, tmp: (
        (tmp / "weights.pt").write_bytes(b"garbage") and X, y)), ValueError, "weights.pt' cannot be read",
         {"image": "image", "tabular": [], "image_encoder": "resnet10t", "pretrained": "CKPT"}),
    # -- text ------------------------------------------------------------------------
    Case("text-nan", "deepsurv", _with("note", lambda X: pd.Series(_words()).where(X.index != 4)), ValueError,
         "text column 'note' has 1 missing", {"text": "note", "tabular": ["age"]}),
    Case("text-valid", "reg", _with("note", lambda X: _words()), params={"text": "note", "tabular": ["x"]}),
    # -- parameters ------------------------------------------------------------------
    Case("param-cuts-decreasing", "pamm", None, ValueError, r"cuts: .*strictly increasing; got \[5.0, 3.0, 1.0\]",
         {"cuts": [5, 3, 1]}),
    Case("param-cuts-negative", "pamm", None, ValueError, "cuts: .*non-negative", {"cuts": [-1.0, 2.0]}),
    Case("param-cuts-zero", "pamm", None, ValueError, "'cuts' parameter", {"cuts": 0}),
    Case("param-lr-negative", "deepsurv", None, ValueError, "'lr' parameter", {"lr": -1.0}),
    Case("param-dropout", "reg", None, ValueError, "'dropout' parameter", {"dropout": 1.5}),
    Case("param-batch-size", "pamm", None, ValueError, "'batch_size' parameter", {"batch_size": 1}),
    Case("param-hidden-layers", "deepsurv", None, ValueError, "hidden_layers must be", {"hidden_layers": (0,)}),
    Case("param-fusion", "cox", None, ValueError, "'fusion' parameter", {"fusion": "bogus"}),
    Case("param-ties", "cox", None, ValueError, "'ties' parameter", {"ties": "exact"}),
    Case("param-family", "reg", None, ValueError, "unknown family 'bogus'", {"family": "bogus"}),
    Case("param-combine", "late", None, ValueError, "'combine' parameter", {"combine": "median"}),
    Case("param-orthogonalize-alone", "deepsurv", None, ValueError, "orthogonalize=True needs structured",
         {"orthogonalize": True}),
    # -- regression targets ------------------------------------------------------------
    Case("y-nan", "reg", _y(lambda y: np.where(np.arange(N) == 0, np.nan, y)), ValueError, "y contains 1 NaN"),
    Case("y-inf", "reg", _y(lambda y: np.where(np.arange(N) == 0, np.inf, y)), ValueError, "y contains 1 NaN or inf"),
    Case("y-length", "reg", _y(lambda y: y[:-1]), ValueError, "y has 39 values but X has 40"),
    Case("y-strings", "reg", lambda X, y, tmp: (X, np.array(["a"] * N)), ValueError, "y must be numeric"),
    Case("y-poisson-negative", "reg", _y(lambda y: y - 100), ValueError, "poisson", {"family": "poisson"}),
    # -- predict-time schema drift -----------------------------------------------------
    Case("drift-missing-column", "reg", predict=_drop("x"), error=ValueError, match="yet now missing:\n- x"),
    Case("drift-extra-column", "deepsurv", predict=lambda X: X.assign(extra=1.0), error=ValueError,
         match="unseen at fit time:\n- extra"),
    Case("drift-reordered", "pamm", predict=lambda X: X[["x", "sex", "age"]], error=ValueError,
         match="must be in the same order"),
    Case("drift-numeric-to-string", "cox", predict=lambda X: X.assign(age=X["age"].astype(str) + "y"),
         error=ValueError, match="structured column 'age' is not numeric"),
    Case("drift-category-to-codes", "deepsurv", predict=lambda X: X.assign(sex=(X["sex"] == "m").astype(int)),
         error=ValueError, match=r"tabular column 'sex' has levels \['0', '1'\] not seen"),
    Case("drift-unseen-level-structured", "cox", predict=lambda X: X.assign(sex="other"), error=ValueError,
         match=r"structured column 'sex' has levels \['other'\]"),
    Case("drift-unseen-level-late", "late", predict=lambda X: X.assign(x="a"), error=ValueError,
         match="structured column 'x' is not numeric"),
    Case("drift-width-numpy", "reg", predict=lambda X: np.zeros((3, 2)), error=ValueError,
         match="X has 2 features, but SemiStructuredRegressor is expecting 3"),
    Case("drift-rows-reordered-ok", "reg", predict=lambda X: X.iloc[::-1]),
    # -- prediction arguments ----------------------------------------------------------
    Case("predict-times-negative", "cox", predict=lambda X: X, error=ValueError, match="times must be finite",
         call=lambda m, X: m.predict_survival_function(X, times=[-1.0, 2.0])),
    Case("predict-times-nan-pamm", "pamm", predict=lambda X: X, error=ValueError, match="times must be finite",
         call=lambda m, X: m.predict_cumulative_hazard(X, times=[np.nan])),
    Case("predict-times-negative-late", "late", predict=lambda X: X, error=ValueError,
         match="times must be finite", call=lambda m, X: m.predict_survival_function(X, times=[-1.0])),
    Case("predict-return-array", "deepsurv", predict=lambda X: X,
         call=lambda m, X: m.predict_survival_function(X, return_array=True)),
    Case("predict-quantile-level", "reg", predict=lambda X: X, error=ValueError, match=r"quantile levels .*1\.5",
         call=lambda m, X: m.predict_quantile(X, [0.5, 1.5])),
    Case("predict-coverage", "reg", predict=lambda X: X, error=ValueError, match="coverage must lie in",
         call=lambda m, X: m.predict_interval(X, coverage=1.0)),
]


def _fail(*args, **kwargs):
    raise AssertionError("training was reached: the input must be refused before it")


class _FailingTrainer:
    def __init__(self, *args, **kwargs):
        _fail()


def _block_training(monkeypatch):
    monkeypatch.setattr(base, "Trainer", _FailingTrainer)
    monkeypatch.setattr(cox_head, "fit_cox", _fail)
    monkeypatch.setattr(pamm_head, "fit_glm", _fail)
    monkeypatch.setattr(distributional_head, "fit_distributional", _fail)


def _data(case: Case, tmp):
    X, y = _regression() if case.model == "reg" else _survival()
    if case.mutate is not None:
        X, y = case.mutate(X, y, tmp)
    return X, y


def _assert_same(before, after):
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after)
    elif isinstance(before, tuple):
        for a, b in zip(before, after):
            _assert_same(a, b)
    else:
        np.testing.assert_array_equal(before, after)


def test_the_battery_is_large():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.model for c in CASES} == set(MODELS)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")  # drift-width-numpy: as sklearn
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_or_awkward_input(case, tmp_path, monkeypatch):
    X, y = _data(case, tmp_path)
    params = {k: (str(tmp_path / "weights.pt") if v == "CKPT" else v) for k, v in case.params.items()}
    model = MODELS[case.model](**params)
    X_copy, y_copy = copy.deepcopy(X), copy.deepcopy(y)
    if case.error is not None and case.predict is None:
        if case.blocked:
            _block_training(monkeypatch)
        with pytest.raises(case.error, match=case.match):
            model.fit(X, y)
    else:
        model.fit(X, y)
        X_new = X if case.predict is None else case.predict(X)
        X_new_copy = copy.deepcopy(X_new)
        if case.error is not None:
            with pytest.raises(case.error, match=case.match):
                case.call(model, X_new)
        else:
            assert np.isfinite(case.call(model, X_new)).all()
        _assert_same(X_new_copy, X_new)
    _assert_same(X_copy, X)
    _assert_same(y_copy, y)


def test_channel_conversion_matches_pil():
    from PIL import Image

    from structunstruct.data.images import to_channels

    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    ours = to_channels(rgb.transpose(2, 0, 1), 1, "image", 0)[0]
    assert np.abs(ours.astype(int) - gray).max() <= 1
    back = np.asarray(Image.fromarray(gray).convert("RGB")).transpose(2, 0, 1)
    np.testing.assert_array_equal(to_channels(gray[None], 3, "image", 0), back)
    rgba = np.asarray(Image.fromarray(rgb).convert("RGBA"))
    np.testing.assert_array_equal(to_channels(rgba.transpose(2, 0, 1), 3, "image", 0), rgb.transpose(2, 0, 1))
    with pytest.raises(ValueError, match="'image' at index 5: an image with 2 channels"):
        to_channels(np.zeros((2, 4, 4), np.uint8), 3, "image", 5)


def test_predict_converts_images_to_the_training_channels(tmp_path):
    X, y = _images(("RGB",))(*_survival(), tmp_path)
    model = MODELS["deepsurv"](image="image", tabular=[]).fit(X, y)
    (tmp_path / "gray").mkdir()
    gray, _ = _images(("L",))(X.drop(columns="image"), y, tmp_path / "gray")
    assert np.isfinite(model.predict(gray)).all()


_RNG = np.random.default_rng(0)
_WORDS = [" ".join(_RNG.choice(list("abcdefgh"), 6)) for _ in range(100)]


@pytest.mark.parametrize("values, categorical, error", [
    (pd.Series(_RNG.normal(size=500)).astype(object), False, None),  # object array of floats
    (pd.Series([f"{v:.2f}" for v in _RNG.normal(size=500)]), False, None),  # numbers as strings
    (pd.Series(_RNG.choice(["I", "II", "III"], 500)), True, None),
    (pd.Series(_RNG.choice([f"z{i}" for i in range(300)], 500)).astype("category"), True, None),  # declared
    (pd.Series([f"id{i}" for i in range(500)]), None, "500 distinct strings in 500 rows"),
    (pd.Series(_RNG.choice(_WORDS, 500)), None, r"\d+ distinct strings in 500 rows: free text"),  # repeated notes
    (pd.Series([*_RNG.normal(size=497), "?", "n/a", "?"], dtype=object), None,
     r"numeric except for 3 value\(s\) '\?', 'n/a'"),
    (pd.Series([*_RNG.choice(["a", "b"], 495), 1, 2, 3, 4, 5], dtype=object), True, None),
])
def test_column_typing_rules(values, categorical, error):
    from structunstruct.data.validation import check_column_type, is_categorical

    if error is not None:
        with pytest.raises(ValueError, match=f"tabular column 'c' .*{error}"):
            check_column_type(values, "c", role="tabular")
    else:
        check_column_type(values, "c", role="tabular")
        assert is_categorical(values) == categorical


# a covariate ordering the times is separation for the Cox partial likelihood only (a
# PAMM's Poisson likelihood keeps a finite optimum there: exposure still counts)
@pytest.mark.parametrize(("model", "kind"), [
    ("cox", "orders-times"), ("cox", "level-without-events"), ("pamm", "level-without-events")])
def test_separation_warns_and_reports_no_convergence(model, kind):
    """Monotone likelihood: a warning naming the column, converged_ False, a huge SE."""
    X, y = _survival()
    if kind == "orders-times":
        s = -np.argsort(np.argsort(y["time"])).astype(float)
    else:
        s = (~y["event"] & (np.arange(N) % 2 == 0)).astype(float)
    fitted = MODELS[model](structured=["age", "s"], tabular=[])
    with pytest.warns(ConvergenceWarning, match=r"\['s'\]"):
        fitted.fit(X.assign(s=s), y)
    assert fitted.converged_ is False
    assert fitted.summary_.loc["s", "se"] > 1e5
