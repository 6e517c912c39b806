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
