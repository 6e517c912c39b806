"""Speed of the classical (structured-only) Cox fit against lifelines and scikit-survival.

Run ``python -m benchmarks cox_speed`` from the repository root (``--help`` lists the
options). For every tie regime (``--decimals``) and size (``--sizes``) it simulates one
data set and fits the Efron Cox model with

- ``structunstruct.DeepSurv(structured=[...], tabular=[], ties="efron").fit`` (what users
  call: DataFrame checks, design matrix, Newton-Raphson, standard errors, Breslow baseline);
- ``structunstruct.classical.fit_cox`` on the bare arrays (the Newton-Raphson alone);
- lifelines ``CoxPHFitter().fit`` with its default settings (Efron ties);
- lifelines with ``fit_options={"precision": 1e-10}`` (estimates only, when cheap);
- scikit-survival ``CoxPHSurvivalAnalysis(ties="efron")`` for ``n <= --sksurv-max-n``.

Each package runs in its own forked process: one warm-up fit on 1,000 rows, then up to
``--repeats`` timed fits (no new repeat once ``--repeat-budget`` seconds are spent), killed
after ``--timeout`` seconds (then the time is reported as a lower bound). Inputs
(DataFrames, arrays) are built before the clock starts. The median time is reported, with
the largest absolute coefficient difference and relative standard-error difference
against lifelines. Without ``--quick`` the tables go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .machine import load_average, machine_info

RESULTS_DIR = Path("benchmarks", "results")  # relative to the working directory (repository root)
PACKAGES = ["numpy", "pandas", "scipy", "torch", "lifelines", "scikit-survival", "structunstruct"]
CENSOR_SCALE = 2.8  # exponential censoring times: about 30% censored for p = 10
WARMUP_ROWS = 1_000

OURS = "structunstruct DeepSurv.fit"
BARE = "structunstruct fit_cox"
LIFELINES = "lifelines CoxPHFitter"
LIFELINES_TIGHT = "lifelines CoxPHFitter precision=1e-10"
SKSURV = "scikit-survival CoxPHSurvivalAnalysis"


# -- data ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoxData:
    """One simulated data set in the forms each package takes.

    Attributes
    ----------
    X : ndarray of shape (n, p)
    time : ndarray of shape (n,)
    event : ndarray of shape (n,), bool
    frame : pandas.DataFrame
        Covariates only (``x0 ... x{p-1}``), for ``DeepSurv``.
    lifelines_frame : pandas.DataFrame
        Covariates plus ``duration`` and ``event`` columns, for lifelines.
    decimals : int or None
        Times were rounded to this many decimals (``None``: not rounded).
    """

    X: np.ndarray
    time: np.ndarray
    event: np.ndarray
    frame: pd.DataFrame
    lifelines_frame: pd.DataFrame
    decimals: int | None

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def head(self, n: int) -> CoxData:
        """The first ``n`` rows (for warm-up fits)."""
        return CoxData(
            self.X[:n], self.time[:n], self.event[:n], self.frame.iloc[:n],
            self.lifelines_frame.iloc[:n], self.decimals,
        )


def simulate(n: int, p: int, decimals: int | None, seed: int) -> CoxData:
    """Exponential proportional-hazards data with independent censoring.

    ``X ~ N(0, 1)``, ``beta = linspace(-0.5, 0.5, p)``, event times exponential with
    hazard ``exp(X beta)``, censoring times exponential with mean ``CENSOR_SCALE``
    (about 30% censored), observed times rounded to ``decimals`` (at least
    ``10**-decimals``) so that there are tied times.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    beta = np.linspace(-0.5, 0.5, p)
    event_time = rng.exponential(np.exp(-X @ beta))
    censor_time = rng.exponential(CENSOR_SCALE, size=n)
    time_ = np.minimum(event_time, censor_time)
    event = event_time <= censor_time
    if decimals is not None:
        time_ = np.maximum(np.round(time_, decimals), 10.0**-decimals)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)])
    lifelines_frame = frame.assign(duration=time_, event=event)
    return CoxData(X, time_, event, frame, lifelines_frame, decimals)


# -- the fits (each returns coefficients and standard errors, None when not given) ----
Estimate = tuple[np.ndarray, "np.ndarray | None"]


def fit_structunstruct(data: CoxData) -> Estimate:
    from structunstruct import DeepSurv

    model = DeepSurv(structured=data.columns, tabular=[], ties="efron")
    model.fit(data.frame, (data.time, data.event))
    return model.coef_, model.summary_["se"].to_numpy()


def fit_bare(data: CoxData) -> Estimate:
    from structunstruct.classical import fit_cox

    fit = fit_cox(data.X, data.time, data.event, ties="efron")
    return fit.coef, np.sqrt(np.diag(fit.covariance))


def fit_lifelines(data: CoxData) -> Estimate:
    from lifelines import CoxPHFitter

    cph = CoxPHFitter().fit(data.lifelines_frame, duration_col="duration", event_col="event")
    return cph.params_.to_numpy(), cph.standard_errors_.to_numpy()


def fit_lifelines_tight(data: CoxData) -> Estimate:
    from lifelines import CoxPHFitter

    cph = CoxPHFitter().fit(
        data.lifelines_frame, duration_col="duration", event_col="event",
        fit_options={"precision": 1e-10},
    )
    return cph.params_.to_numpy(), cph.standard_errors_.to_numpy()


def fit_sksurv(data: CoxData) -> Estimate:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    model = CoxPHSurvivalAnalysis(ties="efron").fit(data.X, Surv.from_arrays(data.event, data.time))
    return model.coef_, None


# -- timing in a child process ------------------------------------------------------------
@dataclass
class Timing:
    """Timed fits of one package on one data set.

    ``status`` is ``"ok"``, ``"timeout"`` (no fit finished within ``seconds``, a lower
    bound), ``"skipped"`` or ``"error"``; ``note`` says why.
    """

    package: str
    status: str
    runs: list[float] = field(default_factory=list)
    cpu_runs: list[float] = field(default_factory=list)
    estimate: Estimate | None = None
    seconds_bound: float = float("nan")
    note: str = ""

    @property
    def seconds(self) -> float:
        return float(np.median(self.runs)) if self.runs else self.seconds_bound

    @property
    def cpu_seconds(self) -> float:
        return float(np.median(self.cpu_runs)) if self.cpu_runs else float("nan")


def _child(
    fit: Callable, data: CoxData, repeats: int, budget: float, blas_threads: int | None, conn
) -> None:
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=blas_threads, user_api="blas")
    try:
        fit(data.head(WARMUP_ROWS))
        conn.send(("started",))
        spent = 0.0
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            estimate = fit(data)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            spent += elapsed
            conn.send(("run", elapsed, cpu, estimate))
            if spent > budget:
                break
        conn.send(("done",))
    except Exception as exc:  # reported in the table, not raised
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def time_fit(
    package: str, fit: Callable, data: CoxData, repeats: int, budget: float, timeout: float,
    blas_threads: int | None = None,
) -> Timing:
    """Run ``fit`` in a forked process; stop it ``timeout`` seconds after its warm-up."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(fit, data, repeats, budget, blas_threads, sender))
    process.start()
    sender.close()
    timing = Timing(package, "ok")
    deadline = None
    try:
        while True:
            wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not receiver.poll(wait):
                if not timing.runs:
                    timing.status, timing.seconds_bound = "timeout", timeout
                    timing.note = f"stopped after {timeout:g} s without finishing one fit"
                break
            message = receiver.recv()
            if message[0] == "started":
                deadline = time.monotonic() + timeout
            elif message[0] == "run":
                timing.runs.append(message[1])
                timing.cpu_runs.append(message[2])
                timing.estimate = message[3]
            elif message[0] == "error":
                timing.status, timing.note = "error", message[1]
                break
            else:
                break
    except EOFError:
        timing.status, timing.note = "error", "the fitting process died (out of memory?)"
    finally:
        if process.is_alive():
            process.terminate()
        process.join()
    return timing


# -- one configuration -------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    repeats: int
    budget: float
    timeout: float
    sksurv_max_n: int
    sksurv_timeout: float
    tight_max_seconds: float
    blas_threads: int | None


def run_configuration(data: CoxData, settings: Settings) -> list[Timing]:
    """Time every package on one data set, in a fixed order."""
    n = len(data.time)
    s = settings
    common = (data, s.repeats, s.budget, s.timeout, s.blas_threads)
    timings = [
        time_fit(OURS, fit_structunstruct, *common),
        time_fit(BARE, fit_bare, *common),
        time_fit(LIFELINES, fit_lifelines, *common),
    ]
    reference = timings[-1]
    if reference.status == "ok" and reference.seconds <= s.tight_max_seconds:
        timings.append(time_fit(LIFELINES_TIGHT, fit_lifelines_tight, data, 1, 0.0, s.timeout,
                                s.blas_threads))
    else:
        reason = ("the default lifelines fit did not finish" if reference.status != "ok"
                  else f"the default lifelines fit took more than {s.tight_max_seconds:g} s")
        timings.append(Timing(LIFELINES_TIGHT, "skipped", note=reason))
    if n <= s.sksurv_max_n:
        timings.append(time_fit(SKSURV, fit_sksurv, data, s.repeats, s.budget, s.sksurv_timeout,
                                s.blas_threads))
    else:
        timings.append(Timing(SKSURV, "skipped", note=f"only run for n <= {settings.sksurv_max_n}"))
    return timings


def _max_abs_diff(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return float("nan")
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def _max_rel_diff(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return float("nan")
    return float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1.0)))


def tidy_rows(data: CoxData, timings: Sequence[Timing]) -> list[dict]:
    """One row per package: time, speed-up of ``DeepSurv.fit`` over it, agreement."""
    by_name = {t.package: t for t in timings}
    ours = by_name[OURS]
    reference = by_name[LIFELINES].estimate or (None, None)
    rows = []
    for t in timings:
        coef, se = t.estimate or (None, None)
        rows.append({
            "n": len(data.time),
            "p": data.X.shape[1],
            "decimals": data.decimals,
            "unique_times": int(np.unique(data.time).size),
            "events": int(data.event.sum()),
            "package": t.package,
            "status": t.status,
            "seconds": t.seconds,
            "cpu_seconds": t.cpu_seconds,
            "min_seconds": min(t.runs) if t.runs else float("nan"),
            "repeats": len(t.runs),
            "speedup_of_deepsurv_fit": t.seconds / ours.seconds if ours.runs else float("nan"),
            "max_abs_coef_diff_vs_lifelines": _max_abs_diff(coef, reference[0]),
            "max_rel_se_diff_vs_lifelines": _max_rel_diff(se, reference[1]),
            "max_abs_coef_diff_vs_deepsurv_fit": _max_abs_diff(coef, (ours.estimate or (None,))[0]),
            "note": t.note,
        })
    return rows


# -- reporting ---------------------------------------------------------------------------
def _seconds(row: pd.Series | None) -> str:
    if row is None or row["status"] == "skipped":
        return "skipped"
    if row["status"] == "error":
        return "error"
    prefix = "≥ " if row["status"] == "timeout" else ""
    return f"{prefix}{row['seconds']:.3g}"


def _speedup(row: pd.Series | None, ours: float) -> str:
    if row is None or row["status"] not in ("ok", "timeout") or not np.isfinite(ours):
        return "–"
    prefix = "≥ " if row["status"] == "timeout" else ""
    return f"{prefix}{row['seconds'] / ours:.1f}×"


def _number(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.1e}"


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table: one line per (tie regime, n)."""
    header = (
        "| times rounded to | n | p | unique times | events | DeepSurv.fit (s) | fit_cox (s) "
        "| lifelines (s) | scikit-survival (s) | lifelines / DeepSurv.fit | lifelines / fit_cox "
        "| max abs Δcoef vs lifelines | max rel Δse vs lifelines "
        "| max abs Δcoef vs lifelines precision=1e-10 |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for _, group in results.groupby(["decimals", "n"], sort=False, dropna=False):
        rows = {r["package"]: r for _, r in group.iterrows()}
        ours, bare, ll = rows[OURS], rows[BARE], rows[LIFELINES]
        tight = rows[LIFELINES_TIGHT]
        decimals = "not rounded" if pd.isna(ours["decimals"]) else f"{int(ours['decimals'])} decimals"
        lines.append(" | ".join([
            f"| {decimals}", f"{ours['n']:,}", str(ours["p"]), f"{ours['unique_times']:,}",
            f"{ours['events']:,}", _seconds(ours), _seconds(bare), _seconds(ll),
            _seconds(rows.get(SKSURV)), _speedup(ll, ours["seconds"]),
            _speedup(ll, bare["seconds"]), _number(ours["max_abs_coef_diff_vs_lifelines"]),
            _number(ours["max_rel_se_diff_vs_lifelines"]),
            _number(_tight_diff(tight)),
        ]) + " |")
    return "\n".join(lines)


def _tight_diff(tight: pd.Series) -> float:
    if tight["status"] != "ok":
        return float("nan")
    return float(tight["max_abs_coef_diff_vs_deepsurv_fit"])


def markdown_report(results: pd.DataFrame, command: str, info: dict[str, str], args) -> str:
    """The committed results page: table, command, machine, method."""
    machine = "\n".join(f"- {key}: {value}" for key, value in info.items())
    notes = results.loc[results["note"] != "", ["n", "decimals", "package", "note"]]
    note_lines = "\n".join(
        f"- n = {r.n:,}, {_decimals_text(r.decimals)}, {r.package}: {r.note}" for r in notes.itertuples()
    )
    return f"""# Classical Cox fit: structunstruct vs lifelines vs scikit-survival

Produced by

```
{command}
```
{_busy_warning(info)}
{summary_table(results)}

Seconds are the median wall-clock time of the timed fits (`repeats`, `cpu_seconds` and
`min_seconds` in `cox_speed.csv`);
"lifelines / DeepSurv.fit" is how many times faster the full estimator is than lifelines.
"≥" marks a fit stopped at the time limit (a lower bound).
Δcoef and Δse compare coefficients and standard errors with lifelines' default fit
(convergence precision 1e-7); the last column compares with lifelines run to
`fit_options={{"precision": 1e-10}}` (only where the default lifelines fit took at most
{args.tight_max_seconds:g} s).

Notes:
{note_lines or "- none"}

## What is timed

- **DeepSurv.fit**: `DeepSurv(structured=[x0..x{args.p - 1}], tabular=[], ties="efron").fit(X, (time, event))`
  on a DataFrame: checks, design matrix, Newton-Raphson (step tolerance 1e-10), standard
  errors, Breslow baseline hazard.
- **fit_cox**: `structunstruct.classical.fit_cox(X, time, event, ties="efron")` on the bare
  arrays (the Newton-Raphson and the covariance alone).
- **lifelines**: `CoxPHFitter().fit(df, duration_col="duration", event_col="event")`,
  default settings (Efron ties; lifelines picks its "batch" or "single" algorithm from the
  number of unique times).
- **scikit-survival**: `CoxPHSurvivalAnalysis(ties="efron").fit(X, y)` for n ≤ {args.sksurv_max_n:,}
  (limit {args.sksurv_timeout:.0f} s).

Each package runs in its own forked process: a warm-up fit on {WARMUP_ROWS:,} rows, then up to
{args.repeats} timed fits (none started after {args.repeat_budget:.0f} s spent), stopped
{args.timeout:.0f} s after the warm-up. Inputs are built before the clock starts.

## Data

`X ~ N(0, 1)` (n × p), `beta = linspace(-0.5, 0.5, p)`, exponential event times with hazard
`exp(X beta)`, independent exponential censoring with mean {CENSOR_SCALE} (about 30%
censored), seed {args.seed}. Observed times are rounded to the stated number of decimals,
so there are tied event times and the Efron correction matters: with 2 decimals there are
only about a thousand distinct times (heavy ties); with 6 decimals almost all times are
distinct (light ties).

## Machine

{machine}
"""


def _busy_warning(info: dict[str, str]) -> str:
    loads = [float(v) for v in info.get("load average (1 min) before / after", "").split(" / ")
             if v.replace(".", "", 1).isdigit()]
    cores = os.cpu_count() or 1
    if not loads or max(loads) <= cores:
        return ""
    return (
        f"\n**The machine was shared while this ran** (1-minute load average up to "
        f"{max(loads):.1f} on {cores} cores): every package got only part of a core, so the "
        "wall-clock times are inflated; the ratios between packages are less affected. "
        "`cpu_seconds` in `cox_speed.csv` is the CPU time of each fit. Rerun the command on an "
        "idle machine for absolute times.\n"
    )


def _decimals_text(decimals: float | None) -> str:
    return "times not rounded" if pd.isna(decimals) else f"times rounded to {int(decimals)} decimals"


# -- command line ------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks cox_speed",
        description="Time the classical Cox fit against lifelines and scikit-survival.",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--p", type=int, default=10, help="number of covariates")
    parser.add_argument("--decimals", type=int, nargs="+", default=[2, 6],
                        help="round the times to this many decimals (one run per value)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per package (median)")
    parser.add_argument("--repeat-budget", type=float, default=60.0,
                        help="no new repeat once a package spent this many seconds")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="stop a package after this many seconds (reported as a lower bound)")
    parser.add_argument("--sksurv-max-n", type=int, default=100_000)
    parser.add_argument("--sksurv-timeout", type=float, default=120.0)
    parser.add_argument("--tight-max-seconds", type=float, default=30.0,
                        help="run lifelines with precision=1e-10 when its default fit took at most this")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit the BLAS threads of every package (default: library default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="n = 1e4 and 1e5 only, results printed, not written")
    parser.add_argument("--out", type=Path, default=None,
                        help="stem of the result files (default benchmarks/results/cox_speed; "
                             "not written with --quick unless given)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [10_000, 100_000]
    if args.out is None and not args.quick:
        args.out = RESULTS_DIR / "cox_speed"
    return args


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks", "cox_speed", *argv])
    settings = Settings(args.repeats, args.repeat_budget, args.timeout, args.sksurv_max_n,
                        args.sksurv_timeout, args.tight_max_seconds, args.blas_threads)
    _import_packages()
    info = machine_info(PACKAGES)  # before the run: the commit whose code is timed
    load_before = load_average()
    rows = []
    for decimals in args.decimals:
        for n in args.sizes:
            data = simulate(n, args.p, decimals, args.seed)
            print(f"n = {n:,}, p = {args.p}, times rounded to {decimals} decimals: "
                  f"{np.unique(data.time).size:,} unique times, {int(data.event.sum()):,} events",
                  flush=True)
            for row in tidy_rows(data, run_configuration(data, settings)):
                print(f"  {row['package']:40s} {row['status']:8s} {row['seconds']:9.3f} s "
                      f"({row['repeats']} runs) {row['note']}", flush=True)
                rows.append(row)
    results = pd.DataFrame(rows)
    print()
    print(summary_table(results))
    if args.out is not None:
        info["load average (1 min) before / after"] = f"{load_before} / {load_average()}"
        info["BLAS threads"] = "library default" if args.blas_threads is None else str(args.blas_threads)
        _write(results, args, command, info)
    return results


def _import_packages() -> None:
    """Import every package once before forking, so no timed child pays for imports."""
    import lifelines  # noqa: F401
    import sksurv.linear_model  # noqa: F401

    import structunstruct  # noqa: F401
    import structunstruct.classical  # noqa: F401


def _write(results: pd.DataFrame, args: argparse.Namespace, command: str, info: dict) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = args.out.with_suffix(".csv"), args.out.with_suffix(".md")
    results.to_csv(csv_path, index=False)
    md_path.write_text(markdown_report(results, command, info, args))
    print(f"\nwrote {md_path} and {csv_path}")
