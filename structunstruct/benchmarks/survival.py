"""``survival`` suite: real survival data sets, K-fold CV, every registered model.

Run: ``python -m benchmarks survival [--quick] [--output DIR]`` or
``structunstruct benchmark survival``. Results are appended to ``survival.csv`` one
fold at a time (``--resume`` skips the folds already there), then summarised in
``survival.md`` and ``survival.png``. ``--quick`` writes ``survival_quick.*``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .models import MODELS, QUICK_MODELS, QUICK_TUNING, TUNING
from .protocol import COLUMNS, LOADERS, folds, run_fold
from .report import command_line, write_report

QUICK_DATASETS = ["GBSG2", "veterans"]
#: Data sets run with one repeat only (time budget on 2 CPU cores).
BIG = ("FLCHAIN", "SUPPORT")
#: Models that are cheap enough to run first on every data set.
CHEAP = ("Kaplan–Meier", "lifelines CoxPH", "ours Cox", "sksurv RSF")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks survival",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="GBSG2 and veterans, 2 folds x 1 repeat, fast models (CI)")
    parser.add_argument("--output", default="benchmarks/results", metavar="DIR")
    parser.add_argument("--datasets", nargs="+", choices=list(LOADERS))
    parser.add_argument("--models", nargs="+", choices=list(MODELS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--big-repeats", type=int, default=1,
                        help=f"repeats for {', '.join(BIG)} (default 1)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows of an existing CSV and skip those folds")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the markdown and plot from the CSV")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> tuple[dict, dict, list[tuple[str, str, Any]]]:
    """The models and the ordered (model, dataset, fold) tasks: cheap models first."""
    if args.quick:
        models, names, n_folds, repeats = QUICK_MODELS, QUICK_DATASETS, 2, 1
    else:
        models, names, n_folds, repeats = MODELS, list(LOADERS), args.folds, args.repeats
    models = {m: f for m, f in models.items() if not args.models or m in args.models}
    names = [d for d in names if not args.datasets or d in args.datasets]
    data = {d: LOADERS[d]() for d in names}
    split = {
        d: list(folds(d, data[d][1], n_folds,
                      args.big_repeats if d in BIG and not args.quick else repeats))
        for d in names
    }
    # the slow models: first repeat of every data set (smallest first, GBSG2 leading) first
    order = sorted(names, key=lambda d: (d != "GBSG2", len(data[d][1])))
    tasks = [(m, d, f) for m in models if m in CHEAP for d in names for f in split[d]]
    tasks += [(m, d, f) for r in range(repeats) for d in order for m in models
              if m not in CHEAP for f in split[d] if f.repeat == r]
    return data, models, tasks


def protocol_notes(args: argparse.Namespace) -> list[str]:
    """How the folds were made, for the report."""
    if args.quick:
        return ["Protocol (quick): stratified 2-fold CV x 1 repeat (seed 0)."]
    big = ("" if args.big_repeats == args.repeats else
           f"; {', '.join(BIG)}: {args.big_repeats} repeat(s) (time budget, 2 shared CPU cores)")
    return [f"Protocol: stratified (on the event) {args.folds}-fold CV x {args.repeats} repeats "
            f"(seeds 0..{args.repeats - 1}){big}. Same folds for every model; preprocessing "
            "fitted on the training fold. Cells: mean ± sd over test folds (number of folds). "
            "Time grid: 50 points from the 10th to the 80th percentile of the test event "
            "times. Slow models run after the cheap ones, first repeat of every data set "
            "first; fits not done within the budget are listed at the end."]


def run(args: argparse.Namespace) -> Path:
    """Run (or resume) the suite; write CSV, markdown and plot; return the CSV path."""
    from tqdm.auto import tqdm

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / ("survival_quick" if args.quick else "survival")
    csv = stem.with_suffix(".csv")
    data, models, tasks = plan(args)
    done = pd.read_csv(csv) if args.resume and csv.exists() else pd.DataFrame(columns=COLUMNS)
    seen = set(zip(done["model"], done["dataset"], done["repeat"], done["fold"]))
    todo = [t for t in tasks if (t[0], t[1], t[2].repeat, t[2].fold) not in seen]
    if not args.report_only:
        done.to_csv(csv, index=False)
        start = time.perf_counter()
        for name, dataset, fold in tqdm(todo, desc="survival", unit="fit", file=sys.stderr):
            record = run_fold(name, models[name], fold, *data[dataset])
            pd.DataFrame([record], columns=COLUMNS).to_csv(csv, mode="a", header=False,
                                                           index=False)
        print(f"[survival] {len(todo)} fits in {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
    results = pd.read_csv(csv)
    have = set(zip(results["model"], results["dataset"], results["repeat"], results["fold"]))
    missing = [t for t in tasks if (t[0], t[1], t[2].repeat, t[2].fold) not in have]
    tuning = QUICK_TUNING if args.quick else {}
    write_report(results, stem, suite="survival", command=args.command,
                 settings={m: tuning.get(m, TUNING[m]) for m in models},
                 missing=missing, quick=args.quick, notes=protocol_notes(args))
    return csv


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks survival``."""
    args = parse_args(argv)
    args.command = command_line(" ".join(["python -m benchmarks survival", *(sys.argv[1:] if argv is None else argv)]))
    run(args)
