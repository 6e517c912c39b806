"""Classical Cox at scale: time and peak memory of one fit, beside lifelines and scikit-survival.

Data: ``n`` rows of 10 standard-normal covariates, true coefficients evenly spaced in
[-0.5, 0.5], exponential event times (baseline hazard 0.1) and exponential censoring
(about 30% censored); continuous times, so no ties. Each (library, n) fit runs in its
own process (``--one``), which imports the library, builds the data and then reports
the fit's wall time, the process's peak resident memory (``VmHWM``) before the fit
(interpreter, library and data) and after it, and the largest error of the
coefficients against the truth.

- ``structunstruct``: ``DeepSurv(structured=columns, tabular=[])`` on a DataFrame (the
  classical model: Newton-Raphson to convergence, standard errors, Breslow baseline);
- ``lifelines``: ``CoxPHFitter().fit(df, "time", "event")``;
- ``scikit-survival``: ``CoxPHSurvivalAnalysis(ties="efron")``.

Run: ``python -m benchmarks.scale [--rows 100000 1000000 10000000] [--libraries ...]
[--timeout 900]``; every finished fit is appended to ``results/scale.csv``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from structunstruct.benchmarks.machine import load_average, machine_info

RESULTS = Path(__file__).resolve().parent / "results"
P = 10
BETA = np.linspace(-0.5, 0.5, P)
LIBRARIES = ("structunstruct", "lifelines", "scikit-survival")


def make_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.standard_normal((n, P)), columns=[f"x{j}" for j in range(P)])
    rate = 0.1 * np.exp(X.to_numpy() @ BETA)
    event_time = rng.exponential(1.0 / rate)
    censor_time = rng.exponential(1.0 / 0.04, n)
    return X, np.minimum(event_time, censor_time), event_time <= censor_time


def _peak_rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def fit(library: str, X: pd.DataFrame, time_: np.ndarray, event: np.ndarray) -> np.ndarray:
    if library == "structunstruct":
        import structunstruct as su

        model = su.DeepSurv(structured=list(X.columns), tabular=[]).fit(X, (time_, event))
        return model.coef_
    if library == "lifelines":
        from lifelines import CoxPHFitter

        frame = X.assign(time=time_, event=event.astype(int))
        return CoxPHFitter().fit(frame, "time", "event").params_.to_numpy()
    if library == "scikit-survival":
        from sksurv.linear_model import CoxPHSurvivalAnalysis
        from sksurv.util import Surv

        return CoxPHSurvivalAnalysis(ties="efron").fit(X, Surv.from_arrays(event, time_)).coef_
    raise ValueError(f"unknown library {library!r}; known: {list(LIBRARIES)}")


def _import(library: str) -> None:
    """Import the library before the clock starts (torch, for one, takes seconds)."""
    import importlib

    importlib.import_module({"scikit-survival": "sksurv.linear_model"}.get(library, library))


def run_one(library: str, n: int) -> dict:
    _import(library)
    X, time_, event = make_data(n)
    data_peak = _peak_rss_gib()
    start = time.perf_counter()
    coef = fit(library, X, time_, event)
    seconds = time.perf_counter() - start
    return {"library": library, "rows": n, "seconds": round(seconds, 2),
            "peak_rss_gib_data": round(data_peak, 2), "peak_rss_gib": round(_peak_rss_gib(), 2),
            "max_abs_coef_error": float(np.abs(np.asarray(coef) - BETA).max()),
            "censored": float(1 - event.mean())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES))
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--one", nargs=2, metavar=("LIBRARY", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return
    csv = RESULTS / "scale.csv"
    info = machine_info(["numpy", "lifelines", "scikit-survival"])
    for n in args.rows:
        for library in args.libraries:
            command = [sys.executable, "-m", "benchmarks.scale", "--one", library, str(n)]
            try:
                out = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
                row = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {
                    "library": library, "rows": n, "failed": (out.stderr.strip().splitlines() or ["?"])[-1]}
            except subprocess.TimeoutExpired:
                row = {"library": library, "rows": n, "failed": f"over {args.timeout:.0f} s (stopped)"}
            print(row, flush=True)
            done = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
            pd.concat([done, pd.DataFrame([row])], ignore_index=True).to_csv(csv, index=False)
    table = pd.read_csv(csv)
    lines = ["# Classical Cox at scale: time and peak memory", "",
             f"Command: `python -m benchmarks scale {shlex.join(sys.argv[1:] if argv is None else argv)}`  ",
             "Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items())
             + f"; load average (1 min) at the end: {load_average()} (shared machine: seconds are indicative)",
             "", (__doc__.split("\n\n")[1]).replace("\n", " "), "", args.note, "",
             table.to_markdown(index=False), ""]
    (RESULTS / "scale.md").write_text("\n".join(lines))
    print((RESULTS / "scale.md").read_text())


if __name__ == "__main__":
    main()
