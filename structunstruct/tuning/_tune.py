"""``tune``: cross-validated hyperparameter search with Optuna, in one call.

One trial = one set of parameters sampled from the search space and scored by
``cv``-fold cross-validation (:class:`~structunstruct.tuning._objective.CrossValidationObjective`);
the study maximizes the mean fold score (several scorers: a multi-objective study
whose Pareto front is returned). The folds, the sampler and the estimator's seed
derive from ``random_state``, so with an in-memory study and ``n_jobs=1`` the same
``random_state`` reproduces the trials, and several workers given the same
``random_state`` and ``storage`` evaluate every trial on the same folds (their
samplers then draw their own seeds, so they do not repeat each other).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from ..data import as_survival_target
from ..metrics import get_scorer
from . import _imports
from ._objective import CrossValidationObjective, Scorer
from ._spaces import SearchSpace, resolve_search_space

#: Heartbeat of a database storage in seconds: a trial whose worker stopped beating
#: for twice this long is marked failed and re-queued by the next worker.
HEARTBEAT_INTERVAL = 60


class Score(NamedTuple):
    """A cross-validated score: mean and sample standard deviation over the folds.

    Parameters
    ----------
    mean : float
        Mean of the per-fold scores.
    sd : float
        Sample standard deviation of the per-fold scores.
    """

    mean: float
    sd: float


@dataclass
class TuningResult:
    """What :func:`tune` found.

    Parameters
    ----------
    best_params_ : dict
        Estimator parameters of the best trial (``set_params`` form; sequences as lists).
    best_score_ : Score or dict of str to Score
        Mean and sd over the folds of the best trial (per scorer in a multi-objective
        study).
    best_estimator_ : estimator or None
        A clone with ``best_params_`` refitted on all rows (``None`` when ``refit=False``).
    study_ : optuna.study.Study
        The Optuna study that holds all trials of the search.
    trials_ : pandas.DataFrame
        One row per trial: ``number``, ``state``, ``param_<name>`` (estimator
        parameters), ``split<k>_<scorer>``, ``mean_<scorer>``, ``std_<scorer>``,
        ``epochs`` (per fold; the pruned fold's last epoch), ``duration`` (seconds).
    best_trials_ : list of optuna.trial.FrozenTrial, default=[]
        The Pareto front (multi-objective) or the one best trial.
    scorers_ : list of str, default=[]
        Scorer names, in the order of the study's objectives.
    """

    best_params_: dict[str, Any]
    best_score_: Score | dict[str, Score]
    best_estimator_: Any
    study_: Any
    trials_: pd.DataFrame
    best_trials_: list[Any] = field(default_factory=list)
    scorers_: list[str] = field(default_factory=list)


def tune(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    search_space: SearchSpace = None,
    n_trials: int | None = 20,
    timeout: float | None = None,
    cv: int | Any = 5,
    scoring: str | Scorer | Sequence[str | Scorer] | None = None,
    storage: str | Any | None = None,
    study_name: str | None = None,
    pruner: str | Any = "median",
    sampler: Any = None,
    refit: bool = True,
    random_state: int | None = None,
    n_jobs: int = 1,
) -> TuningResult:
    """Tune an estimator's hyperparameters by cross-validation with Optuna.

    Parameters
    ----------
    estimator : estimator
        Unfitted template; every trial fits clones with the sampled parameters.
    X : DataFrame or array-like of shape (n_samples, n_features)
    y : survival target or array-like of shape (n_samples,)
        Survival targets in any accepted form (converted once).
    search_space : dict of optuna distributions, callable or None
        ``None``: :class:`~structunstruct.tuning.DefaultSearchSpace`. A dict maps
        parameter names to distributions; a callable maps a trial to a dict of
        parameters. Names must be parameters of ``estimator``.
    n_trials : int or None, default=20
        Trials run by this call (``None``: until ``timeout``).
    timeout : float, optional
        Seconds after which no new trial starts.
    cv : int or splitter, default=5
        Folds (stratified by the event indicator for survival targets, shuffled with
        ``random_state``) or a scikit-learn splitter.
    scoring : str, callable, list of them, or None
        A name of :func:`structunstruct.metrics.list_scorers` (e.g. ``"harrell_c"``,
        ``"neg_ibs"``, ``"log_likelihood"``, ``"neg_crps"``), a callable
        ``scorer(estimator, X, y)`` (higher is better), or ``None`` for the
        estimator's ``score``. A list of several makes a multi-objective study (e.g.
        ``["harrell_c", "neg_ibs"]``): the result holds the Pareto front in
        ``best_trials_``; ``best_*`` then refer to its trial with the best first score.
    storage : str or optuna storage, optional
        ``None`` keeps the study in memory; a database URL (``sqlite:///tune.db``,
        ``postgresql+psycopg2://user@host/db``) persists it, with a heartbeat so that
        trials of a killed worker are failed and re-queued
        (:func:`make_storage`). Finished trials are committed one by one.
    study_name : str, optional
        Name in the storage; an existing study of that name is continued.
    pruner : {"median", "none"} or optuna pruner, default="median"
        ``"median"``: :class:`optuna.pruners.MedianPruner` with 5 startup trials and 5
        warm-up epochs. Pruning reports the per-epoch validation loss (see
        :mod:`structunstruct.tuning._pruning` for the rule across folds); it applies
        to single-objective studies of estimators with ``callbacks``.
    sampler : optuna sampler, optional
        Default: TPE, seeded from ``random_state`` for an in-memory study; with a
        database ``storage`` each worker's sampler draws its own seed, so workers
        started with the same settings do not repeat each other's parameters.
    refit : bool, default=True
        Refit the best parameters on all rows as ``best_estimator_``.
    random_state : int, optional
        Seeds the folds, the default sampler of an in-memory study and (when the
        estimator's own ``random_state`` is ``None``) the estimator. Workers of one
        shared study must use the same value, so that every trial sees the same folds.
    n_jobs : int, default=1
        Trials run in parallel threads of this process (reproducible only with 1).

    Returns
    -------
    TuningResult

    Raises
    ------
    ValueError
        If a search space name is not a parameter of the estimator, or a scorer name
        is unknown.
    ImportError
        If optuna is not installed.

    Examples
    --------
    >>> import structunstruct as su
    >>> from structunstruct.tuning import tune
    >>> X, y = su.datasets.load_gbsg2()
    >>> result = tune(su.DeepSurv(max_epochs=20), X, y, n_trials=30, random_state=0)  # doctest: +SKIP
    >>> result.best_score_.mean, result.best_estimator_.predict(X)  # doctest: +SKIP
    """
    optuna = _imports.optuna()
    rng = np.random.default_rng(random_state)
    sampler_seed, cv_seed, model_seed = (int(s) for s in rng.integers(2**31 - 1, size=3))
    estimator = _seeded(estimator, model_seed if random_state is not None else None)
    space = resolve_search_space(search_space, estimator)
    scorers = resolve_scoring(scoring, estimator)
    target = as_target(estimator, y, len(X))
    splits = make_splits(cv, X, target, cv_seed)
    shared = storage is not None and not isinstance(storage, optuna.storages.InMemoryStorage)
    if sampler is None:  # workers sharing a database draw their own seeds: no repeated trials
        sampler = optuna.samplers.TPESampler(seed=None if shared else sampler_seed)
    study = optuna.create_study(
        storage=make_storage(storage) if isinstance(storage, str) else storage,
        study_name=study_name,
        sampler=sampler,
        pruner=make_pruner(pruner),
        directions=["maximize"] * len(scorers),
        load_if_exists=True,
    )
    if "scorers" not in study.user_attrs:
        study.set_user_attr("scorers", list(scorers))
    objective = CrossValidationObjective(
        estimator, space, X, target, splits, scorers,
        prune=len(scorers) == 1 and _accepts_callbacks(estimator) and pruner != "none",
    )
    study.optimize(objective, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs)
    return summarize(study, estimator, X, target, list(scorers), refit)


def summarize(study: Any, estimator: Any, X: Any, y: Any, scorer_names: list[str],
              refit: bool) -> TuningResult:
    """Build a :class:`TuningResult` from a study (refitting when ``refit``)."""
    front = _front(study)
    if not front:
        raise RuntimeError(
            f"study {study.study_name!r} has no completed trial (states: "
            f"{_state_counts(study)}); no best parameters to report"
        )
    best = max(front, key=lambda t: t.values[0])
    params = dict(best.user_attrs.get("params", best.params))
    scores = {name: Score(best.user_attrs[f"mean_{name}"], best.user_attrs[f"std_{name}"])
              for name in scorer_names}
    best_estimator = clone(estimator).set_params(**params).fit(X, y) if refit else None
    return TuningResult(
        best_params_=params,
        best_score_=scores[scorer_names[0]] if len(scorer_names) == 1 else scores,
        best_estimator_=best_estimator,
        study_=study,
        trials_=trials_frame(study),
        best_trials_=front,
        scorers_=scorer_names,
    )


def _front(study: Any) -> list[Any]:
    try:
        return list(study.best_trials)
    except ValueError:
        return []


def _state_counts(study: Any) -> dict[str, int]:
    states = pd.Series([t.state.name for t in study.trials], dtype=object)
    return states.value_counts().to_dict()


def trials_frame(study: Any) -> pd.DataFrame:
    """One row per trial of ``study`` (see :attr:`TuningResult.trials_`).

    Parameters
    ----------
    study : optuna.study.Study
        The study whose trials are tabulated.

    Returns
    -------
    pandas.DataFrame
        Columns ``number``, ``state``, ``param_<name>``, the sorted
        ``split<k>_<scorer>``, ``mean_<scorer>`` and ``std_<scorer>`` columns,
        ``epochs`` and ``duration`` (seconds); empty when the study has no trials.
    """
    rows = []
    for trial in study.trials:
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        params = trial.user_attrs.get("params", trial.params)
        row.update({f"param_{k}": v for k, v in params.items()})
        row.update({k: v for k, v in trial.user_attrs.items()
                    if k.startswith(("split", "mean_", "std_"))})
        row["epochs"] = trial.user_attrs.get("epochs")
        row["duration"] = trial.duration.total_seconds() if trial.duration is not None else math.nan
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    first = ["number", "state"] + [c for c in frame if c.startswith("param_")]
    scores = sorted(c for c in frame if c.startswith(("split", "mean_", "std_")))
    return frame[first + scores + ["epochs", "duration"]]


def make_storage(url: str, heartbeat_interval: int = HEARTBEAT_INTERVAL, max_retry: int = 3) -> Any:
    """An Optuna database storage that survives killed workers.

    Parameters
    ----------
    url : str
        SQLAlchemy URL, e.g. ``sqlite:///tune.db`` or
        ``postgresql+psycopg2://user@127.0.0.1:5432/db``.
    heartbeat_interval : int, default=60
        Seconds between a running trial's heartbeats; a trial without one for
        ``2 * heartbeat_interval`` seconds is failed by the next worker and its
        parameters re-queued (``RetryHeartbeatStaleTrialCallback``) as a new trial.
    max_retry : int, default=3
        How often one parameter set is re-queued.

    Returns
    -------
    optuna.storages.RDBStorage
    """
    optuna = _imports.optuna()
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    storages = optuna.storages
    with warnings.catch_warnings():  # heartbeats are "experimental" in optuna's terms
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
            retry = {"heartbeat_stale_trial_callback":
                     storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)}
        else:  # pragma: no cover - older optuna
            retry = {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=max_retry)}
        return _connect(lambda: storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_interval,
            grace_period=2 * heartbeat_interval,
            **retry,
        ))


def _connect(make: Callable[[], Any], attempts: int = 5) -> Any:
    """Open a storage, retrying while another worker creates the same empty schema.

    Workers that start at once on an empty database all create Optuna's tables; all
    but one fail on the duplicate objects and succeed on a later attempt.
    """
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return make()
        except sqlalchemy.exc.DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def make_pruner(pruner: str | Any) -> Any:
    """``"median"``, ``"none"`` or an optuna pruner -> an optuna pruner."""
    optuna = _imports.optuna()
    if isinstance(pruner, str):
        if pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
        if pruner == "none":
            return optuna.pruners.NopPruner()
        raise ValueError(f"pruner must be 'median', 'none' or an optuna pruner; got {pruner!r}")
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise TypeError(f"pruner must be a string or an optuna pruner; got {type(pruner).__name__}")
    return pruner


def resolve_scoring(scoring: Any, estimator: Any) -> dict[str, Scorer]:
    """Scorer names to callables (``None``: the estimator's ``score``)."""
    if scoring is None:
        return {"score": _default_score}
    items = [scoring] if isinstance(scoring, str) or callable(scoring) else list(scoring)
    if not items:
        raise ValueError("scoring must name at least one scorer")
    out: dict[str, Scorer] = {}
    for item in items:
        if isinstance(item, str):
            out[item] = get_scorer(item)
        elif callable(item):
            out[getattr(item, "__name__", f"scorer{len(out)}")] = item
        else:
            raise TypeError(f"scoring entries must be names or callables; got {type(item).__name__}")
    return out


def _default_score(estimator: Any, X: Any, y: Any) -> float:
    return float(estimator.score(X, y))


def is_survival(estimator: Any) -> bool:
    """Survival estimators predict survival functions."""
    return hasattr(estimator, "predict_survival_function")


def as_target(estimator: Any, y: Any, n_samples: int) -> Any:
    """Convert ``y`` once: a survival structured array, or a 1-D array."""
    if is_survival(estimator):
        return as_survival_target(y, n_samples)
    values = np.asarray(y)
    if values.shape[0] != n_samples:
        raise ValueError(f"y has {values.shape[0]} rows but X has {n_samples}")
    return values


def make_splits(cv: Any, X: Any, y: Any, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training/test indices of every fold, fixed for the whole study."""
    survival = y.dtype.names is not None
    if isinstance(cv, int | np.integer):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds; got {cv}")
        if survival:
            return list(StratifiedKFold(int(cv), shuffle=True, random_state=seed).split(X, y["event"]))
        return list(KFold(int(cv), shuffle=True, random_state=seed).split(X))
    if not hasattr(cv, "split"):
        raise TypeError(f"cv must be an int or a scikit-learn splitter; got {type(cv).__name__}")
    labels = y["event"] if survival else y
    return list(cv.split(X, labels))


def _accepts_callbacks(estimator: Any) -> bool:
    params = estimator.get_params(deep=False)
    return "callbacks" in params and "max_epochs" in params


def _seeded(estimator: Any, seed: int | None) -> Any:
    params = estimator.get_params(deep=False)
    if seed is None or "random_state" not in params or params["random_state"] is not None:
        return estimator
    return clone(estimator).set_params(random_state=seed)


__all__ = ["Score", "TuningResult", "make_storage", "trials_frame", "tune"]
