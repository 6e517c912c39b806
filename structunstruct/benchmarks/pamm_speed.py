"""Speed of the PED split and the classical PAMM fit against statsmodels' Poisson GLM.

Run ``python -m benchmarks pamm_speed`` from the repository root (``--help`` lists the
options). It simulates ``n`` subjects with ``p`` numeric covariates and one 3-level
categorical covariate (Weibull event times, about 30% censored), splits follow-up into
``--intervals`` intervals at quantiles of the event times and times

- ``resolve_cuts`` + ``split_ped`` (the PED construction: integer indices, exposure,
  status);
- ``DeepPAMM(structured=[...], tabular=[], cuts=K).fit`` (what users call: DataFrame
  checks, design, PED, IRLS with the interval intercepts absorbed, standard errors);
- ``structunstruct.heads.pamm.glm.fit_glm`` on the bare PED (IRLS alone);
- statsmodels ``GLM(Poisson, offset=log(exposure)).fit()`` on the same PED with the
  interval dummies as dense columns (building that dense design is timed separately).

Each timing is the median of ``--repeats`` runs in this process (the statsmodels fit
is run ``--sm-repeats`` times). The largest coefficient and relative standard-error
differences against statsmodels are reported. Without ``--quick`` the tables go to
``benchmarks/results/pamm_speed.{md,csv}``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS_DIR = Path("benchmarks", "results")  # relative to the working directory (repository root)


def simulate(n: int, p: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Covariates and a Weibull proportional-hazards survival target."""
    from structunstruct.data import make_survival_target

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{j}" for j in range(p)])
    X["grade"] = pd.Categorical(rng.choice(["I", "II", "III"], size=n))
    beta = np.linspace(-0.5, 0.5, p)
    eta = X.iloc[:, :p].to_numpy() @ beta + 0.4 * (X["grade"] == "III").to_numpy()
    t = (rng.exponential(size=n) / (0.1 * np.exp(eta))) ** (1 / 1.5)
    censor = rng.exponential(scale=np.quantile(t, 0.9), size=n)
    return X, make_survival_target(np.minimum(t, censor), t <= censor)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def run(n: int, p: int, intervals: int, repeats: int, sm_repeats: int, seed: int) -> tuple[list[dict], dict]:
    """Time every step once for one data size; return table rows and accuracy."""
    import statsmodels.api as sm

    from structunstruct import DeepPAMM
    from structunstruct.heads.pamm.glm import fit_glm
    from structunstruct.heads.pamm.ped import resolve_cuts, split_ped

    X, y = simulate(n, p, seed)
    terms = [*X.columns]
    t_ped, ped = timed(lambda: split_ped(y["time"], y["event"], resolve_cuts(y["time"], y["event"], intervals)), repeats)
    t_ours, model = timed(lambda: DeepPAMM(structured=terms, tabular=[], cuts=intervals).fit(X, y), repeats)
    design = np.column_stack([X.iloc[:, :p].to_numpy(), (X["grade"] == "II"), (X["grade"] == "III")]).astype(float)
    K = len(ped.cuts) - 1
    t_bare, _ = timed(
        lambda: fit_glm(design[ped.subject], ped.status, "poisson", offset=ped.offset, groups=ped.interval), repeats
    )
    t_dense, Z = timed(lambda: np.column_stack([np.eye(K)[ped.interval], design[ped.subject]]), 1)
    offset = np.log(ped.exposure)
    t_sm, ref = timed(lambda: sm.GLM(ped.status, Z, family=sm.families.Poisson(), offset=offset).fit(), sm_repeats)
    accuracy = {
        "max |coef - statsmodels|": float(np.max(np.abs(model.coef_ - ref.params[K:]))),
        "max rel. se difference": float(np.max(np.abs(model.summary_["se"].to_numpy() / ref.bse[K:] - 1))),
    }
    base = {"n": n, "intervals": K, "ped_rows": ped.n_rows, "columns": K + design.shape[1]}
    rows = [
        {**base, "step": "PED construction (resolve_cuts + split_ped)", "seconds": t_ped},
        {**base, "step": "structunstruct DeepPAMM.fit (end to end)", "seconds": t_ours},
        {**base, "step": "structunstruct fit_glm on the PED", "seconds": t_bare},
        {**base, "step": "dense PED design for statsmodels", "seconds": t_dense},
        {**base, "step": "statsmodels GLM(Poisson, offset).fit", "seconds": t_sm},
    ]
    return rows, accuracy


def machine_info() -> dict[str, str]:
    """Where and with what the benchmark ran."""
    from importlib.metadata import version

    from .machine import _blas, _cpu_model, _ram_gib
    from .machine import git_commit as _git_commit

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "load average at start (1 min)": f"{os.getloadavg()[0]:.2f}",
        "ram": _ram_gib(),
        "os": platform.platform(),
        "blas": _blas(),
        "python": platform.python_version(),
    }
    info.update({name: version(name) for name in ["numpy", "scipy", "pandas", "statsmodels", "structunstruct"]})
    info["structunstruct commit"] = _git_commit()
    return info


def markdown_report(table: pd.DataFrame, accuracy: dict, command: str, info: dict) -> str:
    """The committed results page."""
    lines = [
        "# PAMM speed: PED construction and the classical fit vs statsmodels",
        "",
        f"Command: `{command}`",
        "",
        "| n | intervals | PED rows | step | seconds |",
        "| ---: | ---: | ---: | --- | ---: |",
    ]
    for r in table.itertuples():
        lines.append(f"| {r.n:,} | {r.intervals} | {r.ped_rows:,} | {r.step} | {r.seconds:.3f} |")
    lines += ["", "Agreement with statsmodels (structured coefficients, original scale):", ""]
    lines += [f"- {key}: {value:.2e}" for key, value in accuracy.items()]
    lines += ["", "Machine:", ""] + [f"- {k}: {v}" for k, v in info.items()]
    lines += [
        "",
        "Notes: times are medians of repeated runs in one process. `DeepPAMM.fit` absorbs the",
        "interval intercepts (the PED design never holds the K indicator columns); statsmodels",
        "gets the dense PED design (interval dummies + covariates), whose construction is",
        "timed on its own row. The machine was shared with other jobs (see the load average).",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pamm_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="subjects")
    parser.add_argument("--p", type=int, default=8, help="numeric covariates")
    parser.add_argument("--intervals", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sm-repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit BLAS threads for every package (threadpoolctl)")
    parser.add_argument("--quick", action="store_true", help="n = 10,000, print only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    args = parse_args(argv)
    n = 10_000 if args.quick else args.n
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.blas_threads):
        info = machine_info()
        rows, accuracy = run(n, args.p, args.intervals, args.repeats, args.sm_repeats, args.seed)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    print(accuracy)
    if not args.quick:
        command = "python -m benchmarks pamm_speed " + " ".join(map(shlex.quote, argv if argv is not None else sys.argv[1:]))
        RESULTS_DIR.mkdir(exist_ok=True)
        table.to_csv(RESULTS_DIR / "pamm_speed.csv", index=False)
        (RESULTS_DIR / "pamm_speed.md").write_text(markdown_report(table, accuracy, command.strip(), info))
    return table
