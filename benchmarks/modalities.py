"""Several modalities: the chapter's multimodal survival models on one task with an oracle.

Task (issue 15, "A benchmark task with several modalities"):
``su.datasets.make_survival_multimodal(n, random_state=seed)``: tabular columns (age,
sex, biomarker and two noise columns), two MNIST images (``image_a``, ``image_b``) and
a clinical ``note``, each modality carrying a known, independent part of the true log
hazard ratio (the oracle). The first ``n_train`` rows train, the rest test; one data set
and split per seed. Images are passed at ``--image-size`` pixels (``image_size=``, the same
for every model with images: a property of the task, chosen for the time budget).

Survival models (:data:`MODELS`; every one with the estimator defaults but for what its
row names):

- ``oracle``: the true log-risk and the true survival function
  ``exp(-0.1 t exp(risk))``;
- ``tabular Cox``: classical Cox on every tabular column (the reference of the gap);
- ``image_a only``, ``image_b only``, ``note only``: joint-fusion DeepSurv on one modality;
- ``joint fusion (all)``: ``DeepSurv(image=["image_a", "image_b"], text="note")``;
- ``late fusion``: the same with ``fusion="late"`` (one DeepSurv per modality, log-risks
  averaged);
- ``dropout + similarity`` (Cheerla & Gevaert 2019): ``modality_dropout=0.25,
  similarity_loss=1.0``;
- ``DeepCorrSurv`` (Yao et al. 2017), ``ConcatAE``, ``CrossAE`` (Tong et al. 2020),
  ``CLIP pretraining`` (Radford et al. 2021): ``pretraining="correlation" |
  "autoencoder" | "cross_autoencoder" | "contrastive"`` with ``pretraining_epochs``;
- ``MultiSurv`` (Vale-Silva & Rohr 2021): ``su.MultiSurv`` with its defaults.

A model whose parameter or class does not exist in the installed package is skipped with
a printed note (:func:`missing`), so the same script runs every row once they exist.

Regression (Law, Paige & Russell 2019, house prices from street-view and aerial images):
``make_regression_images(n, n_images=2)``; ``SemiStructuredRegressor`` on the structured
columns alone (the reference), with the two image columns fitted in two stages
(``deep_strategy="two_stage"``) and jointly with the orthogonalization cell
(``orthogonalize=True``). Test RMSE and R², the largest distance of the location
coefficients from the structured-only fit's, fit seconds.

Reported on the test rows: Harrell's C, the integrated Brier score (IBS; 50 times from
the 10th to the 80th percentile of the test event times, censoring weights from the
training rows), the share of the tabular-to-oracle gap closed
``(C - C_tab) / (C_oracle - C_tab)`` and fit seconds; mean ± sd over the seeds.
Every finished (seed, model) fit is appended to the CSV at once and a rerun skips the
fits already there (``--overwrite`` starts afresh); ``--jobs 2`` fits on two processes.

Run: ``python -m benchmarks modalities [--quick] [--only NAME ...] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import inspect
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

import structunstruct as su
from structunstruct.benchmarks.machine import load_average, machine_info
from structunstruct.metrics import (
    concordance_index_harrell,
    default_time_grid,
    integrated_brier_score,
)

TABULAR = ["age", "sex", "biomarker", "noise1", "noise2"]
IMAGES = ["image_a", "image_b"]
TEXT = "note"
BASELINE_HAZARD = 0.1  # make_survival_multimodal's default: S(t | x) = exp(-0.1 t e^risk)
STRUCTURED = ["x1", "x2", "sex"]  # the regression task's structured columns


@dataclass(frozen=True)
class Settings:
    """What every model of one run shares."""

    image_size: int
    max_epochs: int | None  # None: the estimator default
    pretraining_epochs: int

    def common(self, seed: int) -> dict:
        """Seed and, when set, the epoch cap."""
        out: dict = {"random_state": seed}
        if self.max_epochs is not None:
            out["max_epochs"] = self.max_epochs
        return out


@dataclass(frozen=True)
class Model:
    """One row of a table: how to build it and what it needs from the package.

    ``parameters``: DeepSurv parameters it needs; ``classes``: top-level names of
    ``structunstruct`` it needs. ``task``: ``"survival"`` or ``"regression"``.
    """

    name: str
    build: Callable[[int, Settings], object]
    parameters: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    task: str = "survival"
    paper: str = ""


def _deepsurv(seed: int, s: Settings, **params) -> su.DeepSurv:
    modalities = {"image": params.pop("image", IMAGES), "text": params.pop("text", TEXT)}
    if modalities["image"]:
        params.setdefault("image_size", s.image_size)
    return su.DeepSurv(**modalities, **s.common(seed), **params)


def _pretrained(kind: str) -> Callable[[int, Settings], object]:
    def build(seed: int, s: Settings) -> su.DeepSurv:
        return _deepsurv(seed, s, pretraining=kind, pretraining_epochs=s.pretraining_epochs)
    return build


def _multisurv(seed: int, s: Settings):
    return su.MultiSurv(image=IMAGES, text=TEXT, image_size=s.image_size, **s.common(seed))


def _regressor(seed: int, s: Settings, **params) -> su.SemiStructuredRegressor:
    if params.get("image"):
        params.setdefault("image_size", s.image_size)
    return su.SemiStructuredRegressor(structured=STRUCTURED, tabular=[], **s.common(seed), **params)


MODELS: dict[str, Model] = {m.name: m for m in (
    Model("tabular Cox", lambda seed, s: su.DeepSurv(structured=TABULAR, tabular=[]),
          paper="Cox 1972"),
    Model("image_a only", lambda seed, s: _deepsurv(seed, s, image="image_a", text=None,
                                                    tabular=[]), paper="DeepConvSurv"),
    Model("image_b only", lambda seed, s: _deepsurv(seed, s, image="image_b", text=None,
                                                    tabular=[]), paper="DeepConvSurv"),
    Model("note only", lambda seed, s: _deepsurv(seed, s, image=None, tabular=[])),
    Model("joint fusion (all)", lambda seed, s: _deepsurv(seed, s), paper="Huang et al. 2020"),
    Model("late fusion", lambda seed, s: _deepsurv(seed, s, fusion="late"),
          paper="Huang et al. 2020"),
    Model("dropout + similarity",
          lambda seed, s: _deepsurv(seed, s, modality_dropout=0.25, similarity_loss=1.0),
          parameters=("similarity_loss",), paper="Cheerla & Gevaert 2019"),
    Model("DeepCorrSurv", _pretrained("correlation"),
          parameters=("pretraining", "pretraining_epochs"), paper="Yao et al. 2017"),
    Model("ConcatAE", _pretrained("autoencoder"),
          parameters=("pretraining", "pretraining_epochs"), paper="Tong et al. 2020"),
    Model("CrossAE", _pretrained("cross_autoencoder"),
          parameters=("pretraining", "pretraining_epochs"), paper="Tong et al. 2020"),
    Model("CLIP pretraining", _pretrained("contrastive"),
          parameters=("pretraining", "pretraining_epochs"), paper="Radford et al. 2021"),
    Model("MultiSurv", _multisurv, classes=("MultiSurv",), paper="Vale-Silva & Rohr 2021"),
    Model("structured only", lambda seed, s: _regressor(seed, s), task="regression",
          paper="linear model"),
    Model("Law et al. two-stage", lambda seed, s: _regressor(seed, s, image=IMAGES,
                                                             deep_strategy="two_stage"),
          task="regression", paper="Law et al. 2019"),
    Model("Law et al. joint, orthogonalized",
          lambda seed, s: _regressor(seed, s, image=IMAGES, orthogonalize=True),
          task="regression", paper="Law et al. 2019"),
)}
REFERENCE = {"survival": "tabular Cox", "regression": "structured only"}


def missing(model: Model) -> str | None:
    """Why ``model`` cannot run with the installed package (None when it can)."""
    absent = [name for name in model.classes if not hasattr(su, name)]
    if absent:
        return f"structunstruct has no {', '.join(absent)} yet"
    known = inspect.signature(su.DeepSurv).parameters
    absent = [name for name in model.parameters if name not in known]
    if absent:
        return f"DeepSurv has no parameter {', '.join(absent)} yet"
    return None


# -- one fit -------------------------------------------------------------------------------
SURVIVAL_COLUMNS = ["seed", "model", "c_index", "ibs", "fit_seconds", "epochs"]
REGRESSION_COLUMNS = ["seed", "model", "rmse", "r2", "coef_shift", "fit_seconds", "epochs"]


def survival_data(seed: int, n: int):
    """The seed's multimodal survival data set (X, y, true risk)."""
    return su.datasets.make_survival_multimodal(n, random_state=seed, return_risk=True)


def fit_survival(seed: int, name: str, n: int, n_train: int, settings: Settings) -> dict:
    """Fit one survival model on the seed's training rows; its test scores as a CSV row."""
    X, y, risk = survival_data(seed, n)
    train, test = slice(0, n_train), slice(n_train, None)
    grid = default_time_grid(y[test])
    if name == "oracle":
        survival = np.exp(-BASELINE_HAZARD * np.outer(np.exp(risk[test]), grid))
        return {"seed": seed, "model": name, "c_index": concordance_index_harrell(y[test], risk[test]),
                "ibs": integrated_brier_score(y[test], survival, y_train=y[train], times=grid),
                "fit_seconds": 0.0}
    start = time.perf_counter()
    model = MODELS[name].build(seed, settings).fit(X[train], y[train])
    seconds = time.perf_counter() - start
    survival = model.predict_survival_function(X[test], times=grid)
    return {"seed": seed, "model": name,
            "c_index": concordance_index_harrell(y[test], model.predict(X[test])),
            "ibs": integrated_brier_score(y[test], survival, y_train=y[train], times=grid),
            "fit_seconds": seconds, "epochs": _epochs(model)}


def fit_regression(seed: int, name: str, n: int, n_train: int, settings: Settings) -> dict:
    """Fit one regressor (or score the true mean, ``"oracle"``); its test scores as a row."""
    X, y, mean = su.datasets.make_regression_images(n, n_images=2, random_state=seed,
                                                    return_risk=True)
    train, test = slice(0, n_train), slice(n_train, None)
    if name == "oracle":
        return {"seed": seed, "model": name, **_regression_scores(y[test], mean[test]),
                "fit_seconds": 0.0}
    start = time.perf_counter()
    model = MODELS[name].build(seed, settings).fit(X[train], y[train])
    seconds = time.perf_counter() - start
    reference = MODELS["structured only"].build(seed, settings).fit(X[train], y[train])
    shift = np.max(np.abs(model.coef_ - reference.coef_))
    return {"seed": seed, "model": name, **_regression_scores(y[test], model.predict(X[test])),
            "coef_shift": shift, "fit_seconds": seconds, "epochs": _epochs(model)}


def _regression_scores(y: np.ndarray, prediction: np.ndarray) -> dict:
    residual = y - prediction
    return {"rmse": float(np.sqrt(np.mean(residual**2))),
            "r2": float(1.0 - np.sum(residual**2) / np.sum((y - y.mean()) ** 2))}


def _epochs(model) -> float:
    history = getattr(model, "history_", None)
    return float(len(history)) if history else float("nan")


def run_task(task: tuple) -> tuple[str, dict]:
    """Worker entry point: ``(kind, seed, name, n, n_train, settings)`` → ``(kind, row)``."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    kind, seed, name, n, n_train, settings = task
    fit = fit_survival if kind == "survival" else fit_regression
    return kind, fit(seed, name, n, n_train, settings)


# -- results -------------------------------------------------------------------------------
def load_results(path: Path, columns: list[str]) -> pd.DataFrame:
    """Rows already in the CSV (none when it does not exist)."""
    if not path.exists():
        return pd.DataFrame(columns=columns)
    return pd.read_csv(path).reindex(columns=columns)


def append_record(path: Path, record: dict, columns: list[str]) -> None:
    """Append one row to the CSV (with the header when the file is new)."""
    pd.DataFrame([record]).reindex(columns=columns).to_csv(
        path, mode="a", header=not path.exists(), index=False)


def gap_closed(results: pd.DataFrame) -> pd.DataFrame:
    """Share of the tabular-to-oracle gap closed, per seed (rows) and model (columns)."""
    wide = results.pivot(index="seed", columns="model", values="c_index")
    if "oracle" not in wide or REFERENCE["survival"] not in wide:
        return pd.DataFrame(index=wide.index)
    reference = wide[REFERENCE["survival"]]
    gap = wide["oracle"] - reference
    return pd.DataFrame({m: (wide[m] - reference) / gap for m in wide.columns
                         if m not in (REFERENCE["survival"], "oracle")})


def _pm(values: pd.Series, digits: int = 3) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    if len(values) == 1:
        return f"{values.mean():.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def survival_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model: seeds, C, IBS, gap closed (mean ± sd), fit seconds."""
    closed = gap_closed(results)
    rows = {}
    for name in ["oracle", *[m for m in MODELS if MODELS[m].task == "survival"]]:
        part = results[results["model"] == name]
        if part.empty:
            continue
        share = closed[name] if name in closed else pd.Series(dtype=float)
        rows[name] = {
            "paper": MODELS[name].paper if name in MODELS else "",
            "seeds": part["seed"].nunique(),
            "Harrell C": _pm(part["c_index"]), "IBS": _pm(part["ibs"]),
            "gap closed": _pm(share, 2),
            "fit s": _pm(part["fit_seconds"], 0), "epochs": _pm(part["epochs"], 0),
        }
    return pd.DataFrame(rows).T.rename_axis("model")


def _largest(values: pd.Series) -> str:
    values = values.dropna()
    return "" if values.empty else f"{values.max():.1e} (largest)"


def regression_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per regression model: RMSE, R², coefficient shift, fit seconds."""
    rows = {}
    for name in ["oracle", *[m for m in MODELS if MODELS[m].task == "regression"]]:
        part = results[results["model"] == name]
        if part.empty:
            continue
        rows[name] = {"paper": MODELS[name].paper if name in MODELS else "true mean",
                      "seeds": part["seed"].nunique(), "test RMSE": _pm(part["rmse"]),
                      "test R²": _pm(part["r2"]),
                      "max abs(coef - structured-only coef)": _largest(part["coef_shift"]),
                      "fit s": _pm(part["fit_seconds"], 0)}
    return pd.DataFrame(rows).T.rename_axis("model")


# -- the run -------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=3000, help="rows per seed (survival)")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-law", type=int, default=1500, help="rows per seed (regression)")
    parser.add_argument("--n-train-law", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=14,
                        help="pixels of the images as every model gets them (28: the originals)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="cap on training epochs (default: each estimator's own)")
    parser.add_argument("--pretraining-epochs", type=int, default=10)
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(MODELS),
                        help=f"models to fit (the reference is always fitted); "
                             f"names: {', '.join(MODELS)}")
    parser.add_argument("--jobs", type=int, default=1, help="fits in parallel processes")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: one seed, n=600, at most 3 epochs; written to a "
                             "temporary folder unless --output is given")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--overwrite", action="store_true",
                        help="discard earlier rows of the CSVs instead of resuming")
    parser.add_argument("--note", default="", help="free text for the report")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.n, args.n_train = args.seeds[:1], 600, 400
        args.n_law, args.n_train_law = 600, 400
        args.max_epochs, args.pretraining_epochs = 3, 1
        if args.output == Path("benchmarks/results"):  # never over the committed results
            args.output = Path(tempfile.mkdtemp(prefix="modalities_quick_"))
    return args


def chosen_models(only: list[str] | None) -> list[str]:
    """The models to fit: ``only`` plus the reference of each task it touches; skips reported."""
    names = list(MODELS) if only is None else list(only)
    for task, reference in REFERENCE.items():
        if any(MODELS[m].task == task for m in names) and reference not in names:
            names.insert(0, reference)
    runnable = []
    for name in names:
        reason = missing(MODELS[name])
        if reason is None:
            runnable.append(name)
        else:
            print(f"skipped {name!r}: {reason}", file=sys.stderr)
    return runnable


def tasks(args: argparse.Namespace, names: list[str], done: set) -> list[tuple]:
    """The (kind, seed, name, n, n_train, settings) still to run, longest kinds first."""
    settings = Settings(args.image_size, args.max_epochs, args.pretraining_epochs)
    sizes = {"survival": (args.n, args.n_train), "regression": (args.n_law, args.n_train_law)}
    out = []
    for seed in args.seeds:
        for name in ["oracle", *names]:
            kinds = ([MODELS[name].task] if name in MODELS
                     else sorted({MODELS[m].task for m in names}))
            out += [(kind, seed, name, *sizes[kind], settings) for kind in kinds
                    if (kind, seed, name) not in done]
    return out


def run(args: argparse.Namespace, names: list[str], paths: dict[str, Path]) -> None:
    """Fit what is not in the CSVs yet, appending each row as it finishes."""
    columns = {"survival": SURVIVAL_COLUMNS, "regression": REGRESSION_COLUMNS}
    done = {(kind, int(seed), model) for kind, path in paths.items()
            for seed, model in zip(*load_results(path, columns[kind])[["seed", "model"]].T.values)}
    todo = tasks(args, names, done)

    def record(kind: str, row: dict) -> None:
        append_record(paths[kind], row, columns[kind])
        print(f"seed {row['seed']} {row['model']}: "
              + " ".join(f"{k}={row[k]:.4f}" for k in columns[kind][2:] if k in row),
              file=sys.stderr, flush=True)

    if args.jobs <= 1:
        for task in todo:
            record(*run_task(task))
        return
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for kind, row in pool.map(run_task, todo):
            record(kind, row)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (resuming from the CSVs) and write ``modalities.md``."""
    args = parse_args(argv)
    names = chosen_models(args.only)
    args.output.mkdir(parents=True, exist_ok=True)
    paths = {"survival": args.output / "modalities.csv",
             "regression": args.output / "modalities_law.csv"}
    for path in paths.values():
        if args.overwrite and path.exists():
            path.unlink()
    start, load = time.perf_counter(), load_average()
    info = machine_info(["torch", "numpy", "scikit-survival"])
    run(args, names, paths)
    wall = time.perf_counter() - start
    survival = load_results(paths["survival"], SURVIVAL_COLUMNS)
    regression = load_results(paths["regression"], REGRESSION_COLUMNS)
    keep = ["oracle", *names]
    survival = survival[survival["seed"].isin(args.seeds) & survival["model"].isin(keep)]
    regression = regression[regression["seed"].isin(args.seeds) & regression["model"].isin(keep)]
    command = "python -m benchmarks modalities " + shlex.join(
        _elide_note(sys.argv[2:] if argv is None else argv))
    text = report(args, survival, regression, command, {**info, "load average (start)": load,
                                                        "wall-clock (s)": f"{wall:.0f}"})
    (args.output / "modalities.md").write_text(text)
    print(text)


def _elide_note(argv: list[str]) -> list[str]:
    """The options with the text of ``--note`` shown as "…" (it is printed below them)."""
    out = list(argv)
    for i, option in enumerate(out[:-1]):
        if option == "--note":
            out[i + 1] = "…"
    return out


def report(args: argparse.Namespace, survival: pd.DataFrame, regression: pd.DataFrame,
           command: str, info: dict[str, str]) -> str:
    """The Markdown report: command, machine, both tables, per-seed gap shares."""
    skipped = [f"{m} ({missing(MODELS[m])})" for m in MODELS if missing(MODELS[m])]
    lines = [
        "# Several modalities: the chapter's multimodal survival models against an oracle", "",
        f"Command: `{command}`  ",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()) + "  ",
        f"Threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"{args.jobs} process(es); the wall-clock counts this invocation's fits only (rows "
        "resumed from the CSV not).",
        "",
        f"Task: `make_survival_multimodal(n={args.n})`, first {args.n_train} rows train, "
        f"{args.n - args.n_train} test, seeds {args.seeds}; images at {args.image_size}×"
        f"{args.image_size} pixels for every model (`image_size={args.image_size}`); epochs: "
        + ("estimator defaults (early stopping)" if args.max_epochs is None
           else f"at most {args.max_epochs}")
        + f"; pretraining rows `pretraining_epochs={args.pretraining_epochs}`. Otherwise "
        "default settings; nothing was tuned on these seeds. Harrell C and integrated Brier "
        "score (IBS, lower is better) on the test rows, mean ± sd over seeds; gap closed = "
        "(C - C_tabular Cox) / (C_oracle - C_tabular Cox).", "",
    ]
    if args.note:
        lines += [args.note, ""]
    if skipped:
        lines += ["Not run (not in this version of the package): " + "; ".join(skipped) + ".", ""]
    if not survival.empty:
        lines += [survival_table(survival).to_markdown(), "",
                  "Gap closed per seed:", "", gap_closed(survival).round(3).to_markdown(), ""]
    if not regression.empty:
        lines += [
            "## Law et al. 2019: two image columns in a semi-interpretable regression", "",
            f"`make_regression_images(n={args.n_law}, n_images=2)` (a normal mean of x1, x2, "
            f"sex and one digit part per image column, noise sd 1), first {args.n_train_law} "
            f"rows train, {args.n_law - args.n_train_law} test, the same seeds; "
            "`SemiStructuredRegressor(structured=['x1', 'x2', 'sex'], tabular=[])` alone and "
            "with `image=['image_a', 'image_b']` (one encoder per column). The last column is "
            "the largest distance of the location coefficients from the structured-only "
            "fit's: orthogonalization (two-stage or in the network) keeps them.", "",
            regression_table(regression).to_markdown(), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
