"""Tuning configuration files: estimator, fixed settings, data, scoring, search space.

A configuration is a JSON file (or TOML on Python 3.11+), e.g.::

    {
      "estimator": "DeepSurv",
      "params": {"max_epochs": 30, "early_stopping": 5},
      "data": {"dataset": "gbsg2"},
      "scoring": "harrell_c",
      "cv": 3,
      "n_trials": 20,
      "random_state": 0,
      "pruner": "median",
      "search_space": {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": true},
        "batch_size": {"type": "categorical", "choices": [32, 64, 128]}
      }
    }

``data`` is a bundled data set (``{"dataset": "gbsg2"}``, names of
:func:`structunstruct.datasets.list_datasets`; ``"n"`` keeps a random subsample
of that many rows) or a CSV/Parquet file with column roles: survival
``{"path": "data.csv", "time": "time", "event": "status"}`` or regression
``{"path": "data.parquet", "target": "y"}``; ``"columns"`` restricts the covariates.
Relative paths are read from the configuration's folder. Without
``search_space`` the estimator's default space is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import _safe_indexing

from .. import DeepPAMM, DeepSurv, SemiStructuredRegressor
from ..datasets import load_dataset
from . import _imports

#: Estimators a configuration may name.
ESTIMATORS: dict[str, type] = {
    "DeepPAMM": DeepPAMM,
    "DeepSurv": DeepSurv,
    "SemiStructuredRegressor": SemiStructuredRegressor,
}

_KEYS = {"estimator", "params", "data", "scoring", "cv", "n_trials", "random_state", "pruner",
         "search_space", "study_name", "timeout"}


@dataclass
class TuningConfig:
    """A parsed configuration file (see the module docstring for the format)."""

    path: Path
    estimator: str
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    scoring: Any = None
    cv: int = 5
    n_trials: int = 20
    random_state: int = 0
    pruner: str = "median"
    search_space: dict[str, Any] | None = None
    study_name: str | None = None
    timeout: float | None = None

    @property
    def default_storage(self) -> str:
        """``sqlite:///`` file next to the configuration, named after it."""
        return f"sqlite:///{self.path.with_suffix('.db').resolve()}"

    @property
    def default_study_name(self) -> str:
        """``study_name`` of the file, else the file's stem."""
        return self.study_name or self.path.stem

    def make_estimator(self) -> Any:
        """The estimator with the fixed ``params``."""
        try:
            cls = ESTIMATORS[self.estimator]
        except KeyError:
            raise ValueError(f"{self.path}: unknown estimator {self.estimator!r}; known: "
                             f"{sorted(ESTIMATORS)}") from None
        return cls(**self.params)

    def make_search_space(self) -> dict[str, Any] | None:
        """Optuna distributions from the ``search_space`` entries (``None``: default)."""
        if self.search_space is None:
            return None
        return {name: _distribution(name, spec, self.path) for name, spec in self.search_space.items()}

    def load_data(self) -> tuple[pd.DataFrame, Any]:
        """``X, y`` as the ``data`` entry describes."""
        data = dict(self.data)
        if "dataset" in data:
            X, y = load_dataset(data["dataset"])
        elif "path" in data:
            X, y = _read_table(self.path.parent, data)
        else:
            raise ValueError(f"{self.path}: data needs 'dataset' or 'path'; got {sorted(data)}")
        if data.get("columns") is not None:
            X = X[list(data["columns"])]
        if data.get("n") is not None and int(data["n"]) < len(X):
            rows = np.sort(np.random.default_rng(self.random_state).choice(
                len(X), int(data["n"]), replace=False))
            X, y = X.iloc[rows].reset_index(drop=True), _safe_indexing(y, rows)
        return X, y


def load_config(path: str | Path) -> TuningConfig:
    """Read a JSON (or TOML) tuning configuration.

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        If it is not valid JSON/TOML, lacks ``estimator`` or ``data``, or has
        unknown keys (the message lists the valid ones).
    """
    path = Path(path)
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            raw = tomllib.loads(text)
        else:
            raw = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path}: not a valid configuration file: {error}") from error
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; valid keys: {sorted(_KEYS)}")
    for key in ("estimator", "data"):
        if key not in raw:
            raise ValueError(f"{path}: the configuration needs {key!r}")
    return TuningConfig(path=path, **raw)


def _read_table(folder: Path, data: dict[str, Any]) -> tuple[pd.DataFrame, Any]:
    file = Path(data["path"])
    file = file if file.is_absolute() else folder / file
    if not file.exists():
        raise OSError(f"data file {file} does not exist")
    frame = pd.read_parquet(file) if file.suffix in {".parquet", ".pq"} else pd.read_csv(file)
    roles = [data[k] for k in ("time", "event", "target") if k in data]
    missing = [c for c in roles if c not in frame.columns]
    if missing:
        raise KeyError(f"{file}: columns {missing} not found; columns: {list(frame.columns)}")
    if "target" in data:
        return frame.drop(columns=[data["target"]]), frame[data["target"]].to_numpy()
    if "time" in data and "event" in data:
        y = frame[[data["time"], data["event"]]].rename(
            columns={data["time"]: "time", data["event"]: "event"})
        return frame.drop(columns=[data["time"], data["event"]]), y
    raise ValueError(f"{file}: data needs 'time' and 'event' (survival) or 'target' (regression)")


def _distribution(name: str, spec: dict[str, Any], path: Path) -> Any:
    optuna = _imports.optuna()
    d = optuna.distributions
    kind = spec.get("type")
    try:
        if kind == "float":
            return d.FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False),
                                       step=spec.get("step"))
        if kind == "int":
            return d.IntDistribution(spec["low"], spec["high"], log=spec.get("log", False),
                                     step=spec.get("step", 1))
        if kind == "categorical":
            return d.CategoricalDistribution(spec["choices"])
    except KeyError as error:
        raise ValueError(f"{path}: search_space[{name!r}] lacks {error}") from None
    raise ValueError(f"{path}: search_space[{name!r}] type must be 'float', 'int' or "
                     f"'categorical'; got {kind!r}")
