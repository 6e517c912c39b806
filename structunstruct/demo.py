"""The package's main job on embedded data: ``structunstruct demo``.

Part 1, GBSG2 (real data, 686 rows): lifelines' Cox model, our classical Cox model
(same coefficients), DeepSurv and a wide & deep Cox model on one stratified 75/25
split. Part 2, semi-synthetic survival data with MNIST images and a known true risk:
tabular DeepSurv, an image-only CNN, joint fusion and wide & deep joint fusion against
the oracle. Tables go to stdout, progress to stderr, and ``<output>/demo.md`` plus
four PNG plots (survival and calibration, hazard ratios, training curves) are written.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .estimators import DeepSurv
from .metrics import concordance_index_harrell, integrated_brier_score
from .reporting import (
    ModelResult,
    format_markdown,
    gap_closed,
    plot_hazard_ratio_figure,
    plot_survival_check,
    plot_training_curves,
    results_table,
)

IMAGE_TABULAR = ["age", "sex", "biomarker", "noise1", "noise2"]
TABULAR_MODEL = "tabular DeepSurv"
JOINT_MODEL = "joint fusion (CNN + tabular net)"
WIDE_DEEP_JOINT_MODEL = "wide & deep joint (linear + CNN)"
ORACLE_MODEL = "oracle (true risk)"
CLASSICAL_COX = "Cox (structunstruct)"
LIFELINES_COX = "lifelines CoxPHFitter"
GBSG2_HORIZON = 1095.0  # days: calibration of 3-year survival


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs.

    Attributes
    ----------
    quick : bool
        Fewer image rows (1500: 1000 train / 500 test instead of 3000: 2000 / 1000)
        and at most 30 epochs for the image-data models.
    seed : int
        Seeds the data splits, the image data and every network.
    output : Path
        Folder of ``demo.md`` and the plots.
    """

    quick: bool = False
    seed: int = 0
    output: Path = Path("reports")

    @property
    def n_images(self) -> int:
        """Rows of the image data."""
        return 1500 if self.quick else 3000

    @property
    def n_train_images(self) -> int:
        """Training rows of the image data (the rest is the test set)."""
        return 1000 if self.quick else 2000

    @property
    def image_max_epochs(self) -> int:
        """``max_epochs`` of the image-data models."""
        return 20 if self.quick else DeepSurv().max_epochs


class Split(NamedTuple):
    """A train/test split of survival data."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray


@dataclass
class PartResult:
    """Everything one part of the demo reports."""

    title: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)


def describe_models(models: dict[str, Any]) -> dict[str, str]:
    """One-line constructor call of each model, by display name."""
    return {name: " ".join(repr(model).split()) for name, model in models.items()}


def log(message: str) -> None:
    """Progress message on stderr."""
    print(f"[demo] {message}", file=sys.stderr, flush=True)


# -- evaluation ----------------------------------------------------------------------------
def fit_and_evaluate(name: str, model: Any, split: Split) -> ModelResult:
    """Fit ``model`` on the training rows; Harrell C and IBS on the test rows.

    Parameters
    ----------
    name : str
        Display name.
    model : estimator
        Has ``fit(X, y)``, ``predict(X)`` and ``predict_survival_function(X)``
        (a DataFrame, index = time, one column per row).
    split : Split

    Returns
    -------
    ModelResult
    """
    log(f"fitting {name} on {len(split.X_train)} rows ...")
    start = time.perf_counter()
    model.fit(split.X_train, split.y_train)
    seconds = time.perf_counter() - start
    c_index = concordance_index_harrell(split.y_test, model.predict(split.X_test))
    survival = model.predict_survival_function(split.X_test)
    ibs = integrated_brier_score(split.y_test, survival, y_train=split.y_train)
    epochs = len(getattr(model, "history_", []))
    trained = f", {epochs} epochs" if epochs else ""
    log(f"  {name}: C = {c_index:.4f}, IBS = {ibs:.4f}, {seconds:.1f} s{trained}")
    return ModelResult(name, float(c_index), float(ibs), seconds)


def stratified_split(
    X: pd.DataFrame, y: np.ndarray, *, seed: int, train_size: float | int
) -> tuple[Split, np.ndarray]:
    """Train/test split stratified by the event indicator.

    Returns
    -------
    split : Split
    test_index : ndarray of int
        Positions of the test rows in ``X``.
    """
    train, test = train_test_split(
        np.arange(len(X)), train_size=train_size, stratify=y["event"], random_state=seed
    )
    return Split(X.iloc[train], X.iloc[test], y[train], y[test]), test


# -- part 1: GBSG2 -------------------------------------------------------------------------
def dummy_design(X: pd.DataFrame) -> pd.DataFrame:
    """Treatment-coded design named as in ``summary_`` (``col[level]``, first level dropped)."""
    parts: dict[str, pd.Series] = {}
    for col in X.columns:
        column = X[col]
        if isinstance(column.dtype, pd.CategoricalDtype):
            for level in column.cat.categories[1:]:
                parts[f"{col}[{level}]"] = (column == level).astype(float)
        else:
            parts[str(col)] = column.astype(float)
    return pd.DataFrame(parts, index=X.index)


class LifelinesCox:
    """lifelines ``CoxPHFitter`` (Efron ties) on :func:`dummy_design`, with our interface."""

    def __repr__(self) -> str:
        return "lifelines.CoxPHFitter() on the dummy-coded design"

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LifelinesCox:
        """Fit on a DataFrame and a structured (event, time) target."""
        from lifelines import CoxPHFitter

        data = dummy_design(X).assign(__time=y["time"], __event=y["event"].astype(int))
        self.fitter_ = CoxPHFitter().fit(data, duration_col="__time", event_col="__event")
        self.params_ = self.fitter_.params_
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Log partial hazard, shape (n_samples,)."""
        return self.fitter_.predict_log_partial_hazard(dummy_design(X)).to_numpy()

    def predict_survival_function(self, X: pd.DataFrame) -> pd.DataFrame:
        """Survival curves, index = time, one column per row of ``X``."""
        return self.fitter_.predict_survival_function(dummy_design(X))


def gbsg2_models(columns: Sequence[str], seed: int) -> dict[str, Any]:
    """The models of part 1, by display name."""
    columns = list(columns)
    return {
        LIFELINES_COX: LifelinesCox(),
        CLASSICAL_COX: DeepSurv(structured=columns, tabular=[]),
        "DeepSurv (deep tabular)": DeepSurv(random_state=seed),
        "wide & deep Cox": DeepSurv(structured=columns, random_state=seed),
    }


def coefficient_agreement(ours: DeepSurv, reference: LifelinesCox) -> tuple[float, float]:
    """Largest absolute differences of the coefficients and of their standard errors."""
    table = ours.summary_
    coef = (table["coef"] - reference.params_.reindex(table.index)).abs().max()
    se = (table["se"] - reference.fitter_.standard_errors_.reindex(table.index)).abs().max()
    return float(coef), float(se)


def run_gbsg2(settings: DemoSettings) -> PartResult:
    """Part 1: classical and deep Cox models on GBSG2."""
    from .datasets import load_gbsg2

    X, y = load_gbsg2()
    split, _ = stratified_split(X, y, seed=settings.seed, train_size=0.75)
    models = gbsg2_models(X.columns, settings.seed)
    results = [fit_and_evaluate(name, model, split) for name, model in models.items()]
    cox = models[CLASSICAL_COX]
    coef_diff, se_diff = coefficient_agreement(cox, models[LIFELINES_COX])
    figures = [
        plot_survival_check(
            cox, split.X_test, split.y_test, settings.output / "gbsg2_survival.png",
            t=GBSG2_HORIZON,
            title="GBSG2: classical Cox, predicted survival vs Kaplan–Meier and calibration "
            "(test set)",
        ),
        plot_hazard_ratio_figure(
            cox, settings.output / "gbsg2_hazard_ratios.png",
            title="GBSG2: classical Cox, hazard ratios (95% CI)",
        ),
    ]
    notes = [
        f"{len(split.X_train)} training / {len(split.X_test)} test rows (stratified by event).",
        f"Our classical Cox vs lifelines: max |coef difference| = {coef_diff:.1e}, "
        f"max |se difference| = {se_diff:.1e} over {len(cox.summary_)} coefficients.",
    ]
    return PartResult(
        "GBSG2 (real data)", results_table(results), notes, figures, describe_models(models)
    )


# -- part 2: images ------------------------------------------------------------------------
def image_models(settings: DemoSettings) -> dict[str, DeepSurv]:
    """The models of part 2, by display name."""
    common = {"random_state": settings.seed, "max_epochs": settings.image_max_epochs}
    models = {
        TABULAR_MODEL: DeepSurv(tabular=IMAGE_TABULAR, **common),
        "image only (CNN)": DeepSurv(image="image", tabular=[], **common),
        JOINT_MODEL: DeepSurv(image="image", **common),
        WIDE_DEEP_JOINT_MODEL: DeepSurv(
            structured=IMAGE_TABULAR, tabular=[], image="image", **common
        ),
    }
    if settings.quick:  # the quick run (CI) keeps the comparison, not every variant
        del models["image only (CNN)"]
    return models


def add_gaps(results: list[ModelResult], fusion: Sequence[str]) -> None:
    """Fill ``gap_closed`` (tabular model to oracle) in place; the oracle is the last result."""
    c_tab = next(r.c_index for r in results if r.model == TABULAR_MODEL)
    c_oracle = results[-1].c_index
    for r in results:
        if r.model in (*fusion, TABULAR_MODEL, ORACLE_MODEL):
            r.gap_closed = gap_closed(r.c_index, c_tab, c_oracle)


def run_images(settings: DemoSettings) -> PartResult:
    """Part 2: tabular, image and fused models on survival data with MNIST images."""
    from .datasets import make_survival_images

    log(f"generating {settings.n_images} rows of survival data with MNIST images ...")
    X, y, risk = make_survival_images(
        n=settings.n_images, random_state=settings.seed, return_risk=True
    )
    split, test = stratified_split(X, y, seed=settings.seed, train_size=settings.n_train_images)
    oracle = concordance_index_harrell(split.y_test, risk[test])
    models = image_models(settings)
    results = [fit_and_evaluate(name, model, split) for name, model in models.items()]
    results.append(ModelResult(ORACLE_MODEL, float(oracle)))
    add_gaps(results, fusion=(JOINT_MODEL, WIDE_DEEP_JOINT_MODEL))
    figures = _image_figures(models[JOINT_MODEL], split, settings.output)
    notes = [
        f"{settings.n_images} rows: {len(split.X_train)} training / {len(split.X_test)} test "
        f"(stratified by event); max_epochs = {settings.image_max_epochs}, early stopping "
        "after 10 epochs without improvement of the validation loss.",
        "gap closed = (C - C_tabular) / (C_oracle - C_tabular): the share of the "
        "tabular-to-oracle gap a model closes.",
    ]
    table = results_table(results, with_gap=True)
    return PartResult(
        "Survival data with MNIST images", table, notes, figures, describe_models(models)
    )


def _image_figures(model: DeepSurv, split: Split, output: Path) -> list[Path]:
    survival = plot_survival_check(
        model, split.X_test, split.y_test, output / "images_survival.png",
        title="Images: joint fusion, predicted survival vs Kaplan–Meier and calibration "
        "(test set)",
    )
    curves = plot_training_curves(
        model, output / "training_curves.png",
        title="Joint fusion (CNN + tabular net): training curves",
    )
    return [survival, curves]


# -- report --------------------------------------------------------------------------------
def environment() -> dict[str, str]:
    """Machine and package versions for the report."""
    import lifelines
    import sksurv
    import torch

    from . import __version__

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPU cores, "
        f"torch threads {torch.get_num_threads()}, device {device}",
        "versions": f"structunstruct {__version__}, torch {torch.__version__}, "
        f"lifelines {lifelines.__version__}, scikit-survival {sksurv.__version__}",
    }


def report_markdown(settings: DemoSettings, parts: Sequence[PartResult], seconds: float) -> str:
    """The text of ``demo.md``."""
    command = "structunstruct demo" + (" --quick" if settings.quick else "")
    lines = [
        "# structunstruct demo",
        "",
        f"- command: `{command} --seed {settings.seed} --output {settings.output}`",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        *(f"- {key}: {value}" for key, value in environment().items()),
        f"- total runtime: {seconds:.0f} s",
        "",
        "Harrell C (higher is better) and integrated Brier score (IBS, lower is better, "
        "times from the 10th to the 80th percentile of the test event times) on the test "
        "rows; fit s = seconds to fit.",
    ]
    for number, part in enumerate(parts, start=1):
        lines += part_markdown(number, part)
    return "\n".join(lines) + "\n"


def part_markdown(number: int, part: PartResult) -> list[str]:
    """Lines of one part of ``demo.md``: title, table, notes, models and figures."""
    lines = ["", f"## {number}. {part.title}", "", format_markdown(part.table), ""]
    lines += [line for note in part.notes for line in (note, "")]
    if part.models:
        lines += ["Models:", ""] + [f"- {k}: `{v}`" for k, v in part.models.items()] + [""]
    return lines + [f"![{path.stem}]({path.name})" for path in part.figures]


def print_part(part: PartResult) -> None:
    """Print one part's table and notes to stdout."""
    print(f"\n## {part.title}\n\n{format_markdown(part.table)}\n")
    for note in part.notes:
        print(note)
    sys.stdout.flush()


PARTS: tuple[Callable[[DemoSettings], PartResult], ...] = (run_gbsg2, run_images)


def run_demo(settings: DemoSettings) -> Path:
    """Run every part, print the tables and write the report.

    Parameters
    ----------
    settings : DemoSettings

    Returns
    -------
    Path
        The written ``demo.md``.
    """
    start = time.perf_counter()
    settings.output.mkdir(parents=True, exist_ok=True)
    parts = []
    for run_part in PARTS:
        parts.append(run_part(settings))
        print_part(parts[-1])
    seconds = time.perf_counter() - start
    path = settings.output / "demo.md"
    path.write_text(report_markdown(settings, parts, seconds), encoding="utf-8")
    log(f"wrote {path} and {sum(len(p.figures) for p in parts)} plots in {seconds:.0f} s")
    return path


__all__ = ["DemoSettings", "LifelinesCox", "PartResult", "dummy_design", "run_demo"]
