"""Reports of the benchmark suites: tidy CSV in, markdown table (mean ± sd) and PNG out.

Every report states the command, the package versions and the machine.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PACKAGES = ("structunstruct", "torch", "numpy", "pandas", "scikit-learn", "scikit-survival",
            "lifelines", "pycox", "torchtuples")
METRICS = {"harrell_c": "Harrell C", "uno_c": "Uno C", "ibs": "IBS", "td_auc": "td-AUC"}
#: Harrell C of lifelines CoxPH / sksurv RSF measured on this machine with this protocol
#: (issue "benchmark suite", done-criterion 1).
REFERENCE = {"GBSG2": (0.676, 0.693), "WHAS500": (0.771, 0.770), "FLCHAIN": (0.796, 0.790),
             "veterans": (0.696, 0.670), "AIDS": (0.732, 0.742)}


def versions() -> str:
    """``name version`` of every package the suites use."""
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def machine() -> str:
    """CPU, cores, OS and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} logical cores (shared), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def command_line(default: str) -> str:
    """The command that is running, as typed (``default`` when not a known entry point)."""
    program = Path(sys.argv[0]).name
    if program == "structunstruct":
        return " ".join(["structunstruct", *sys.argv[1:]])
    return default


def header(title: str, command: str) -> list[str]:
    """Title, command, date, machine and versions as markdown lines."""
    return [f"# {title}", "", f"Command: `{command}`  ", f"Date: {dt.date.today()}  ",
            f"Machine: {machine()}  ", f"Packages: {versions()}", ""]


def summarise(results: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, sd and count of every metric over the folds of each group."""
    ok = results[results["status"] == "ok"]
    agg = ok.groupby(by, sort=False)[[*METRICS, "fit_seconds"]].agg(["mean", "std", "count"])
    return agg


def mean_sd(agg: pd.DataFrame, metric: str) -> pd.Series:
    """``mean ± sd (n)`` strings of one metric."""
    col = agg[metric]
    sd = col["std"].fillna(0.0)
    return (col["mean"].map("{:.3f}".format) + " ± " + sd.map("{:.3f}".format)
            + col["count"].map(lambda n: f" ({n})"))


def metric_table(agg: pd.DataFrame, metric: str, models: list[str]) -> str:
    """Data sets as rows, models as columns, ``mean ± sd (folds)`` cells."""
    wide = mean_sd(agg, metric).unstack("model").reindex(columns=models)
    return to_markdown(wide.fillna("—"))


def to_markdown(frame: pd.DataFrame) -> str:
    """A pipe table (no tabulate dependency); the index becomes the first column."""
    cols = [str(frame.index.name or ""), *map(str, frame.columns)]
    rows = [[str(i), *map(str, r)] for i, r in zip(frame.index, frame.to_numpy())]
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def reference_lines(agg: pd.DataFrame) -> list[str]:
    """Criterion 1: lifelines Cox and RSF against the reference figures (all folds)."""
    c = agg["harrell_c"]
    lines = ["| data set | lifelines CoxPH | sksurv RSF |", "| --- | --- | --- |"]
    for dataset in c.index.get_level_values("dataset").unique():
        rows, ref = c.loc[dataset], REFERENCE.get(dataset)
        cells = [_with_ref(rows.loc[m] if m in rows.index else None, ref, i)
                 for i, m in enumerate(("lifelines CoxPH", "sksurv RSF"))]
        lines.append(f"| {dataset} | {cells[0]} | {cells[1]} |")
    return lines


def _with_ref(row: Any, ref: tuple[float, float] | None, i: int) -> str:
    if row is None:
        return "—"
    text = f"{row['mean']:.3f} ± {np.nan_to_num(row['std']):.3f}"
    if ref is None:
        return text + " (no reference)"
    inside = abs(row["mean"] - ref[i]) <= np.nan_to_num(row["std"])
    return f"{text} (ref {ref[i]:.3f}: {'within' if inside else 'OUTSIDE'} 1 SD)"


def paired_lines(results: pd.DataFrame) -> list[str]:
    """Criterion 2 on common folds: our best model against lifelines Cox and RSF.

    For each data set, our model with the largest mean paired gain over lifelines Cox
    (so models run on fewer folds compete fairly); lifelines Cox and RSF are averaged
    over the same (repeat, fold) pairs. "at least as good" means
    ``C_ours >= C_cox - 0.5 sd(C_cox)``.
    """
    ok = results[results["status"] == "ok"]
    wide = ok.pivot_table(index=["dataset", "repeat", "fold"], columns="model",
                          values="harrell_c")
    lines = ["| data set | best of ours (folds) | ours | lifelines CoxPH | sksurv RSF | "
             "≥ Cox − 0.5 SD | > RSF |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for dataset, sub in wide.groupby(level="dataset"):
        ours = [m for m in sub.columns if m.startswith("ours") and sub[m].notna().any()]
        if not ours:
            continue
        base = sub.get("lifelines CoxPH", pd.Series(0.0, index=sub.index))
        best = max(ours, key=lambda m: (sub[m] - base).mean())
        common = sub[sub[best].notna()]
        cox, rsf = (common.get(m, pd.Series(dtype=float)) for m in ("lifelines CoxPH", "sksurv RSF"))
        c_best = common[best].mean()
        ok_cox = "—" if cox.isna().all() else ("yes" if c_best >= cox.mean() - 0.5 * cox.std()
                                                else "no")
        ok_rsf = "—" if rsf.isna().all() else ("yes" if c_best > rsf.mean() else "no")
        lines.append(f"| {dataset} | {best} ({len(common)}) | {c_best:.3f} | {cox.mean():.3f} ± "
                     f"{cox.std():.3f} | {rsf.mean():.3f} | {ok_cox} | {ok_rsf} |")
    return lines


def plot(results: pd.DataFrame, path: Path, models: list[str], metric: str = "harrell_c",
         label: str = "Harrell C (test folds)") -> None:
    """``metric`` per test fold: one panel per data set, one box per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = results[results["status"] == "ok"]
    datasets = list(dict.fromkeys(ok["dataset"]))
    fig, axes = plt.subplots(1, max(len(datasets), 1), figsize=(3.3 * max(len(datasets), 1), 4.6),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        sub = ok[ok["dataset"] == dataset]
        present = [m for m in models if m in set(sub["model"])]
        ax.boxplot([sub.loc[sub["model"] == m, metric] for m in present])
        ax.set_xticks(range(1, len(present) + 1), present, rotation=90, fontsize=7)
        ax.set_title(dataset)
    axes[0][0].set_ylabel(label)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: pd.DataFrame, stem: Path, *, suite: str, command: str,
                 settings: dict[str, str], missing: list, quick: bool = False,
                 notes: list[str] | None = None) -> Path:
    """Write ``<stem>.md`` and ``<stem>.png`` from the tidy results; return the md path."""
    models = list(settings)
    agg = summarise(results, ["dataset", "model"])
    lines = header(f"Benchmark suite `{suite}`" + (" (quick)" if quick else ""), command)
    lines += [*(notes or []), ""]
    for metric, label in METRICS.items():
        lines += [f"## {label}" + (" (lower is better)" if metric == "ibs" else ""), "",
                  metric_table(agg, metric, models), ""]
    lines += ["## Fit seconds (mean ± sd, folds)", "", metric_table(agg, "fit_seconds", models),
              "", "## Criterion 1: reference figures (Harrell C, all folds)", "",
              *reference_lines(agg), "", "## Criterion 2: our best model on the same folds", "",
              *paired_lines(results), ""]
    failed = results[results["status"] != "ok"]
    lines += ["## Model settings (no tuning: same zero budget for all)", ""]
    lines += [f"- **{m}**: {s}" for m, s in settings.items()]
    lines += ["", f"Failed fits: {len(failed)}."]
    lines += [f"- {r.dataset} / {r.model} fold {r.repeat}.{r.fold}: {r.status}"
              for r in failed.itertuples()]
    lines += ["", f"Missing (not run within the time budget): {len(missing)} fits."]
    lines += _missing_summary(missing)
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n")
    plot(results, stem.with_suffix(".png"), models)
    return md


def _missing_summary(missing: list) -> list[str]:
    counts: dict[tuple[str, str], int] = {}
    for model, dataset, _ in missing:
        counts[(dataset, model)] = counts.get((dataset, model), 0) + 1
    return [f"- {d} / {m}: {n} folds" for (d, m), n in counts.items()]
