"""Model registry of the benchmark suites: one adapter interface for every package.

Every adapter has ``fit(X_train, y_train)``, ``risk(X)`` (higher = earlier event) and
``survival(X, times)`` (array of shape (n_samples, n_times)). ``X`` is the DataFrame
of a data set (float64 and ``category`` columns); ``y`` a structured array
(``event``, ``time``). Preprocessing (dummy coding, standardization) is learned in
``fit`` from the training fold only. The registry is a plain dict name -> factory
taking a seed; :data:`TUNING` states the settings (no model is tuned).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import structunstruct as su

Factory = Callable[[int], Any]


def step_at(grid: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Right-continuous step functions evaluated at ``times``.

    Parameters
    ----------
    grid : ndarray of shape (n_grid,)
        Increasing jump times.
    values : ndarray of shape (n_samples, n_grid)
        Survival at each grid time.
    times : ndarray of shape (n_times,)

    Returns
    -------
    ndarray of shape (n_samples, n_times)
        Survival at ``times``; 1 before the first grid time.
    """
    idx = np.searchsorted(np.asarray(grid, dtype=float), times, side="right") - 1
    padded = np.hstack([np.ones((values.shape[0], 1)), np.asarray(values, dtype=float)])
    return padded[:, idx + 1]


class DummyCoder:
    """``pd.get_dummies(drop_first=True)`` with the training columns kept for test data."""

    def fit(self, X: pd.DataFrame) -> DummyCoder:
        self.columns_ = pd.get_dummies(X, drop_first=True, dtype=float).columns
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        coded = pd.get_dummies(X, drop_first=True, dtype=float)
        return coded.reindex(columns=self.columns_, fill_value=0.0).astype(float)


class Standardizer(DummyCoder):
    """Dummy coding, then centring and scaling by the training fold (float32 output)."""

    def fit(self, X: pd.DataFrame) -> Standardizer:
        coded = DummyCoder.transform(super().fit(X), X)
        self.mean_ = coded.mean()
        self.scale_ = coded.std().replace(0.0, 1.0)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        coded = super().transform(X)
        return ((coded - self.mean_) / self.scale_).to_numpy(dtype="float32")


# -- adapters ------------------------------------------------------------------------------
class KaplanMeier:
    """Constant risk and the training Kaplan–Meier curve for everyone."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> KaplanMeier:
        from sksurv.nonparametric import kaplan_meier_estimator

        self.times_, self.survival_ = kaplan_meier_estimator(y["event"], y["time"])
        return self

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(X))

    def survival(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        curve = step_at(self.times_, self.survival_[None, :], times)
        return np.repeat(curve, len(X), axis=0)


class Ours:
    """A structunstruct estimator (``predict``, ``predict_survival_function``).

    ``build(columns)`` makes the estimator from the column names of the data set.
    """

    def __init__(self, build: Callable[[list[str]], Any]) -> None:
        self.build = build

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Ours:
        self.estimator = self.build(list(X.columns)).fit(X, y)
        return self

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.estimator.predict(X), dtype=float)

    def survival(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        frame = self.estimator.predict_survival_function(X, times=times)
        return frame.to_numpy(dtype=float).T


class LifelinesCox:
    """lifelines ``CoxPHFitter`` (Efron ties, no penalty) on the dummy-coded design."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LifelinesCox:
        from lifelines import CoxPHFitter
        from lifelines.exceptions import ConvergenceError

        self.coder_ = DummyCoder().fit(X)
        frame = self.coder_.transform(X).assign(_time=y["time"], _event=y["event"])
        try:
            self.model_ = CoxPHFitter().fit(frame, duration_col="_time", event_col="_event")
        except ConvergenceError:  # e.g. a dummy level without events in the training fold
            self.model_ = CoxPHFitter().fit(frame, duration_col="_time", event_col="_event",
                                            fit_options={"step_size": 0.5})
        return self

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_partial_hazard(self.coder_.transform(X)).to_numpy()

    def survival(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        frame = self.model_.predict_survival_function(self.coder_.transform(X), times=times)
        return frame.to_numpy(dtype=float).T


class SksurvRSF:
    """scikit-survival ``RandomSurvivalForest`` on the dummy-coded design."""

    def __init__(self, seed: int, n_estimators: int = 100, min_samples_leaf: int = 15) -> None:
        self.seed = seed
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> SksurvRSF:
        from sksurv.ensemble import RandomSurvivalForest

        self.coder_ = DummyCoder().fit(X)
        self.model_ = RandomSurvivalForest(
            n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
            n_jobs=1, random_state=self.seed,
        ).fit(self.coder_.transform(X), y)
        return self

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(self.coder_.transform(X))

    def survival(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        values = self.model_.predict_survival_function(self.coder_.transform(X), return_array=True)
        return step_at(self.model_.unique_times_, values, times)


class Pycox:
    """pycox ``CoxPH`` (DeepSurv) or ``CoxTime`` with a torchtuples MLP.

    MLP 2 x 32 nodes, ReLU, batch norm, dropout 0.1; Adam lr 0.01, batch 256, at most
    ``epochs`` epochs with early stopping (patience 10) on a stratified 15 % of the
    training fold; inputs standardized on the training fold.
    """

    def __init__(self, seed: int, kind: str = "coxph", epochs: int = 100) -> None:
        self.seed = seed
        self.kind = kind
        self.epochs = epochs

    def _network(self, n_features: int) -> Any:
        import torchtuples as tt
        from pycox.models.cox_time import MLPVanillaCoxTime

        if self.kind == "coxtime":
            return MLPVanillaCoxTime(n_features, [32, 32], batch_norm=True, dropout=0.1)
        return tt.practical.MLPVanilla(n_features, [32, 32], 1, batch_norm=True, dropout=0.1,
                                       output_bias=False)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Pycox:
        import torch
        import torchtuples as tt
        from pycox.models import CoxPH, CoxTime
        from sklearn.model_selection import train_test_split

        torch.manual_seed(self.seed)  # pycox/torchtuples take no generator
        self.scaler_ = Standardizer().fit(X)
        x = self.scaler_.transform(X)
        target = (y["time"].astype("float32"), y["event"].astype("float32"))
        idx_tr, idx_val = train_test_split(np.arange(len(x)), test_size=0.15,
                                           stratify=y["event"], random_state=self.seed)
        net = self._network(x.shape[1])
        if self.kind == "coxtime":
            self.labtrans_ = CoxTime.label_transform()
            target = self.labtrans_.fit_transform(*target)
            model = CoxTime(net, tt.optim.Adam(lr=0.01), labtrans=self.labtrans_)
        else:
            model = CoxPH(net, tt.optim.Adam(lr=0.01))
        train = (x[idx_tr], tuple(t[idx_tr] for t in target))
        val = (x[idx_val], tuple(t[idx_val] for t in target))
        model.fit(*train, batch_size=256, epochs=self.epochs, verbose=False, val_data=val,
                  callbacks=[tt.callbacks.EarlyStopping()])
        order = np.argsort(target[0], kind="stable")  # CoxTime needs sorted durations
        model.compute_baseline_hazards(x[order], tuple(t[order] for t in target))
        self.model_ = model
        return self

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        x = self.scaler_.transform(X)
        if self.kind == "coxph":
            return self.model_.predict(x).ravel().astype(float)
        # CoxTime is not proportional: risk = minus the area under S (restricted mean time)
        frame = self._surv_frame(x)
        steps = np.diff(frame.index.to_numpy(), prepend=0.0)
        return -(frame.to_numpy(dtype=float).T * steps).sum(axis=1)

    def _surv_frame(self, x: np.ndarray) -> pd.DataFrame:
        return self.model_.predict_surv_df(x)

    def survival(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        frame = self._surv_frame(self.scaler_.transform(X))
        return step_at(frame.index.to_numpy(), frame.to_numpy(dtype=float).T, times)


# -- registry ------------------------------------------------------------------------------
MODELS: dict[str, Factory] = {
    "Kaplan–Meier": lambda seed: KaplanMeier(),
    "lifelines CoxPH": lambda seed: LifelinesCox(),
    "sksurv RSF": lambda seed: SksurvRSF(seed),
    "pycox DeepSurv": lambda seed: Pycox(seed, "coxph"),
    "pycox CoxTime": lambda seed: Pycox(seed, "coxtime"),
    "ours Cox": lambda seed: Ours(lambda cols: su.DeepSurv(structured=cols, tabular=[])),
    "ours DeepSurv": lambda seed: Ours(lambda cols: su.DeepSurv(random_state=seed)),
    "ours wide & deep": lambda seed: Ours(
        lambda cols: su.DeepSurv(structured=cols, random_state=seed)
    ),
    "ours DeepPAMM": lambda seed: Ours(lambda cols: su.DeepPAMM(random_state=seed)),
}

#: ``--quick`` (CI): the fast models with smaller budgets.
QUICK_MODELS: dict[str, Factory] = {
    "Kaplan–Meier": MODELS["Kaplan–Meier"],
    "lifelines CoxPH": MODELS["lifelines CoxPH"],
    "sksurv RSF": lambda seed: SksurvRSF(seed, n_estimators=20),
    "ours Cox": MODELS["ours Cox"],
    "ours DeepSurv": lambda seed: Ours(lambda cols: su.DeepSurv(max_epochs=10, random_state=seed)),
}

#: Settings of every model, stated in the reports. No model is tuned: each runs with
#: the settings below on every data set (the same zero tuning budget for all).
TUNING: dict[str, str] = {
    "Kaplan–Meier": "no parameters; constant risk (C = 0.5 by construction)",
    "lifelines CoxPH": "CoxPHFitter() defaults: Efron ties, no penalty; dummy-coded design; "
    "refitted with Newton step_size=0.5 when the default step fails to converge (FLCHAIN)",
    "sksurv RSF": "n_estimators=100, min_samples_leaf=15, max_features=sqrt (default), n_jobs=1",
    "pycox DeepSurv": "MLPVanilla 2x32, batch norm, dropout 0.1, Adam lr 0.01, batch 256, "
    "<= 100 epochs, EarlyStopping(patience 10) on 15 % of the training fold",
    "pycox CoxTime": "MLPVanillaCoxTime 2x32, same training as pycox DeepSurv; "
    "risk = minus the area under the predicted S",
    "ours Cox": "DeepSurv(structured=all columns, tabular=[]): classical Cox, Efron ties",
    "ours DeepSurv": "DeepSurv() defaults: MLP (64, 32), dropout 0.1, lr 1e-3, weight decay "
    "1e-4, batch 64, <= 100 epochs, early stopping 10 on 15 %",
    "ours wide & deep": "DeepSurv(structured=all columns): linear + MLP, other settings default",
    "ours DeepPAMM": "DeepPAMM() defaults: 20 intervals, piecewise baseline, deep tabular MLP",
}

QUICK_TUNING: dict[str, str] = {
    "sksurv RSF": "n_estimators=20, min_samples_leaf=15, max_features=sqrt, n_jobs=1 (quick)",
    "ours DeepSurv": "DeepSurv(max_epochs=10), other settings default (quick)",
}
