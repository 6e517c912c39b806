"""``speed`` suite: fit time against n of the Cox and PAMM heads, and DeepSurv epochs.

Run: ``python -m benchmarks speed [--quick] [--output DIR]`` or
``structunstruct benchmark speed [--quick]``. Three parts, each run by the script that
owns it (nothing is re-implemented here):

- ``cox``: the classical Cox fit (``DeepSurv(structured=..., tabular=[])``) against
  lifelines, scikit-survival and statsmodels ``PHReg`` for several n and two tie regimes
  (:mod:`structunstruct.benchmarks.cox_speed`: every package in its own forked process);
- ``pamm``: the PED split and the classical ``DeepPAMM`` fit against statsmodels' Poisson
  GLM on the same PED for several n (:mod:`structunstruct.benchmarks.pamm_speed`);
- ``deepsurv``: DeepSurv training epochs against pycox ``CoxPH`` on the same network and
  batch size (:mod:`structunstruct.benchmarks.deepsurv_epoch`).

Results: ``speed.csv`` (tidy: one row per part, setting, n and package), ``speed.md``
(tables and the two speed criteria) and ``speed.png`` (time against n); ``--quick``
writes ``speed_quick.*``. Times are medians of repeated runs of one session, reported
with ratios; the machine's load average is recorded with them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import cox_speed, deepsurv_epoch, pamm_speed
from .machine import load_average, machine_info
from .report import command_line, to_markdown

PACKAGES = ["numpy", "scipy", "pandas", "torch", "lifelines", "scikit-survival", "statsmodels",
            "pycox", "torchtuples", "structunstruct"]
COLUMNS = ["part", "setting", "dataset", "n", "package", "status", "seconds", "cpu_seconds",
           "repeats", "relative_to_ours", "load_average", "note"]
PARTS = ("cox", "pamm", "deepsurv")
STATSMODELS_COX = "statsmodels PHReg"
PAMM_OURS = "structunstruct DeepPAMM.fit (end to end)"
PAMM_STATSMODELS = "statsmodels GLM(Poisson, offset).fit"
#: Acceptance criteria of the speed suite.
COX_CRITERION_N, COX_CRITERION_SPEEDUP = 100_000, 10.0
EPOCH_CRITERION_RATIO = 0.7


@dataclass
class Plan:
    """Sizes and budgets of one run (quick or full)."""

    cox_sizes: list[int]
    cox_decimals: list[int]
    cox: cox_speed.Settings
    statsmodels_timeout: float
    pamm_sizes: list[int]
    pamm_repeats: int
    deepsurv_argv: list[str] = field(default_factory=list)
    #: (command, machine info, stem) when the DeepSurv part also writes its own report.
    epoch_report: tuple[str, dict[str, str], Path] | None = None


def make_plan(quick: bool, threads: int) -> Plan:
    """The quick (CI, about a minute) or full (about 20 minutes on 2 cores) plan."""
    if quick:
        return Plan(
            cox_sizes=[1_000, 10_000], cox_decimals=[2],
            cox=cox_speed.Settings(1, 0.0, 60.0, 10_000, 60.0, 0.0, threads),
            statsmodels_timeout=60.0, pamm_sizes=[1_000, 5_000], pamm_repeats=1,
            deepsurv_argv=["--datasets", "METABRIC", "--batch-sizes", "256", "--epochs", "3",
                           "--repeats", "1", "--threads", str(threads)],
        )
    return Plan(
        cox_sizes=[1_000, 10_000, 100_000], cox_decimals=[2, 6],
        cox=cox_speed.Settings(3, 60.0, 600.0, 100_000, 300.0, 30.0, threads),
        statsmodels_timeout=300.0, pamm_sizes=[1_000, 10_000, 100_000], pamm_repeats=3,
        deepsurv_argv=["--threads", str(threads)],
    )


# -- Cox -------------------------------------------------------------------------------------
def fit_statsmodels_cox(data: cox_speed.CoxData) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels ``PHReg(ties="efron").fit()``: coefficients and standard errors."""
    from statsmodels.duration.hazard_regression import PHReg

    result = PHReg(data.time, data.X, status=data.event.astype(float), ties="efron").fit()
    return np.asarray(result.params), np.asarray(result.bse)


def cox_part(plan: Plan, tick: Callable[[], None]) -> pd.DataFrame:
    """Every tie regime and size of :mod:`structunstruct.benchmarks.cox_speed`, plus statsmodels."""
    cox_speed._import_packages()
    rows = []
    for decimals in plan.cox_decimals:
        for n in plan.cox_sizes:
            data = cox_speed.simulate(n, 10, decimals, seed=0)
            timings = cox_speed.run_configuration(data, plan.cox)
            timings.append(cox_speed.time_fit(
                STATSMODELS_COX, fit_statsmodels_cox, data, plan.cox.repeats, plan.cox.budget,
                plan.statsmodels_timeout, plan.cox.blas_threads))
            load = load_average()
            for row in cox_speed.tidy_rows(data, timings):
                rows.append(_cox_row(row, decimals, load))
            tick()
    return pd.DataFrame(rows, columns=COLUMNS)


def _cox_row(row: dict, decimals: int, load: str) -> dict:
    regime = "heavy" if decimals <= 3 else "light"
    return {
        "part": "cox", "setting": f"times rounded to {decimals} decimals ({regime} ties)",
        "dataset": f"simulated, p = {row['p']}, {row['unique_times']:,} unique times",
        "n": row["n"], "package": row["package"], "status": row["status"],
        "seconds": row["seconds"], "cpu_seconds": row["cpu_seconds"], "repeats": row["repeats"],
        "relative_to_ours": row["speedup_of_deepsurv_fit"], "load_average": load,
        "note": _join(row["note"], _agreement(row)),
    }


def _agreement(row: dict) -> str:
    diff = row["max_abs_coef_diff_vs_lifelines"]
    return "" if pd.isna(diff) else f"max |Δcoef| vs lifelines {diff:.1e}"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# -- PAMM ------------------------------------------------------------------------------------
def pamm_part(plan: Plan, tick: Callable[[], None]) -> pd.DataFrame:
    """:func:`structunstruct.benchmarks.pamm_speed.run` for every size (20 intervals, p = 8)."""
    from threadpoolctl import threadpool_limits

    rows = []
    for n in plan.pamm_sizes:
        with threadpool_limits(plan.cox.blas_threads):
            steps, accuracy = pamm_speed.run(n, 8, 20, plan.pamm_repeats, 1, seed=0)
        ours = next(s["seconds"] for s in steps if s["step"] == PAMM_OURS)
        load = load_average()
        for step in steps:
            note = ""
            if step["step"] == PAMM_STATSMODELS:
                note = (f"{step['ped_rows']:,} PED rows; max |Δcoef| vs ours "
                        f"{accuracy['max |coef - statsmodels|']:.1e}, max relative Δse "
                        f"{accuracy['max rel. se difference']:.1e}")
            rows.append({
                "part": "pamm", "setting": f"{step['intervals']} intervals",
                "dataset": "simulated, p = 8 + one 3-level factor", "n": n,
                "package": step["step"], "status": "ok", "seconds": step["seconds"],
                "cpu_seconds": float("nan"),
                "repeats": 1 if step["step"] == PAMM_STATSMODELS else plan.pamm_repeats,
                "relative_to_ours": step["seconds"] / ours, "load_average": load, "note": note,
            })
        tick()
    return pd.DataFrame(rows, columns=COLUMNS)


# -- DeepSurv epochs ---------------------------------------------------------------------------
def deepsurv_part(plan: Plan, tick: Callable[[], None]) -> pd.DataFrame:
    """:func:`structunstruct.benchmarks.deepsurv_epoch.run`: seconds per epoch, ours against pycox."""
    args = deepsurv_epoch.parse_args(plan.deepsurv_argv)
    results = deepsurv_epoch.run(args, tick)
    if plan.epoch_report is not None:  # the full run also refreshes deepsurv_epoch.{csv,md}
        command, info, stem = plan.epoch_report
        info = {**info, "load average (1 min) at the end": load_average()}
        deepsurv_epoch.write_results(results, stem, command, info, args)
    rows = []
    for r in results.itertuples():
        ours = results.loc[(results["dataset"] == r.dataset) & (results["batch_size"] == r.batch_size)
                           & (results["package"] == deepsurv_epoch.OURS), "seconds_per_epoch"]
        rows.append({
            "part": "deepsurv", "setting": f"batch {r.batch_size}", "dataset": r.dataset,
            "n": r.n, "package": r.package, "status": "ok", "seconds": r.seconds_per_epoch,
            "cpu_seconds": r.cpu_seconds_per_epoch, "repeats": r.timed_epochs,
            "relative_to_ours": r.seconds_per_epoch / float(ours.iloc[0]),
            "load_average": f"{r.load_average_max:.2f}",
            "note": f"{r.epochs} epochs per run, {r.repeats} runs; ratio to pycox "
                    f"{r.ratio_to_pycox:.2f} (wall), {r.cpu_ratio_to_pycox:.2f} (CPU)",
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def n_ticks(plan: Plan, parts: list[str]) -> int:
    """Progress-bar steps of a run."""
    counts = {
        "cox": len(plan.cox_sizes) * len(plan.cox_decimals),
        "pamm": len(plan.pamm_sizes),
        "deepsurv": deepsurv_epoch.n_tasks(deepsurv_epoch.parse_args(plan.deepsurv_argv)),
    }
    return sum(counts[p] for p in parts)


# -- report ------------------------------------------------------------------------------------
def _seconds_cell(row: pd.Series | None) -> str:
    if row is None:
        return "—"
    if row["status"] == "timeout":
        return f"≥ {row['seconds']:.0f}"
    if row["status"] != "ok":
        return str(row["status"])
    return f"{row['seconds']:.3g}"


def wide_table(results: pd.DataFrame, part: str, packages: dict[str, str],
               ratios: dict[str, tuple[str, str]]) -> str:
    """Rows (setting, n), one column of seconds per package and ratio columns.

    ``ratios`` maps a column title to (numerator package, denominator package).
    """
    sub = results[results["part"] == part]
    records = []
    for (setting, n), group in sub.groupby(["setting", "n"], sort=False):
        by = {r["package"]: r for _, r in group.iterrows()}
        record = {"setting": setting, "n": f"{n:,}"}
        record.update({title: _seconds_cell(by.get(name)) for name, title in packages.items()})
        for title, (top, bottom) in ratios.items():
            record[title] = _ratio(by.get(top), by.get(bottom))
        records.append(record)
    frame = pd.DataFrame(records).set_index("setting")
    return to_markdown(frame)


def _ratio(top: pd.Series | None, bottom: pd.Series | None) -> str:
    if top is None or bottom is None or bottom["status"] != "ok" or not top["seconds"] > 0:
        return "—"
    value = top["seconds"] / bottom["seconds"]
    prefix = "≥ " if top["status"] == "timeout" else ""
    return f"{prefix}{value:.2f}×" if value < 10 else f"{prefix}{value:.1f}×"


def criteria_lines(results: pd.DataFrame) -> list[str]:
    """The two acceptance criteria, checked on this run."""
    lines = ["| criterion | setting | measured | met |", "| --- | --- | --- | --- |"]
    cox = results[(results["part"] == "cox") & (results["n"] == COX_CRITERION_N)]
    for setting, group in cox.groupby("setting", sort=False):
        ll = group[group["package"] == cox_speed.LIFELINES]
        if ll.empty or ll.iloc[0]["status"] not in ("ok", "timeout"):
            continue
        speedup = float(ll.iloc[0]["relative_to_ours"])
        lines.append(f"| Cox head ≥ {COX_CRITERION_SPEEDUP:g}× faster than lifelines at n = "
                     f"{COX_CRITERION_N:,} | {setting} | {speedup:.1f}× | "
                     f"{'yes' if speedup >= COX_CRITERION_SPEEDUP else 'no'} |")
    epochs = results[results["part"] == "deepsurv"]
    for (dataset, setting), group in epochs.groupby(["dataset", "setting"], sort=False):
        by = group.set_index("package")["seconds"]
        for name in (deepsurv_epoch.OURS, deepsurv_epoch.OURS_BRESLOW):
            ratio = by[name] / by[deepsurv_epoch.PYCOX]
            lines.append(f"| DeepSurv epoch ≤ {EPOCH_CRITERION_RATIO:g}× pycox's | {dataset}, "
                         f"{setting}, {name.split('(')[-1].rstrip(')')} ties | {ratio:.2f}× | "
                         f"{'yes' if ratio <= EPOCH_CRITERION_RATIO else 'no'} |")
    return lines


def markdown_report(results: pd.DataFrame, command: str, info: dict[str, str],
                    quick: bool) -> str:
    """The results page: criteria, one table per part, method, machine."""
    ours_cox = cox_speed.OURS
    ll, sk = cox_speed.LIFELINES, cox_speed.SKSURV
    lines = [f"# Benchmark suite `speed`{' (quick)' if quick else ''}", "",
             "Produced by", "", "```", command, "```", "",
             "## Criteria", "", *criteria_lines(results), ""]
    if (results["part"] == "cox").any():
        lines += ["## Cox: fit time (seconds) against n", "", wide_table(
            results, "cox", {ours_cox: "ours DeepSurv.fit", cox_speed.BARE: "ours fit_cox",
                             ll: "lifelines", sk: "scikit-survival", STATSMODELS_COX: "statsmodels"},
            {"lifelines / ours": (ll, ours_cox), "sksurv / ours": (sk, ours_cox),
             "statsmodels / ours": (STATSMODELS_COX, ours_cox)}), "", COX_TEXT, ""]
    if (results["part"] == "pamm").any():
        lines += ["## PAMM: fit time (seconds) against n", "", wide_table(
            results, "pamm", {PAMM_OURS: "ours DeepPAMM.fit",
                              "structunstruct fit_glm on the PED": "ours fit_glm (PED given)",
                              "PED construction (resolve_cuts + split_ped)": "PED split",
                              PAMM_STATSMODELS: "statsmodels GLM (PED given)"},
            {"statsmodels / ours": (PAMM_STATSMODELS, PAMM_OURS)}), "", PAMM_TEXT, ""]
    if (results["part"] == "deepsurv").any():
        epochs = results[results["part"] == "deepsurv"].copy()
        epochs["setting"] = epochs["dataset"] + ", " + epochs["setting"]
        lines += ["## DeepSurv: seconds per epoch", "", wide_table(
            epochs, "deepsurv", {deepsurv_epoch.OURS: "ours (Efron)",
                                 deepsurv_epoch.OURS_BRESLOW: "ours (Breslow)",
                                 deepsurv_epoch.PYCOX: "pycox CoxPH"},
            {"ours Efron / pycox": (deepsurv_epoch.OURS, deepsurv_epoch.PYCOX),
             "ours Breslow / pycox": (deepsurv_epoch.OURS_BRESLOW, deepsurv_epoch.PYCOX)}),
            "", EPOCH_TEXT, ""]
    lines += ["## Notes", "", *note_lines(results)]
    lines += ["", "## Machine", "", *[f"- {k}: {v}" for k, v in info.items()], "",
              "The machine may be shared with other jobs (load averages above and in the CSV): "
              "the ratios, measured within one session, are more reliable than absolute "
              "times.", ""]
    return "\n".join(lines)


def note_lines(results: pd.DataFrame) -> list[str]:
    """Skipped or stopped fits, and the agreement of the estimates with the references."""
    keep = (results["status"] != "ok") | results["package"].isin(
        [cox_speed.OURS, STATSMODELS_COX, PAMM_STATSMODELS])
    keep &= results["note"].fillna("") != ""
    rows = results[keep & (results["part"] != "deepsurv")]
    return [f"- {r.part}, {r.setting}, n = {r.n:,}, {r.package}: {r.note}"
            for r in rows.itertuples()] or ["- none"]


COX_TEXT = (
    "Structured-only Cox model with Efron ties, p = 10, simulated as in "
    "`structunstruct/benchmarks/cox_speed.py` (its README section describes every package's call); "
    "statsmodels is `PHReg(time, X, status, ties=\"efron\").fit()`. Each package runs in a "
    "forked process after a warm-up fit; seconds are the median of the timed fits, \"≥\" a "
    "fit stopped at the time limit. Ratios above 1: ours is faster."
)
PAMM_TEXT = (
    "`structunstruct/benchmarks/pamm_speed.py`: n subjects, 20 intervals at event-time quantiles, "
    "`DeepPAMM(structured=[...], tabular=[]).fit` end to end against statsmodels "
    "`GLM(Poisson, offset=log(exposure)).fit()` given the ready dense PED design (its "
    "construction is not counted for statsmodels). Ratio above 1: ours is faster."
)
EPOCH_TEXT = (
    "`structunstruct/benchmarks/deepsurv_epoch.py`: the same network (MLP 64-32, dropout 0.1, no output "
    "bias), `torch.optim.AdamW(lr=1e-3, weight_decay=1e-4)`, the same batch size, float32, "
    "CPU, one torch thread, fixed epochs, no validation; median seconds per epoch (first "
    "epoch of each run dropped), runs interleaved. pycox's loss has no tie correction; ours "
    "is timed with Efron (default) and Breslow ties. Ratio below 1: ours is faster."
)


def plot(results: pd.DataFrame, path: Path) -> None:
    """Seconds against n, log-log: one panel per part (light ties for Cox, batch 256)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("cox", "Cox fit (light ties)", "light"), ("pamm", "PAMM fit", ""),
              ("deepsurv", "DeepSurv epoch (batch 256)", "batch 256")]
    present = [p for p in panels if (results["part"] == p[0]).any()]
    fig, axes = plt.subplots(1, max(len(present), 1), figsize=(5 * max(len(present), 1), 4),
                             squeeze=False)
    for ax, (part, title, setting) in zip(axes[0], present):
        sub = results[(results["part"] == part) & (results["status"] == "ok")]
        if sub["setting"].str.contains(setting).any():
            sub = sub[sub["setting"].str.contains(setting)]
        else:
            title = title.split(" (")[0]
        if part == "deepsurv" and sub["dataset"].str.startswith("simulated").any():
            sub = sub[sub["dataset"].str.startswith("simulated")]  # same p: time against n
            title += ", simulated p = 10"
        for package, group in sub.groupby("package", sort=False):
            group = group.sort_values("n")
            ax.plot(group["n"], group["seconds"], marker="o", label=package)
        ax.set(xscale="log", yscale="log", xlabel="n", title=title,
               ylabel="seconds per epoch" if part == "deepsurv" else "seconds")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks speed",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="n <= 1e4, one repeat, METABRIC epochs only (about a minute)")
    parser.add_argument("--output", default="benchmarks/results", metavar="DIR")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads of every package and torch threads (default 1)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Path:
    """Run the parts; write CSV, markdown and plot; return the CSV path."""
    from tqdm.auto import tqdm

    plan = make_plan(args.quick, args.threads)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / ("speed_quick" if args.quick else "speed")
    info = machine_info(PACKAGES)
    load_before = load_average()
    if not args.quick:
        plan.epoch_report = (f"{args.command}  (its deepsurv part)",
                             {**info, "load average (1 min) at the start": load_before},
                             out / "deepsurv_epoch")
    runners = {"cox": cox_part, "pamm": pamm_part, "deepsurv": deepsurv_part}
    frames = []
    with tqdm(total=n_ticks(plan, args.parts), desc="speed", unit="step", file=sys.stderr) as bar:
        for part in args.parts:
            frames.append(runners[part](plan, bar.update))
            pd.concat(frames).to_csv(stem.with_suffix(".csv"), index=False)
    results = pd.concat(frames, ignore_index=True)
    info["load average (1 min) before / after"] = f"{load_before} / {load_average()}"
    info["threads (BLAS and torch)"] = str(args.threads)
    stem.with_suffix(".md").write_text(markdown_report(results, args.command, info, args.quick))
    plot(results, stem.with_suffix(".png"))
    print(f"[speed] wrote {stem}.csv, .md and .png", file=sys.stderr)
    return stem.with_suffix(".csv")


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks speed``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.command = command_line(" ".join(["python -m benchmarks speed", *argv]))
    run(args)
