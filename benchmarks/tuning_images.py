"""Tuned joint fusion on survival images, on the held-out rows of ``benchmarks.fusion_gap``.

Protocol: ``make_survival_images(n=3000, random_state=seed)``, rows 0-1999 train and
2000-2999 test (as ``benchmarks/fusion_gap.py``). ``TunedEstimator(DeepSurv(image=
"image"))`` tunes on the training rows only, with ``--trials`` trials, each scored on
one inner 25% validation split (``ShuffleSplit``; 5-fold CV is out of reach on 2 CPU
cores: one joint-fusion fit takes about a minute there), Harrell's C, median pruning,
and the default search space for joint fusion with an image (lr, weight decay,
dropout, batch size, depth and width of the tabular network, fusion layer concat or
FiLM, fusion width, augmentation). The best parameters are refitted on the 2000
training rows and scored on the 1000 test rows: Harrell's C, IBS, and the share of
the tabular-to-oracle gap closed, with the tabular-only C of the same seed from
``benchmarks/results/fusion_gap.csv``.

Run: ``python -m benchmarks.tuning_images [--seed 0] [--trials 12]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import optuna
import pandas as pd
from sklearn.model_selection import ShuffleSplit

import structunstruct as su
from structunstruct.metrics import default_time_grid
from structunstruct.tuning import TunedEstimator

from .fusion_gap import model_scores, oracle_scores

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--output", default=str(RESULTS / "tuning_images.csv"))
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y, risk = su.datasets.make_survival_images(n=3000, random_state=args.seed, return_risk=True)
    train, test = slice(0, 2000), slice(2000, None)
    grid = default_time_grid(y[test])
    oracle_c, oracle_ibs = oracle_scores(y[train], y[test], risk[test], grid)
    reference = pd.read_csv(RESULTS / "fusion_gap.csv")
    tabular_c = float(reference.query("seed == @args.seed and model == 'tabular-only'")["c_index"].iloc[0])
    tuned = TunedEstimator(
        su.DeepSurv(image="image", random_state=args.seed), n_trials=args.trials,
        cv=ShuffleSplit(n_splits=1, test_size=0.25, random_state=args.seed),
        scoring="harrell_c", random_state=args.seed,
    )
    start = time.perf_counter()
    tuned.fit(X[train], y[train])
    seconds = time.perf_counter() - start
    c_index, ibs = model_scores(tuned.best_estimator_, X[test], y[train], y[test], grid)
    states = tuned.trials_["state"]
    row = {"seed": args.seed, "trials": len(states), "pruned_share": float((states == "PRUNED").mean()),
           "c_index": c_index, "ibs": ibs, "gap_closed": (c_index - tabular_c) / (oracle_c - tabular_c),
           "tabular_c": tabular_c, "oracle_c": oracle_c, "oracle_ibs": oracle_ibs,
           "inner_c": tuned.best_score_.mean, "seconds": seconds,
           "best_params": repr(tuned.best_params_)}
    print(row, flush=True)
    path = Path(args.output)
    pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)
    tuned.trials_.to_csv(path.with_name(f"tuning_images_trials_seed{args.seed}.csv"), index=False)
    write_markdown(path, reference)


def write_markdown(path: Path, reference: pd.DataFrame) -> None:
    """``tuning_images.md`` next to the CSV: tuned against the default fusion models."""
    runs = pd.read_csv(path)
    rows = []
    for _, run in runs.iterrows():
        ref = reference[reference["seed"] == run["seed"]].set_index("model")
        gap = run["oracle_c"] - run["tabular_c"]
        for model in ("joint fusion", "joint fusion (FiLM)"):
            c = ref.loc[model, "c_index"]
            rows.append({"seed": run["seed"], "model": f"{model}, default", "Harrell C": c,
                         "IBS": ref.loc[model, "ibs"], "gap closed": (c - run["tabular_c"]) / gap})
        rows.append({"seed": run["seed"], "model": f"joint fusion, tuned ({run['trials']} trials, "
                     f"{run['pruned_share']:.0%} pruned, {run['seconds']:.0f} s)",
                     "Harrell C": run["c_index"], "IBS": run["ibs"], "gap closed": run["gap_closed"]})
    table = pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f")
    text = "\n".join([
        "# Tuned joint fusion on survival images (held-out test rows)", "",
        "Command: `python -m benchmarks.tuning_images --seed S --trials 12` for each seed", "",
        __doc__.split("Run:")[0].strip(), "", table, "",
        "Best parameters: " + "; ".join(f"seed {r.seed}: {r.best_params}" for r in runs.itertuples()),
        "",
    ])
    path.with_suffix(".md").write_text(text)


if __name__ == "__main__":
    main()
