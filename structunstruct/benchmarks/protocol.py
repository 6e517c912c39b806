"""Evaluation protocol: data sets, folds, time grid and the four metrics per fold.

Folds: ``StratifiedKFold(n_splits, shuffle=True, random_state=repeat)`` on the event
indicator, repeats seeded 0, 1, ...; the same folds for every model. Metrics on the
test fold: Harrell's C, Uno's C (censoring KM on the training fold), integrated
Brier score and mean cumulative/dynamic AUC on 50 times from the 10th to the 80th
percentile of the test event times (kept below the largest training time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from structunstruct import datasets
from structunstruct.metrics import (
    concordance_index_harrell,
    concordance_index_uno,
    cumulative_dynamic_auc,
    default_time_grid,
    integrated_brier_score,
)

from .models import Factory

LOADERS: dict[str, Callable[[], tuple[pd.DataFrame, np.ndarray]]] = {
    "GBSG2": datasets.load_gbsg2,
    "WHAS500": datasets.load_whas500,
    "FLCHAIN": datasets.load_flchain,
    "veterans": datasets.load_veterans,
    "AIDS": datasets.load_aids,
    "METABRIC": datasets.load_metabric,
    "SUPPORT": datasets.load_support,
}

COLUMNS = ["dataset", "model", "repeat", "fold", "n_train", "n_test", "harrell_c", "uno_c",
           "ibs", "td_auc", "fit_seconds", "status"]


@dataclass(frozen=True)
class Fold:
    """One train/test split of one data set."""

    dataset: str
    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


def folds(dataset: str, y: np.ndarray, n_splits: int, repeats: int) -> Iterator[Fold]:
    """Stratified (on the event) K-fold splits, repeat ``r`` seeded with ``r``."""
    for repeat in range(repeats):
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=repeat)
        for k, (train, test) in enumerate(cv.split(np.zeros(len(y)), y["event"])):
            yield Fold(dataset, repeat, k, train, test)


def time_grid(y_train: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """50 times from the 10th to the 80th percentile of the test event times."""
    grid = default_time_grid(y_test)
    return grid[grid < y_train["time"].max()]


def score_fold(model: object, X_test: pd.DataFrame, y_train: np.ndarray,
               y_test: np.ndarray) -> dict[str, float]:
    """Harrell C, Uno C, IBS and td-AUC of a fitted adapter on the test rows."""
    times = time_grid(y_train, y_test)
    risk = np.asarray(model.risk(X_test), dtype=float)
    survival = np.clip(model.survival(X_test, times), 0.0, 1.0)
    return {
        "harrell_c": concordance_index_harrell(y_test, risk),
        "uno_c": concordance_index_uno(y_test, risk, y_train=y_train),
        "ibs": integrated_brier_score(y_test, survival, y_train=y_train, times=times),
        "td_auc": cumulative_dynamic_auc(y_test, risk, y_train=y_train, times=times),
    }


def run_fold(name: str, factory: Factory, fold: Fold, X: pd.DataFrame,
             y: np.ndarray) -> dict[str, object]:
    """Fit one model on one fold and score it; a failure is recorded, not raised."""
    seed = 1000 * fold.repeat + fold.fold
    record: dict[str, object] = {
        "dataset": fold.dataset, "model": name, "repeat": fold.repeat, "fold": fold.fold,
        "n_train": len(fold.train), "n_test": len(fold.test),
    }
    X_train, y_train = X.iloc[fold.train].reset_index(drop=True), y[fold.train]
    X_test, y_test = X.iloc[fold.test].reset_index(drop=True), y[fold.test]
    start = time.perf_counter()
    try:
        model = factory(seed).fit(X_train, y_train)
        record["fit_seconds"] = time.perf_counter() - start
        record.update(score_fold(model, X_test, y_train, y_test))
        record["status"] = "ok"
    except Exception as error:  # noqa: BLE001 - a failed model is a result, not a crash
        record["fit_seconds"] = time.perf_counter() - start
        record["status"] = f"error: {type(error).__name__}: {str(error)[:120]}"
    return record
