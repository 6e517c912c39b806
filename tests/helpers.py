"""Helpers shared by tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import pandas as pd


def dummy_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Treatment-coded design in our naming (``col[level]``), for reference fitters."""
    parts = {}
    for col in X.columns:
        column = X[col]
        if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object:
            levels = (
                [c for c in column.cat.categories if c in set(column)]
                if isinstance(column.dtype, pd.CategoricalDtype)
                else sorted(column.unique())
            )
            for level in levels[1:]:
                parts[f"{col}[{level}]"] = (column == level).astype(float).to_numpy()
        else:
            parts[col] = column.astype(float).to_numpy()
    return pd.DataFrame(parts, index=X.index)


#: Times at which the persistence checks compare survival curves (beyond and inside follow-up).
PREDICTION_TIMES = [0.5, 1.0, 2.0, 400.0, 1000.0]


def predictions(model, X: pd.DataFrame) -> dict:
    """Every prediction of ``model`` on ``X`` as arrays (also run in the loading process)."""
    import numpy as np

    out = {"predict": np.asarray(model.predict(X), dtype=np.float64)}
    if hasattr(model, "predict_survival_function"):
        out["survival"] = model.predict_survival_function(X).to_numpy()
        out["survival_times"] = model.predict_survival_function(X, times=PREDICTION_TIMES).to_numpy()
        out["cumhaz"] = model.predict_cumulative_hazard(X).to_numpy()
    if hasattr(model, "predict_distribution"):
        out["distribution"] = model.predict_distribution(X).to_numpy(dtype=np.float64)
    summary = getattr(model, "summary_", None)
    if summary is not None:
        out["summary"] = summary.select_dtypes("number").to_numpy(dtype=np.float64)
    return out


_LOADER = """
import importlib, json, pickle, sys

import numpy as np
import torch

def refuse(*args, **kwargs):
    raise AssertionError("loading unpickled")

class RefusedUnpickler(pickle.Unpickler):
    def __init__(self, *args, **kwargs):
        refuse()

pickle.load = pickle.loads = refuse
pickle.Unpickler = RefusedUnpickler
torch.load = refuse
torch.cuda.is_available = lambda: False  # a CPU-only machine
import structunstruct as su

sys.path.insert(0, sys.argv[1])
import helpers

module, function = sys.argv[2].split(":")
rows, jobs = int(sys.argv[3]), json.loads(sys.argv[4])
cases = getattr(importlib.import_module(module), function)()
for name, (model_dir, out_file) in jobs.items():
    model = su.load(model_dir)
    np.savez(out_file, **helpers.predictions(model, cases[name][1].iloc[:rows]))
"""


def load_in_fresh_process(cases: str, saved: dict, rows: int, root) -> dict:
    """Load saved models in one fresh process where unpickling raises; their predictions.

    Parameters
    ----------
    cases : str
        ``"module:function"`` of a module under ``tests/`` (dotted from there, e.g.
        ``"estimators.test_common:cases"``); the function takes no argument
        and returns ``name -> (estimator, X, y)`` (the loading process predicts on the
        first ``rows`` rows of ``X``).
    saved : dict of str to path
        ``name -> directory`` written by ``model.save``.
    rows : int
    root : pathlib.Path
        Where the predictions are written (``<name>.npz``).

    Returns
    -------
    dict of str to dict of str to ndarray
        ``name -> predictions(loaded model, X[:rows])``.
    """
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    jobs = {name: [str(path), str(Path(root) / f"{name}.npz")] for name, path in saved.items()}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _LOADER, str(Path(__file__).parent), cases, str(rows), json.dumps(jobs)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return {name: dict(np.load(out_file)) for name, (_, out_file) in jobs.items()}
