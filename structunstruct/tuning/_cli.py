"""``structunstruct tune CONFIG``: one tuning worker, or the report of a study.

A worker runs ``--n-trials`` trials of the study named ``--study`` in ``--storage``
(default: an SQLite file next to the configuration) and exits; start as many
workers as there are machines or cores on one PostgreSQL (or SQLite) storage.
``--report`` prints the leaderboard and writes the optimisation history and the
parameter importances (and the Pareto front of a two-objective study) as PNG.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from . import _imports


def register_tune(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tune`` subcommand."""
    parser = subparsers.add_parser(
        "tune", help="tune an estimator with Optuna (one worker), or report a study",
        description="Run one tuning worker on the study of CONFIG (a JSON file naming the "
        "estimator, its fixed settings, the data, the scoring, cv and the search space; see "
        "structunstruct/tuning/configs/), or print its leaderboard and write plots (--report).",
    )
    parser.add_argument("config", metavar="CONFIG", help="JSON (or TOML) configuration file")
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="Optuna storage URL (default: sqlite:///CONFIG.db next to CONFIG; "
                        "postgresql+psycopg2://user@host:port/db for many machines)")
    parser.add_argument("--study", default=None, metavar="NAME",
                        help="study name (default: the config's study_name or its file stem)")
    parser.add_argument("--n-trials", type=int, default=None, metavar="N",
                        help="trials this worker runs (default: the config's n_trials)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="start no new trial after this many seconds")
    parser.add_argument("--heartbeat", type=int, default=60, metavar="SECONDS",
                        help="heartbeat of running trials; a trial silent for twice this long is "
                        "failed and re-queued by the next worker (default: 60)")
    parser.add_argument("--report", action="store_true",
                        help="print the leaderboard and write PNG plots instead of tuning")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="folder of the report's plots (default: CONFIG_report/ next to CONFIG)")
    parser.set_defaults(handler=run_tune_command)


def run_tune_command(args: argparse.Namespace) -> int:
    """Run a worker or write the report, as ``args`` say."""
    from ._config import load_config
    from ._tune import make_storage

    config = load_config(args.config)
    storage = make_storage(args.storage or config.default_storage, heartbeat_interval=args.heartbeat)
    study_name = args.study or config.default_study_name
    if args.report:
        output = Path(args.output) if args.output else config.path.with_name(
            f"{config.path.stem}_report")
        return write_report(storage, study_name, output)
    return run_worker(config, storage, study_name, args.n_trials, args.timeout)


def run_worker(config: Any, storage: Any, study_name: str, n_trials: int | None,
               timeout: float | None) -> int:
    """Run ``n_trials`` trials of the configured study (no refit)."""
    from ._tune import tune

    X, y = config.load_data()
    result = tune(
        config.make_estimator(), X, y, search_space=config.make_search_space(),
        n_trials=n_trials if n_trials is not None else config.n_trials,
        timeout=timeout if timeout is not None else config.timeout, cv=config.cv,
        scoring=config.scoring, storage=storage, study_name=study_name, pruner=config.pruner,
        refit=False, random_state=config.random_state,
    )
    states = result.trials_["state"].value_counts().to_dict()
    print(f"study {study_name!r}: {len(result.trials_)} trials {states}; best "
          f"{result.scorers_[0]} {_format_best(result.best_score_)} with {result.best_params_}")
    return 0


def _format_best(score: Any) -> str:
    if isinstance(score, dict):
        return ", ".join(f"{k} {v.mean:.4f} (sd {v.sd:.4f})" for k, v in score.items())
    return f"{score.mean:.4f} (sd {score.sd:.4f})"


def leaderboard(study: Any, top: int = 10) -> pd.DataFrame:
    """The ``top`` completed trials by their first objective, with mean and sd per scorer."""
    from ._tune import trials_frame

    frame = trials_frame(study)
    if frame.empty:
        return frame
    done = frame[frame["state"] == "COMPLETE"]
    means = [c for c in done if c.startswith("mean_")]
    scorers = study.user_attrs.get("scorers") or [c[len("mean_"):] for c in means]
    first = f"mean_{scorers[0]}"
    keep = ["number"] + [c for c in done if c.startswith(("mean_", "std_", "param_"))] + ["duration"]
    return done.sort_values(first, ascending=False).head(top)[keep].reset_index(drop=True)


def write_report(storage: Any, study_name: str, output: Path) -> int:
    """Print the leaderboard of a stored study and write its plots under ``output``."""
    optuna = _imports.optuna()
    study = optuna.load_study(study_name=study_name, storage=storage)
    states = pd.Series([t.state.name for t in study.trials], dtype=object).value_counts()
    print(f"study {study_name!r}: {len(study.trials)} trials ({states.to_dict()})")
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print(leaderboard(study).to_string(index=False))
    output.mkdir(parents=True, exist_ok=True)
    for path in _plots(study, output):
        print(f"wrote {path}")
    return 0


def _plots(study: Any, output: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    optuna = _imports.optuna()
    vis = optuna.visualization.matplotlib
    first = None if len(study.directions) == 1 else (lambda t: t.values[0])
    name = (study.user_attrs.get("scorers") or ["objective"])[0]
    makers = {
        "optimization_history": lambda: vis.plot_optimization_history(
            study, target=first, target_name=name),
        "param_importances": lambda: vis.plot_param_importances(
            study, target=first, target_name=name),
    }
    if len(study.directions) == 2:
        makers["pareto_front"] = lambda: vis.plot_pareto_front(
            study, target_names=study.user_attrs.get("scorers"))
    written = []
    for label, make in makers.items():
        try:
            with warnings.catch_warnings():  # optuna marks its matplotlib plots "experimental"
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                axes = make()
        except (ValueError, RuntimeError) as error:  # e.g. fewer than two completed trials
            print(f"no {label} plot: {error}")
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        path = output / f"{label}.png"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written
