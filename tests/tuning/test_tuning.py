"""Tuning with Optuna: reproducible studies, search spaces, pruning, Pareto fronts,
resumable SQLite studies after SIGKILL, the CLI, nested CV, and (when
STRUCTUNSTRUCT_TEST_POSTGRES names a server) two concurrent workers on PostgreSQL."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from sklearn.model_selection import cross_validate  # noqa: E402

from structunstruct import DeepPAMM, DeepSurv, SemiStructuredRegressor  # noqa: E402
from structunstruct.tuning import (  # noqa: E402
    DefaultSearchSpace,
    PruningCallback,
    TunedEstimator,
    tune,
)
from structunstruct.tuning._cli import leaderboard  # noqa: E402
from structunstruct.tuning._config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FAST = {"max_epochs": 2, "early_stopping": None, "hidden_layers": (8,)}
SPACE = {
    "lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
    "dropout": optuna.distributions.FloatDistribution(0.0, 0.5),
}

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def small(gbsg2):
    X, y = gbsg2
    rows = np.random.default_rng(0).choice(len(X), 150, replace=False)
    return X.iloc[rows].reset_index(drop=True), y[rows]


def _values(result):
    return [(t.params, t.values, t.state) for t in result.study_.trials]


# ----------------------------------------------------------------------- tune()
def test_same_random_state_reproduces_the_trials(small):
    X, y = small
    runs = [tune(DeepSurv(**FAST), X, y, search_space=SPACE, n_trials=3, cv=2, random_state=7)
            for _ in range(2)]
    (a, b) = (_values(r) for r in runs)
    assert [p for p, _, _ in a] == [p for p, _, _ in b]
    np.testing.assert_allclose([v for _, v, _ in a], [v for _, v, _ in b], rtol=1e-6)
    other = tune(DeepSurv(**FAST), X, y, search_space=SPACE, n_trials=3, cv=2, random_state=8)
    assert [p for p, _, _ in _values(other)] != [p for p, _, _ in a]


def test_result_holds_fold_scores_and_a_refitted_best_estimator(small):
    X, y = small
    result = tune(DeepSurv(**FAST), X, y, search_space=SPACE, n_trials=3, cv=3,
                  scoring="harrell_c", random_state=0)
    frame = result.trials_
    assert list(frame["number"]) == [0, 1, 2]
    assert {"param_lr", "param_dropout", "split0_harrell_c", "split2_harrell_c",
            "mean_harrell_c", "std_harrell_c", "state", "duration", "epochs"} <= set(frame)
    folds = frame[[f"split{k}_harrell_c" for k in range(3)]].to_numpy()
    np.testing.assert_allclose(frame["mean_harrell_c"], folds.mean(axis=1))
    np.testing.assert_allclose(frame["std_harrell_c"], folds.std(axis=1, ddof=1))
    best = frame.loc[frame["mean_harrell_c"].idxmax()]
    assert result.best_score_.mean == pytest.approx(best["mean_harrell_c"])
    assert result.best_score_.sd == pytest.approx(best["std_harrell_c"])
    assert result.best_params_["lr"] == pytest.approx(best["param_lr"])
    model = result.best_estimator_
    assert model.get_params()["lr"] == pytest.approx(best["param_lr"])
    # refitted on all rows: the Breslow baseline jumps at every event time of y
    np.testing.assert_allclose(model.baseline_cumulative_hazard_.index,
                               np.unique(y["time"][y["event"]]))
    assert frame["epochs"].map(list).tolist() == [[2, 2, 2]] * 3


def test_unknown_search_space_name_lists_valid_ones_before_training(small):
    X, y = small
    space = {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2)}
    with pytest.raises(ValueError, match=r"\['learning_rate'\] are not parameters of DeepSurv.*'lr'"):
        tune(DeepSurv(**FAST), X, y, search_space=space, n_trials=1)

    def bad(trial):
        return {"widths": trial.suggest_int("widths", 4, 8)}

    with pytest.raises(ValueError, match=r"\['widths'\] are not parameters.*'hidden_layers'"):
        tune(DeepSurv(**FAST), X, y, search_space=bad, n_trials=1, cv=2)


def test_callable_space_sets_composite_parameters(small):
    X, y = small

    def space(trial):
        return {"hidden_layers": [trial.suggest_int("width", 4, 8)] * 2}

    result = tune(DeepSurv(**FAST), X, y, search_space=space, n_trials=2, cv=2, random_state=0)
    width = result.study_.best_trial.params["width"]
    assert result.best_params_ == {"hidden_layers": [width, width]}
    assert tuple(result.best_estimator_.hidden_layers) == (width, width)


def test_default_spaces_follow_the_estimator():
    trial = optuna.trial.FixedTrial({
        "lr": 1e-3, "weight_decay": 1e-4, "dropout": 0.1, "batch_size": 64, "hidden_depth": 2,
        "hidden_width": 32, "cuts": 10, "baseline": "spline", "fusion_layer": "film",
        "fusion_width": 16, "augment": False, "deep_strategy": "two_stage"})
    deep = DefaultSearchSpace(DeepSurv())(trial)
    assert deep == {"lr": 1e-3, "weight_decay": 1e-4, "dropout": 0.1, "batch_size": 64,
                    "hidden_layers": [32, 32]}
    pamm = DefaultSearchSpace(DeepPAMM())(trial)
    assert pamm["cuts"] == 10 and pamm["baseline"] == "spline"
    image = DefaultSearchSpace(DeepSurv(image="image", fusion="joint"))(trial)
    assert image["fusion_layer"] == "film" and image["fusion_layers"] == [16]
    image_only = DefaultSearchSpace(DeepSurv(image="image", tabular=[]))(trial)
    assert "fusion_layer" not in image_only and "hidden_layers" not in image_only
    regressor = DefaultSearchSpace(SemiStructuredRegressor(structured=["x"]))(trial)
    assert regressor["deep_strategy"] == "two_stage"
    with pytest.raises(ValueError, match="nothing to tune"):
        DefaultSearchSpace(DeepSurv(structured=["age"], tabular=[]))


# ----------------------------------------------------------------------- pruning
def test_pruning_callback_reports_fold_epochs_as_steps_in_the_study_direction():
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    callback = PruningCallback(trial, fold=1, max_epochs=5, maximize=True)
    callback.on_train_begin(None)
    callback.on_epoch_end(None, {"epoch": 2, "valid_loss": 3.5})
    study.tell(trial, 0.5)
    assert study.trials[0].intermediate_values == {7: -3.5}
    with pytest.raises(optuna.TrialPruned, match="nan"):
        other = study.ask()
        PruningCallback(other, 0, 5, maximize=False).on_epoch_end(
            None, {"epoch": 1, "valid_loss": float("nan")})


def test_pruning_stops_absurd_learning_rates_early(small):
    X, y = small
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="prune", direction="maximize")
    for lr in (1e-3, 2e-3, 1e-3, 50.0, 80.0):
        study.enqueue_trial({"lr": lr})
    space = {"lr": optuna.distributions.FloatDistribution(1e-4, 100.0, log=True)}
    settings = {**FAST, "max_epochs": 8}
    result = tune(DeepSurv(**settings), X, y, search_space=space, n_trials=5, cv=2,
                  storage=storage, study_name="prune", random_state=0,
                  pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    frame = result.trials_.set_index("number")
    assert (frame.loc[[0, 1, 2], "state"] == "COMPLETE").all()
    assert (frame.loc[[3, 4], "state"] == "PRUNED").all()
    for number in (3, 4):
        assert sum(frame.loc[number, "epochs"]) < 2 * 8  # fewer epochs than a full trial
    assert result.best_params_["lr"] < 1e-2


# ----------------------------------------------------------------------- objectives
def test_two_objectives_return_the_pareto_front(small):
    X, y = small
    result = tune(DeepSurv(**FAST), X, y, search_space=SPACE, n_trials=4, cv=2,
                  scoring=["harrell_c", "neg_ibs"], random_state=0)
    assert len(result.study_.directions) == 2
    assert set(result.best_score_) == {"harrell_c", "neg_ibs"}
    means = result.trials_.set_index("number")[["mean_harrell_c", "mean_neg_ibs"]]
    front = {t.number for t in result.best_trials_}
    for number, row in means.iterrows():  # front = exactly the non-dominated trials
        dominated = ((means >= row).all(axis=1) & (means > row).any(axis=1)).any()
        assert (number in front) == (not dominated)


def test_regression_tuning_on_log_likelihood():
    rng = np.random.default_rng(0)
    import pandas as pd

    X = pd.DataFrame({"x": rng.normal(size=120), "z": rng.normal(size=120)})
    y = X["x"].to_numpy() + np.sin(2 * X["z"].to_numpy()) + rng.normal(scale=0.3, size=120)
    model = SemiStructuredRegressor(structured=["x"], **FAST)
    result = tune(model, X, y, search_space=SPACE, n_trials=2, cv=2, scoring="log_likelihood",
                  random_state=0)
    assert np.isfinite(result.best_score_.mean)
    assert result.best_estimator_.predict(X).shape == (120,)


def test_tuned_estimator_gives_nested_cross_validation(small):
    X, y = small
    tuned = TunedEstimator(DeepSurv(**FAST), search_space=SPACE, n_trials=2, cv=2, random_state=0)
    out = cross_validate(tuned, X, y, cv=2, return_estimator=True, return_indices=True)
    assert np.isfinite(out["test_score"]).all() and len(out["test_score"]) == 2
    for fitted, train in zip(out["estimator"], out["indices"]["train"]):
        assert len(fitted.study_.trials) == 2
        inner = y[train]  # tuned and refitted on the outer training rows only
        np.testing.assert_allclose(fitted.best_estimator_.baseline_cumulative_hazard_.index,
                                   np.unique(inner["time"][inner["event"]]))


def test_missing_optuna_is_named(monkeypatch):
    from structunstruct.tuning import _imports

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"'optuna'.*structunstruct\[tune\]"):
        _imports.optuna()


# ----------------------------------------------------------------------- CLI and storage
def _config(tmp_path: Path, **extra) -> Path:
    config = {"estimator": "DeepSurv", "params": {**FAST, "max_epochs": 3, "hidden_layers": [8]},
              "data": {"dataset": "gbsg2", "n": 150}, "cv": 2, "n_trials": 2,
              "random_state": 0, "scoring": "harrell_c",
              "search_space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
              **extra}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(config))
    return path


def _worker(config: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "structunstruct", "tune", str(config), *args],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_killed_worker_leaves_a_resumable_sqlite_study_and_the_report(tmp_path, capsys):
    from structunstruct.cli import main

    # trials of about half a second, so that the kill lands inside one after its first heartbeat
    config = _config(tmp_path, params={**FAST, "max_epochs": 40, "hidden_layers": [8]})
    url = f"sqlite:///{tmp_path / 'study.db'}"  # the CLI default: next to the config
    worker = _worker(config, "--n-trials", "100", "--heartbeat", "1")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
            try:
                trials = optuna.load_study(study_name="study", storage=url).trials
            except (KeyError, ValueError, Exception):  # the worker has not created it yet
                continue
            # kill inside a trial that has run for a while: its heartbeat is recorded
            # (optuna cannot tell a trial killed before its first heartbeat from a live one)
            now = datetime.datetime.now()
            if any(t.state.name == "COMPLETE" for t in trials) and any(
                t.state.name == "RUNNING" and (now - t.datetime_start).total_seconds() > 0.25
                for t in trials
            ):
                break
        assert worker.poll() is None, worker.stdout.read().decode()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
        worker.stdout.close()
    before = optuna.load_study(study_name="study", storage=url).trials
    finished = {t.number: t.value for t in before if t.state.name == "COMPLETE"}
    stale = [t.number for t in before if t.state.name == "RUNNING"]
    assert finished
    time.sleep(2.5)  # past the grace period (2 heartbeats) of the killed worker's trial
    assert main(["tune", str(config), "--n-trials", "2", "--heartbeat", "1"]) == 0
    after = optuna.load_study(study_name="study", storage=url).trials
    numbers = [t.number for t in after]
    assert numbers == list(range(len(after)))  # unique, consecutive
    assert {t.number: t.value for t in after if t.number in finished} == finished
    assert all(after[n].state.name == "FAIL" for n in stale)  # failed by heartbeat, re-queued
    assert not any(t.state.name == "RUNNING" for t in after)
    new = [t for t in after if t.number > max(t0.number for t0 in before)]
    assert sum(t.state.name == "COMPLETE" for t in new) == 2
    for number in stale:  # the interrupted parameters were run again by the new worker
        assert any(t.params == after[number].params for t in new)
    capsys.readouterr()
    assert main(["tune", str(config), "--report"]) == 0
    printed = capsys.readouterr().out
    assert "param_lr" in printed and "mean_harrell_c" in printed
    report = tmp_path / "study_report"
    assert (report / "optimization_history.png").stat().st_size > 1000
    assert (report / "param_importances.png").stat().st_size > 1000


def test_config_errors_name_the_problem(tmp_path):
    path = _config(tmp_path, metric="c")
    with pytest.raises(ValueError, match=r"unknown keys \['metric'\]; valid keys"):
        load_config(path)
    path = _config(tmp_path, estimator="CoxNet")
    with pytest.raises(ValueError, match="unknown estimator 'CoxNet'; known: .*DeepSurv"):
        load_config(path).make_estimator()
    path = _config(tmp_path, data={"path": "missing.csv", "time": "t", "event": "e"})
    with pytest.raises(OSError, match="missing.csv"):
        load_config(path).load_data()


def test_csv_data_with_column_roles(tmp_path, gbsg2):
    X, y = gbsg2
    frame = X.iloc[:50].assign(t=y["time"][:50], status=y["event"][:50].astype(int))
    frame.to_csv(tmp_path / "data.csv", index=False)
    path = _config(tmp_path, data={"path": "data.csv", "time": "t", "event": "status"})
    X_read, y_read = load_config(path).load_data()
    assert list(X_read) == list(X) and list(y_read["time"]) == list(y["time"][:50])


def test_bundled_example_config_loads():
    config = load_config(ROOT / "structunstruct" / "tuning" / "configs" / "gbsg2_deepsurv.json")
    assert isinstance(config.make_estimator(), DeepSurv)
    assert set(config.make_search_space()) == {"lr", "weight_decay", "dropout", "batch_size"}


@pytest.mark.skipif("STRUCTUNSTRUCT_TEST_POSTGRES" not in os.environ,
                    reason="STRUCTUNSTRUCT_TEST_POSTGRES (a PostgreSQL URL) is not set; "
                    ".ci/run starts a server and sets it")
def test_two_workers_share_one_postgresql_study(tmp_path):
    url = os.environ["STRUCTUNSTRUCT_TEST_POSTGRES"]
    name = f"two-workers-{os.getpid()}-{time.time_ns()}"
    config = _config(tmp_path)
    workers = [_worker(config, "--storage", url, "--study", name, "--n-trials", "3")
               for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0].decode() for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = optuna.load_study(study_name=name, storage=url).trials
    assert sorted(t.number for t in trials) == list(range(6))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)  # none lost or stuck
    assert len({t.params["lr"] for t in trials}) == 6  # the workers did not repeat each other
    assert not leaderboard(optuna.load_study(study_name=name, storage=url)).empty


def test_deep_pamm_default_space_tunes_cuts_and_baseline(small):
    X, y = small
    result = tune(DeepPAMM(**FAST), X, y, n_trials=2, cv=2, scoring="uno_c", random_state=0)
    assert {"param_cuts", "param_baseline", "param_lr"} <= set(result.trials_)
    assert (result.trials_["state"] == "COMPLETE").all()
    assert result.best_estimator_.cuts == result.best_params_["cuts"]
