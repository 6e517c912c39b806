"""Bad input gets a clear error before training, naming the column or file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import structunstruct as su


@pytest.fixture
def frame(rng):
    n = 60
    X = pd.DataFrame({
        "age": rng.normal(60, 10, n),
        "sex": rng.choice(["f", "m"], n),
        "image": [rng.integers(0, 255, (8, 8), dtype=np.uint8) for _ in range(n)],
    })
    y = (rng.exponential(1, n), rng.random(n) < 0.7)
    return X, y


def cox(**kw):
    return su.DeepSurv(structured=["age", "sex"], tabular=[], **kw)


@pytest.mark.parametrize(
    "time_value, match",
    [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (-1.0, "non-negative")],
)
def test_bad_times(frame, time_value, match):
    X, (time, event) = frame
    time = time.copy()
    time[3] = time_value
    with pytest.raises(ValueError, match=match):
        cox().fit(X, (time, event))


def test_events_other_than_0_1(frame):
    X, (time, event) = frame
    with pytest.raises(ValueError, match=r"0/1 or boolean; found values \[2"):
        cox().fit(X, (time, np.where(event, 2, 0)))


def test_no_events(frame):
    X, (time, _) = frame
    with pytest.raises(ValueError, match="no events"):
        cox().fit(X, (time, np.zeros(len(time))))


def test_length_mismatch(frame):
    X, (time, event) = frame
    with pytest.raises(ValueError, match="59 rows but X has 60"):
        cox().fit(X, (time[:-1], event[:-1]))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_covariate_names_column(frame, bad):
    X, y = frame
    X = X.copy()
    X.loc[5, "age"] = bad
    with pytest.raises(ValueError, match="structured column 'age' has 1 NaN or infinite"):
        cox().fit(X, y)
    with pytest.raises(ValueError, match="tabular column 'age' has 1 NaN or infinite"):
        su.DeepSurv(tabular=["age"], max_epochs=1).fit(X, y)


def test_missing_category_names_column(frame):
    X, y = frame
    X = X.copy()
    X.loc[2, "sex"] = None
    with pytest.raises(ValueError, match="'sex' has 1 missing"):
        cox().fit(X, y)


def test_unknown_columns(frame):
    X, y = frame
    with pytest.raises(ValueError, match=r"structured column\(s\) \['weight'\] not found"):
        su.DeepSurv(structured=["age", "weight"], tabular=[]).fit(X, y)
    with pytest.raises(ValueError, match=r"image column\(s\) \['img'\] not found"):
        su.DeepSurv(image="img").fit(X, y)


def test_predict_on_frame_missing_a_column(frame):
    X, y = frame
    model = cox().fit(X, y)
    with pytest.raises(ValueError, match="seen at fit time, yet now missing:\n- sex"):
        model.predict(X.drop(columns="sex"))


def test_unseen_category_at_predict(frame):
    X, y = frame
    model = cox().fit(X, y)
    X2 = X.copy()
    X2.loc[0, "sex"] = "x"
    with pytest.raises(ValueError, match=r"'sex' has levels \['x'\] not seen"):
        model.predict(X2)


def test_missing_and_unreadable_image_files(frame, tmp_path):
    X, y = frame
    paths = []
    for i, img in enumerate(X["image"]):
        path = tmp_path / f"img{i}.npy"
        np.save(path, img)
        paths.append(str(path))
    X_files = X.assign(image=paths)
    model = su.DeepSurv(image="image", tabular=[], max_epochs=1, batch_size=32)
    model.fit(X_files, y)  # readable files work
    missing = X_files.copy()
    missing.loc[4, "image"] = str(tmp_path / "nope.png")
    with pytest.raises(ValueError, match=r"1 file\(s\) not found, first '.*nope.png'"):
        model.fit(missing, y)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    corrupt = X_files.copy()
    corrupt.loc[4, "image"] = str(broken)
    with pytest.raises(ValueError, match="cannot read '.*broken.png'"):
        model.fit(corrupt, y)
    empty = X_files.copy()
    empty.loc[7, "image"] = None
    with pytest.raises(ValueError, match="1 missing images"):
        model.fit(empty, y)


def test_mixed_image_sizes_need_image_size(frame, rng):
    X, y = frame
    X = X.copy()
    X.at[0, "image"] = rng.integers(0, 255, (10, 10), dtype=np.uint8)
    with pytest.raises(ValueError, match="different shapes"):
        su.DeepSurv(image="image", tabular=[], max_epochs=1).fit(X, y)
    model = su.DeepSurv(image="image", tabular=[], max_epochs=1, image_size=8).fit(X, y)
    assert model.predict(X).shape == (len(X),)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"ties": "exact"}, r"'ties' parameter .* must be a str among \{.*'breslow'.*\}"),
        ({"fusion": "middle"}, r"'fusion' parameter .* among"),
        ({"lr": -1.0}, r"'lr' parameter"),
        ({"dropout": 1.5}, r"'dropout' parameter"),
        ({"image_encoder": "no_such_net"}, r"unknown image encoder 'no_such_net'"),
        ({"pretrained": True}, "would download weights"),
    ],
)
def test_invalid_parameters_list_valid_ones(frame, params, match):
    X, y = frame
    with pytest.raises(ValueError, match=match):
        su.DeepSurv(image="image", tabular=[], max_epochs=1, **params).fit(X, y)


def test_orthogonalize_without_structured_terms(frame):
    X, y = frame
    with pytest.raises(ValueError, match="orthogonalize=True needs structured terms"):
        su.DeepSurv(tabular=["age"], orthogonalize=True).fit(X, y)


def test_x_must_be_a_dataframe_with_an_image_column(frame):
    _, y = frame
    with pytest.raises(TypeError, match="X must be a pandas DataFrame"):
        su.DeepSurv(image="image").fit(np.zeros((60, 2)), y)


def test_constant_structured_column(frame):
    X, y = frame
    with pytest.raises(ValueError, match=r"\['age'\] are constant"):
        cox().fit(X.assign(age=1.0), y)
