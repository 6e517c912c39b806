"""``regression`` suite: SemiStructuredRegressor against statsmodels OLS and gradient boosting.

Run: ``python -m benchmarks regression [--quick] [--output DIR]`` or
``structunstruct benchmark regression``. Data sets that ship inside installed packages
(nothing is downloaded):

- ``diabetes``: scikit-learn ``load_diabetes`` (n = 442, 10 covariates, raw units);
- ``autompg``: mlxtend ``autompg_data`` (n = 392, mpg from 7 car attributes);
- ``engel``: statsmodels ``engel`` (n = 235, food expenditure from income;
  heteroscedastic);
- ``ACTG175``: lifelines' ``ACTG175.csv`` (n = 2139, CD4 count at 20 weeks from 16
  baseline covariates);
- ``images``: ``structunstruct.datasets.make_regression_images`` (n = 2000, MNIST digit
  effect on the mean, known true mean).

K-fold CV (``KFold(shuffle=True, random_state=repeat)``), the same folds for every model,
preprocessing learned on the training fold. Metrics on the test fold: RMSE, R², and for
models that give a predictive distribution (normal: statsmodels OLS with its residual
variance, ours, the oracle) the mean Gaussian log-likelihood, the mean CRPS and the
coverage of the central 90 % prediction interval. Results are appended to
``regression.csv`` one fit at a time (``--resume`` continues a cut run) and summarised
(mean ± sd over folds) in ``regression.md`` and ``regression.png``; ``--quick`` writes
``regression_quick.*``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

import structunstruct as su

from .machine import load_average, machine_info
from .models import DummyCoder
from .protocol import Fold
from .report import command_line, header, plot, to_markdown

COLUMNS = ["dataset", "model", "repeat", "fold", "n_train", "n_test", "rmse", "r2",
           "gaussian_ll", "crps", "coverage_90", "fit_seconds", "status"]
METRICS = {"rmse": "RMSE (lower is better)", "r2": "R²",
           "gaussian_ll": "mean Gaussian log-likelihood (higher is better)",
           "crps": "mean CRPS (lower is better)",
           "coverage_90": "coverage of the 90 % prediction interval (target 0.90)",
           "fit_seconds": "fit seconds"}
PACKAGES = ["structunstruct", "torch", "numpy", "pandas", "scikit-learn", "statsmodels",
            "mlxtend", "lifelines"]
Z_95 = 1.6448536269514722  # standard normal 0.95 quantile


# -- data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegressionData:
    """One data set: covariates, response and (simulated data only) the true mean.

    Attributes
    ----------
    X : pandas.DataFrame
        float64 and ``category`` columns, plus ``image`` for the image data.
    y : ndarray of shape (n,)
    mean : ndarray of shape (n,) or None
        Noise-free mean (``images`` only).
    noise : float or None
        Noise standard deviation (``images`` only).
    """

    X: pd.DataFrame
    y: np.ndarray
    mean: np.ndarray | None = None
    noise: float | None = None

    @property
    def features(self) -> list[str]:
        """Columns a model without an image part can use."""
        return [c for c in self.X.columns if c != "image"]


def load_diabetes_data() -> RegressionData:
    """scikit-learn's diabetes data in raw units (``sex`` as a category)."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    X = frame.drop(columns="target").astype(float)
    X["sex"] = pd.Categorical(X["sex"].map({1.0: "1", 2.0: "2"}))
    return RegressionData(X, frame["target"].to_numpy(float))


def load_autompg() -> RegressionData:
    """mlxtend's Auto MPG (6 rows with missing horsepower removed by mlxtend)."""
    from mlxtend.data import autompg_data

    values, y = autompg_data()
    names = ["cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year",
             "origin"]
    X = pd.DataFrame(values[:, :7].astype(float), columns=names)
    X["origin"] = pd.Categorical(X["origin"].astype(int).astype(str))
    return RegressionData(X, np.asarray(y, dtype=float))


def load_engel() -> RegressionData:
    """statsmodels' Engel food expenditure data (one covariate, heteroscedastic)."""
    import statsmodels.api as sm

    frame = sm.datasets.engel.load_pandas().data
    return RegressionData(frame[["income"]].astype(float), frame["foodexp"].to_numpy(float))


#: ACTG 175 baseline covariates (outcome ``cd420``; post-baseline and derived columns left out).
ACTG_COLUMNS = ["age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "preanti",
                "race", "gender", "str2", "symptom", "arms", "cd40", "cd80"]


def load_actg175() -> RegressionData:
    """lifelines' ACTG 175 file: CD4 count at 20 ± 5 weeks from baseline covariates."""
    import lifelines.datasets

    frame = pd.read_csv(Path(lifelines.datasets.__file__).parent / "ACTG175.csv", index_col=0)
    X = frame[ACTG_COLUMNS].astype(float)
    X["arms"] = pd.Categorical(frame["arms"].astype(str))
    return RegressionData(X.reset_index(drop=True), frame["cd420"].to_numpy(float))


def load_images(n: int = 2000, seed: int = 0) -> RegressionData:
    """``make_regression_images`` with the true mean (noise sd 1)."""
    X, y, mean = su.datasets.make_regression_images(n, random_state=seed, return_risk=True)
    return RegressionData(X, np.asarray(y, float), np.asarray(mean, float), 1.0)


LOADERS: dict[str, Callable[[], RegressionData]] = {
    "diabetes": load_diabetes_data, "autompg": load_autompg, "engel": load_engel,
    "ACTG175": load_actg175, "images": load_images,
}


# -- models -----------------------------------------------------------------------------------
Prediction = tuple[np.ndarray, "np.ndarray | None"]


class StatsmodelsOLS:
    """statsmodels OLS (= Gaussian GLM, identity link) on the dummy-coded design.

    The predictive distribution is ``N(x'b, s²)`` with the unbiased residual variance.
    """

    def fit(self, data: RegressionData, rows: np.ndarray) -> StatsmodelsOLS:
        import statsmodels.api as sm

        X = data.X.iloc[rows][data.features]
        self.coder_ = DummyCoder().fit(X)
        design = sm.add_constant(self.coder_.transform(X), has_constant="add")
        self.result_ = sm.OLS(data.y[rows], design).fit()
        return self

    def predict(self, data: RegressionData, rows: np.ndarray) -> Prediction:
        import statsmodels.api as sm

        design = sm.add_constant(self.coder_.transform(data.X.iloc[rows][data.features]),
                                 has_constant="add")
        mean = np.asarray(self.result_.predict(design), dtype=float)
        return mean, np.full(len(rows), np.sqrt(self.result_.scale))


class GradientBoosting:
    """scikit-learn ``HistGradientBoostingRegressor`` (point predictions only)."""

    def __init__(self, seed: int, max_iter: int = 100) -> None:
        self.seed = seed
        self.max_iter = max_iter

    def fit(self, data: RegressionData, rows: np.ndarray) -> GradientBoosting:
        from sklearn.ensemble import HistGradientBoostingRegressor

        X = data.X.iloc[rows][data.features]
        self.coder_ = DummyCoder().fit(X)
        self.model_ = HistGradientBoostingRegressor(max_iter=self.max_iter,
                                                    random_state=self.seed)
        self.model_.fit(self.coder_.transform(X), data.y[rows])
        return self

    def predict(self, data: RegressionData, rows: np.ndarray) -> Prediction:
        X = self.coder_.transform(data.X.iloc[rows][data.features])
        return self.model_.predict(X), None


class Ours:
    """A ``SemiStructuredRegressor`` (normal family) built from the data set's columns.

    ``build(features, data)`` returns the unfitted estimator; it sees the whole frame
    (with the image column where there is one).
    """

    def __init__(self, build: Callable[[list[str], RegressionData], Any]) -> None:
        self.build = build

    def fit(self, data: RegressionData, rows: np.ndarray) -> Ours:
        X = data.X.iloc[rows].reset_index(drop=True)
        self.estimator_ = self.build(data.features, data).fit(X, data.y[rows])
        return self

    def predict(self, data: RegressionData, rows: np.ndarray) -> Prediction:
        X = data.X.iloc[rows].reset_index(drop=True)
        params = self.estimator_.predict_distribution(X)
        return self.estimator_.predict(X), params["scale"].to_numpy(float)


class Oracle:
    """The true mean and noise of the simulated data: ``N(mean, noise²)``."""

    def fit(self, data: RegressionData, rows: np.ndarray) -> Oracle:
        if data.mean is None:
            raise ValueError("the oracle needs simulated data with a known mean")
        return self

    def predict(self, data: RegressionData, rows: np.ndarray) -> Prediction:
        return data.mean[rows], np.full(len(rows), data.noise)


def gamlss_terms(data: RegressionData) -> tuple[str, list[str]]:
    """Location formula (``s(col)`` for numeric columns with >= 10 values) and scale terms."""
    smooth = [c for c in data.features
              if data.X[c].dtype != "category" and data.X[c].nunique() >= 10]
    terms = [f"s({c})" if c in smooth else c for c in data.features]
    return " + ".join(terms), smooth


def _gamlss(seed: int) -> Ours:
    def build(features: list[str], data: RegressionData) -> Any:
        location, scale = gamlss_terms(data)
        return su.SemiStructuredRegressor(structured=location, scale=scale, tabular=[])
    return Ours(build)


def model_registry(kind: str, epochs: int | None = None,
                   quick: bool = False) -> dict[str, Callable[[int], Any]]:
    """Model factories (seed -> adapter) for ``"tabular"`` or ``"images"`` data."""
    deep = {} if epochs is None else {"max_epochs": epochs}
    models: dict[str, Callable[[int], Any]] = {
        "statsmodels OLS": lambda seed: StatsmodelsOLS(),
        "sklearn HistGB": lambda seed: GradientBoosting(seed, 50 if quick else 100),
        "ours linear": lambda seed: Ours(lambda f, d: su.SemiStructuredRegressor(
            structured=f, tabular=[])),
        "ours GAMLSS (smooth loc + scale)": _gamlss,
        "ours deep (MLP)": lambda seed: Ours(lambda f, d: su.SemiStructuredRegressor(
            tabular=f, random_state=seed, **deep)),
        "ours wide & deep (orthog.)": lambda seed: Ours(lambda f, d: su.SemiStructuredRegressor(
            structured=f, tabular=f, orthogonalize=True, random_state=seed, **deep)),
    }
    if quick:
        models = {k: models[k] for k in ("statsmodels OLS", "sklearn HistGB", "ours linear",
                                          "ours deep (MLP)")}
    if kind != "images":
        return models
    image = {"max_epochs": 30, **deep}
    models["ours structured + image"] = lambda seed: Ours(lambda f, d: su.SemiStructuredRegressor(
        structured=f, tabular=[], image="image", random_state=seed, **image))
    if not quick:
        models["ours wide & deep + image (orthog.)"] = lambda seed: Ours(
            lambda f, d: su.SemiStructuredRegressor(structured=f, image="image",
                                                    orthogonalize=True, random_state=seed,
                                                    **image))
    models["oracle (true mean)"] = lambda seed: Oracle()
    return models


SETTINGS = {
    "statsmodels OLS": "sm.OLS on the dummy-coded design with intercept; predictive "
    "N(x'b, s²), s² = RSS / (n - p)",
    "sklearn HistGB": "HistGradientBoostingRegressor(max_iter=100, other defaults) on the "
    "dummy-coded design; point predictions only",
    "ours linear": "SemiStructuredRegressor(structured=all columns, tabular=[]): classical "
    "normal linear model by maximum likelihood (sd = sqrt(RSS / n))",
    "ours GAMLSS (smooth loc + scale)": "SemiStructuredRegressor(structured='s(num) + ... + "
    "cat', scale=[numeric columns with >= 10 values], tabular=[]): P-splines (4 df) for the "
    "mean, log-linear sd",
    "ours deep (MLP)": "SemiStructuredRegressor(tabular=all columns): intercept + MLP (64, "
    "32), dropout 0.1, AdamW lr 1e-3, batch 256, <= 100 epochs, early stopping 10 on 15 %",
    "ours wide & deep (orthog.)": "SemiStructuredRegressor(structured=all, tabular=all, "
    "orthogonalize=True), other settings default",
    "ours structured + image": "SemiStructuredRegressor(structured=[x1, x2, sex], tabular=[], "
    "image='image', max_epochs=30): linear part + small CNN (joint fusion)",
    "ours wide & deep + image (orthog.)": "SemiStructuredRegressor(structured=[x1, x2, sex], "
    "image='image', orthogonalize=True, max_epochs=30): linear + MLP + CNN",
    "oracle (true mean)": "the simulated mean and noise sd (1.0) of make_regression_images",
}


# -- protocol ---------------------------------------------------------------------------------
def gaussian_scores(y: np.ndarray, mean: np.ndarray, sd: np.ndarray | None) -> dict[str, float]:
    """RMSE, R², and (with ``sd``) Gaussian log-likelihood, CRPS and 90 % coverage."""
    from scipy.stats import norm
    from sklearn.metrics import r2_score

    scores = {"rmse": float(np.sqrt(np.mean((y - mean) ** 2))), "r2": float(r2_score(y, mean)),
              "gaussian_ll": np.nan, "crps": np.nan, "coverage_90": np.nan}
    if sd is not None:
        z = (y - mean) / sd
        crps = sd * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
        scores.update(gaussian_ll=float(np.mean(norm.logpdf(y, mean, sd))),
                      crps=float(np.mean(crps)), coverage_90=float(np.mean(np.abs(z) <= Z_95)))
    return scores


def make_folds(dataset: str, n: int, n_splits: int, repeats: int) -> list[Fold]:
    """``KFold(n_splits, shuffle=True, random_state=repeat)`` for repeats 0, 1, ..."""
    return [Fold(dataset, r, k, train, test)
            for r in range(repeats)
            for k, (train, test) in enumerate(
                KFold(n_splits, shuffle=True, random_state=r).split(np.zeros(n)))]


def run_fold(name: str, factory: Callable[[int], Any], fold: Fold,
             data: RegressionData) -> dict[str, Any]:
    """Fit one model on one fold and score it; a failure is recorded, not raised."""
    record: dict[str, Any] = {"dataset": fold.dataset, "model": name, "repeat": fold.repeat,
                              "fold": fold.fold, "n_train": len(fold.train),
                              "n_test": len(fold.test)}
    start = time.perf_counter()
    try:
        model = factory(1000 * fold.repeat + fold.fold).fit(data, fold.train)
        record["fit_seconds"] = time.perf_counter() - start
        record.update(gaussian_scores(data.y[fold.test], *model.predict(data, fold.test)))
        record["status"] = "ok"
    except Exception as error:  # noqa: BLE001 - a failed model is a result, not a crash
        record["fit_seconds"] = time.perf_counter() - start
        record["status"] = f"error: {type(error).__name__}: {str(error)[:120]}"
    return record


# -- report -----------------------------------------------------------------------------------
def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and count of every metric over the folds of each (data set, model)."""
    ok = results[results["status"] == "ok"]
    return ok.groupby(["dataset", "model"], sort=False)[list(METRICS)].agg(["mean", "std", "count"])


def metric_table(agg: pd.DataFrame, metric: str, models: list[str]) -> str:
    """Data sets as rows, models as columns, ``mean ± sd (folds)`` cells."""
    col = agg[metric]
    digits = 2 if metric in ("rmse", "crps", "fit_seconds", "gaussian_ll") else 3
    cells = (col["mean"].map(lambda v: f"{v:.{digits}f}") + " ± "
             + col["std"].fillna(0.0).map(lambda v: f"{v:.{digits}f}")
             + col["count"].map(lambda c: f" ({c})"))
    cells[col["mean"].isna()] = "—"
    wide = cells.unstack("model").reindex(columns=[m for m in models if m in set(
        agg.index.get_level_values("model"))])
    return to_markdown(wide.fillna("—"))


def write_report(results: pd.DataFrame, stem: Path, *, command: str, models: list[str],
                 notes: list[str]) -> Path:
    """``<stem>.md`` (mean ± sd tables) and ``<stem>.png``; return the markdown path."""
    agg = summary(results)
    lines = header("Benchmark suite `regression`" + (" (quick)" if "quick" in stem.name else ""),
                   command)
    lines += [*notes, ""]
    for metric, label in METRICS.items():
        lines += [f"## {label}", "", metric_table(agg, metric, models), ""]
    lines += ["Cells: mean ± sd over test folds (number of folds); — where a model gives no "
              "predictive distribution.", "", "## Models (no tuning: defaults for all)", ""]
    lines += [f"- **{m}**: {SETTINGS.get(m, '')}" for m in models]
    failed = results[results["status"] != "ok"]
    lines += ["", f"Failed fits: {len(failed)}."]
    lines += [f"- {r.dataset} / {r.model} fold {r.repeat}.{r.fold}: {r.status}"
              for r in failed.itertuples()]
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n")
    plot(results, stem.with_suffix(".png"), models, metric="rmse", label="RMSE (test folds)")
    return md


# -- command line -----------------------------------------------------------------------------
QUICK_DATASETS = ["diabetes", "images"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks regression",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="diabetes and 400 image rows, 2 folds x 1 repeat, 4 models (CI)")
    parser.add_argument("--output", default="benchmarks/results", metavar="DIR")
    parser.add_argument("--datasets", nargs="+", choices=list(LOADERS))
    parser.add_argument("--models", nargs="+", help="model names (default: all)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--image-repeats", type=int, default=1,
                        help="repeats for the image data (default 1: time budget)")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows of an existing CSV and skip those fits")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the markdown and plot from the CSV")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> tuple[dict, dict, list[tuple[str, Fold]]]:
    """Data, per-data-set model registries and the ordered (model, fold) tasks."""
    names = QUICK_DATASETS if args.quick else list(LOADERS)
    names = [d for d in names if not args.datasets or d in args.datasets]
    n_folds, repeats = (2, 1) if args.quick else (args.folds, args.repeats)
    data = {d: load_images(400, 0) if args.quick and d == "images" else LOADERS[d]()
            for d in names}
    registries, tasks = {}, []
    for d in names:
        kind = "images" if d == "images" else "tabular"
        registry = model_registry(kind, epochs=3 if args.quick else None, quick=args.quick)
        registries[d] = {m: f for m, f in registry.items() if not args.models or m in args.models}
        reps = repeats if kind == "tabular" or args.quick else args.image_repeats
        tasks += [(m, f) for f in make_folds(d, len(data[d].y), n_folds, reps)
                  for m in registries[d]]
    return data, registries, tasks


def protocol_notes(args: argparse.Namespace, data: dict[str, RegressionData]) -> list[str]:
    """How the folds were made and what the data are, for the report."""
    sizes = ", ".join(f"{d} n = {len(v.y):,}" for d, v in data.items())
    if args.quick:
        return [f"Protocol (quick): 2-fold CV x 1 repeat (seed 0); {sizes}."]
    return [f"Protocol: {args.folds}-fold CV (shuffled) x {args.repeats} repeats (seeds "
            f"0..{args.repeats - 1}); images: {args.image_repeats} repeat(s) (time budget, 2 "
            "shared CPU cores). Same folds for every model; dummy coding (and our own "
            "standardization) learned on the training fold. " + sizes + ". Images: models "
            "without an image part use x1, x2 and sex only. Torch and BLAS threads: "
            f"{args.threads}."]


def run(args: argparse.Namespace) -> Path:
    """Run (or resume) the suite; write CSV, markdown and plot; return the CSV path."""
    import torch
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    torch.set_num_threads(args.threads)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / ("regression_quick" if args.quick else "regression")
    csv = stem.with_suffix(".csv")
    data, registries, tasks = plan(args)
    done = pd.read_csv(csv) if (args.resume or args.report_only) and csv.exists() \
        else pd.DataFrame(columns=COLUMNS)
    seen = set(zip(done["model"], done["dataset"], done["repeat"], done["fold"]))
    todo = [(m, f) for m, f in tasks if (m, f.dataset, f.repeat, f.fold) not in seen]
    info = machine_info(PACKAGES)
    load_before = load_average()
    if not args.report_only:
        done.to_csv(csv, index=False)
        with threadpool_limits(args.threads):
            for name, fold in tqdm(todo, desc="regression", unit="fit", file=sys.stderr):
                record = run_fold(name, registries[fold.dataset][name], fold, data[fold.dataset])
                pd.DataFrame([record], columns=COLUMNS).to_csv(csv, mode="a", header=False,
                                                               index=False)
    results = pd.read_csv(csv)
    models = list(dict.fromkeys(m for r in registries.values() for m in r))
    extra = [f"{k}: {v}" for k, v in info.items() if k.startswith(("blas", "structunstruct c"))]
    run_line = (f"Load average (1 min) before / after: {load_before} / {load_average()}; "
                + "; ".join(extra) + ".")
    command = args.command
    if args.report_only:  # keep the command and load of the run that made the CSV
        command, run_line = _previous_run(stem.with_suffix(".md"), command, run_line)
    versions = ", ".join(f"{k} {info[k]}" for k in ("statsmodels", "mlxtend"))
    notes = protocol_notes(args, data) + ["", run_line, "", f"Also: {versions}."]
    write_report(results, stem, command=command, models=models, notes=notes)
    return csv


def _previous_run(md: Path, command: str, run_line: str) -> tuple[str, str]:
    """The command and load-average line of an existing report (for ``--report-only``)."""
    if not md.exists():
        return command, run_line
    for line in md.read_text().splitlines():
        if line.startswith("Command: `"):
            command = line.split("`")[1]
        elif line.startswith("Load average"):
            run_line = line
    return command, run_line


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks regression``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.command = command_line(" ".join(["python -m benchmarks regression", *argv]))
    run(args)
