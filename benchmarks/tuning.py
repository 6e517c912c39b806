"""Default against tuned settings, with tuning inside an outer cross-validation.

Protocol: for each data set, 5 outer folds stratified by the event indicator
(seed 0). On each outer training part, ``DeepSurv()`` with default settings is
fitted, and ``TunedEstimator(DeepSurv())`` runs ``--trials`` Optuna trials (TPE,
median pruning on the per-epoch validation loss, 3 inner folds, Harrell's C, the
default DeepSurv search space: lr, weight decay, dropout, batch size, depth and width)
and refits the best parameters on the whole outer training part. Both are scored on
the outer test fold, which the tuner never sees: Harrell's C and the integrated
Brier score (IBS, lower is better; censoring weights from the outer training rows).
Reported per model: mean ± sd over the outer folds, the number of trials, the share
of pruned trials, and wall seconds of the fit (tuning included).

Every finished (data set, fold, model) is appended to the CSV at once; a rerun skips
those already there (``--overwrite`` starts afresh).

Run: ``python -m benchmarks.tuning [--datasets gbsg2 metabric support] [--trials 30]
[--folds 5] [--note TEXT] [--report-only]``
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import StratifiedKFold

import structunstruct as su
from structunstruct.benchmarks.machine import load_average, machine_info
from structunstruct.metrics import concordance_index_harrell, integrated_brier_score
from structunstruct.tuning import TunedEstimator

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("default", "tuned")


def fit_model(name: str, trials: int, seed: int) -> object:
    """The unfitted model ``name``: DeepSurv with defaults, or tuned."""
    base = su.DeepSurv(random_state=seed)
    if name == "default":
        return base
    return TunedEstimator(base, n_trials=trials, cv=3, scoring="harrell_c", random_state=seed)


def evaluate(model, X_test, y_test, y_train) -> dict[str, float]:
    """Harrell's C and the IBS of a fitted model on the test rows."""
    return {
        "harrell_c": concordance_index_harrell(y_test, model.predict(X_test)),
        "ibs": integrated_brier_score(y_test, model.predict_survival_function(X_test),
                                      y_train=y_train),
    }


def tuning_record(model) -> dict[str, object]:
    """Trials, pruned share and best parameters of a fitted TunedEstimator."""
    if not isinstance(model, TunedEstimator):
        return {"n_trials": 0, "pruned_share": np.nan, "inner_c": np.nan, "best_params": ""}
    states = model.trials_["state"]
    return {"n_trials": len(states), "pruned_share": float((states == "PRUNED").mean()),
            "inner_c": model.best_score_.mean, "best_params": repr(model.best_params_)}


def run(datasets: list[str], trials: int, folds: int, csv: Path) -> pd.DataFrame:
    """Fit every (data set, fold, model) not yet in ``csv``; append each result."""
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
    for dataset in datasets:
        X, y = su.datasets.load_dataset(dataset)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
        for fold, (train, test) in enumerate(splitter.split(X, y["event"])):
            for name in MODELS:
                if not done.empty and ((done["dataset"] == dataset) & (done["fold"] == fold)
                                       & (done["model"] == name)).any():
                    continue
                model = fit_model(name, trials, seed=fold)
                start = time.perf_counter()
                model.fit(X.iloc[train], y[train])
                seconds = time.perf_counter() - start
                row = {"dataset": dataset, "fold": fold, "model": name, "seconds": seconds,
                       "load": load_average(),
                       **evaluate(model, X.iloc[test], y[test], y[train]), **tuning_record(model)}
                print(row, flush=True)
                done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
                done.to_csv(csv, index=False)
    return done


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over folds per (data set, model)."""
    def pm(values: pd.Series, digits: int = 3) -> str:
        return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"

    rows = []
    for (dataset, model), part in results.groupby(["dataset", "model"], sort=False):
        rows.append({
            "data set": dataset, "model": model, "folds": len(part),
            "Harrell C": pm(part["harrell_c"]), "IBS": pm(part["ibs"]),
            "inner C (tuner)": "" if model == "default" else pm(part["inner_c"]),
            "trials per fold": "" if model == "default" else f"{part['n_trials'].mean():.0f}",
            "pruned share": "" if model == "default" else f"{part['pruned_share'].mean():.2f}",
            "wall s per fold": f"{part['seconds'].mean():.0f}",
        })
    return pd.DataFrame(rows)


def paired_gain(results: pd.DataFrame) -> pd.DataFrame:
    """Tuned minus default per data set: mean and sd of the per-fold differences."""
    rows = []
    for dataset, part in results.groupby("dataset", sort=False):
        wide = part.pivot(index="fold", columns="model", values=["harrell_c", "ibs"]).dropna()
        dc = wide[("harrell_c", "tuned")] - wide[("harrell_c", "default")]
        di = wide[("ibs", "tuned")] - wide[("ibs", "default")]
        rows.append({"data set": dataset, "folds": len(wide),
                     "ΔC (tuned - default)": f"{dc.mean():+.4f} ± {dc.std(ddof=1):.4f}",
                     "ΔIBS (tuned - default)": f"{di.mean():+.4f} ± {di.std(ddof=1):.4f}",
                     "folds where tuned C is higher": f"{int((dc > 0).sum())}/{len(dc)}"})
    return pd.DataFrame(rows)


def write_markdown(results: pd.DataFrame, path: Path, command: str, note: str) -> None:
    info = machine_info(["torch", "optuna", "scikit-survival"])
    lines = [
        "# Tuning: default against tuned DeepSurv under nested cross-validation", "",
        f"Command: `{command}`  ", *(f"{k}: {v}  " for k, v in info.items()), "",
        __doc__.split("Every finished")[0].strip(), "", note, "",
        summary_table(results).to_markdown(index=False), "",
        "Paired differences over the same outer folds:", "",
        paired_gain(results).to_markdown(index=False), "",
        "Best parameters per outer fold:", "",
        results[results["model"] == "tuned"][["dataset", "fold", "best_params"]].to_markdown(
            index=False), "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["gbsg2"])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--note", default="")
    parser.add_argument("--report-only", action="store_true",
                        help="write the markdown from the CSV without fitting anything")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    csv = output / "tuning.csv"
    if args.overwrite and csv.exists():
        csv.unlink()
    results = pd.read_csv(csv) if args.report_only else run(
        args.datasets, args.trials, args.folds, csv)
    shown = list(sys.argv[1:] if argv is None else argv)
    if "--note" in shown:  # the note is printed under the settings, not in the command
        shown[shown.index("--note") + 1] = "…"
    command = "python -m benchmarks.tuning " + shlex.join(shown)
    write_markdown(results, output / "tuning.md", command, args.note)
    print(summary_table(results).to_markdown(index=False))
    print(paired_gain(results).to_markdown(index=False))


if __name__ == "__main__":
    main()
