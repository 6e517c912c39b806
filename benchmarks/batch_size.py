"""Image Cox at small batch sizes: with and without the 'events' sampler and the risk-set memory.

Protocol (issue 16, "small batches that work"): ``make_survival_images(n, seed)``; the
first ``n_train`` rows train, the rest test. Joint fusion DeepSurv (tabular columns +
the built-in CNN on the digit, trained end to end) at each batch size, in two settings:

- ``plain``: shuffled batches, each batch its own risk sets (the default);
- ``sampler+memory``: ``batch_sampler="events"`` (an event in every batch, tied times
  together) and ``risk_set_memory=M`` (the last ``M`` training rows' detached scores join
  every batch's partial likelihood).

Everything else is the estimator's default but ``max_epochs`` and ``early_stopping``
(set here to bound the run time). Reported: Harrell's C on the test rows (mean ± sd
over seeds), the oracle's C (the true risk), fit seconds. Every fit is appended to the
CSV at once; a rerun skips the fits already there.

Run: ``python -m benchmarks.batch_size [--seeds 0 1] [--batch-sizes 4 8 16 64 256]
[--n 1500] [--n-train 1000] [--max-epochs 15] [--memory 256] [--note TEXT]``
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import structunstruct as su
from structunstruct.benchmarks.machine import load_average, machine_info
from structunstruct.metrics import concordance_index_harrell

TABULAR = ["age", "sex", "biomarker", "noise1", "noise2"]
RESULTS = Path(__file__).resolve().parent / "results"


def fit_one(X, y, seed: int, batch_size: int, setting: str, args) -> tuple[float, float]:
    """Fit one model; return (test C, seconds)."""
    extra = {"batch_sampler": "events", "risk_set_memory": args.memory} if setting == "sampler+memory" else {}
    model = su.DeepSurv(
        tabular=TABULAR, image="image", batch_size=batch_size, max_epochs=args.max_epochs,
        early_stopping=args.patience, random_state=seed, device="cpu", **extra,
    )
    train, test = slice(0, args.n_train), slice(args.n_train, None)
    start = time.perf_counter()
    model.fit(X.iloc[train], y[train])
    seconds = time.perf_counter() - start
    return float(concordance_index_harrell(y[test], model.predict(X.iloc[test]))), seconds


def run(args) -> pd.DataFrame:
    csv = RESULTS / "batch_size.csv"
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame(
        columns=["seed", "batch_size", "max_epochs", "setting", "c_index", "oracle_c", "seconds"])
    if "max_epochs" not in done:  # rows of the first run: 15 epochs
        done.insert(2, "max_epochs", 15)
    for seed in args.seeds:
        X, y, risk = su.datasets.make_survival_images(n=args.n, random_state=seed, return_risk=True)
        oracle = float(concordance_index_harrell(y[args.n_train:], risk[args.n_train:]))
        for batch_size in args.batch_sizes:
            for setting in ("plain", "sampler+memory"):
                key = ((done.seed == seed) & (done.batch_size == batch_size)
                       & (done.max_epochs == args.max_epochs) & (done.setting == setting))
                if key.any():
                    continue
                c_index, seconds = fit_one(X, y, seed, batch_size, setting, args)
                row = {"seed": seed, "batch_size": batch_size, "max_epochs": args.max_epochs,
                       "setting": setting,
                       "c_index": c_index, "oracle_c": oracle, "seconds": seconds}
                print(row, flush=True)
                done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
                done.to_csv(csv, index=False)
    return done


def write_table(done: pd.DataFrame, args) -> None:
    summary = done.groupby(["batch_size", "max_epochs", "setting"]).agg(
        seeds=("seed", "nunique"), c_mean=("c_index", "mean"), c_sd=("c_index", "std"),
        seconds=("seconds", "mean")).reset_index()
    table = summary.assign(
        **{"Harrell C": [f"{m:.3f} ± {s:.3f}" for m, s in zip(summary.c_mean, summary.c_sd.fillna(0))],
           "fit s": summary.seconds.round(0).astype(int)}
    ).pivot(index=["batch_size", "max_epochs"], columns="setting", values=["Harrell C", "fit s"])
    table.columns = [f"{a} ({b})" for a, b in table.columns]
    table.index = pd.Index([f"{b}, {e}" for b, e in table.index], name="batch size, max epochs")
    oracle = done.groupby("seed").oracle_c.first()
    lines = [
        "# Image Cox at small batch sizes: the 'events' sampler and the risk-set memory",
        "",
        f"Command: `python -m benchmarks batch_size {args.options}`  ",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine_info(["torch", "numpy"]).items())
        + f"; load average (1 min) at the end: {load_average()} (a machine shared with other jobs: "
        "seconds are indicative)",
        "",
        f"make_survival_images(n={args.n}), first {args.n_train} rows train, the rest test; joint "
        f"fusion DeepSurv (5 tabular columns + built-in CNN), max_epochs={args.max_epochs}, "
        f"early_stopping={args.patience}, otherwise defaults; sampler+memory: "
        f"batch_sampler='events', risk_set_memory={args.memory}. Harrell C on the test rows, "
        f"mean ± sd over seeds {sorted(done.seed.unique().tolist())}; oracle C (true risk) "
        f"{oracle.mean():.3f}.",
        "",
        args.note or "",
        "",
        table.to_markdown(),
        "",
    ]
    (RESULTS / "batch_size.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 8, 16, 64, 256])
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--memory", type=int, default=256)
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    args.options = shlex.join(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    write_table(run(args), args)
    print((RESULTS / "batch_size.md").read_text())


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
