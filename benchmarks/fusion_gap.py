"""How much of the tabular-to-oracle gap joint fusion closes on survival images.

Protocol (issue "Foundation", done-criterion 4): ``make_survival_images(n, seed)``
(MNIST digits + tabular covariates, hazard = tabular part + image part, known true
risk); the first ``n_train`` rows train, the rest test. Models, all with default
settings: tabular-only DeepSurv (the five tabular columns), joint fusion
``DeepSurv(image="image")`` and wide & deep ``DeepSurv(structured=tabular,
tabular=[], image="image")``. Reported: held-out Harrell C, the oracle C of the true
risk, the share of the gap closed ``(C - C_tab) / (C_oracle - C_tab)`` and fit seconds.

Run: ``python -m benchmarks.fusion_gap [--seeds 0 1 2 3 4] [--n 3000] [--n-train 2000]``
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import structunstruct as su
from structunstruct.metrics import concordance_index_harrell

TABULAR = ["age", "sex", "biomarker", "noise1", "noise2"]
MODELS = {
    "tabular-only": lambda seed: su.DeepSurv(tabular=TABULAR, random_state=seed),
    "joint fusion": lambda seed: su.DeepSurv(image="image", random_state=seed),
    "wide & deep joint": lambda seed: su.DeepSurv(
        structured=TABULAR, tabular=[], image="image", random_state=seed
    ),
}


def run_seed(seed: int, n: int, n_train: int, models: list[str]) -> list[dict]:
    """Fit the chosen models on one simulated data set; one record per model."""
    X, y, risk = su.datasets.make_survival_images(n=n, random_state=seed, return_risk=True)
    train, test = slice(0, n_train), slice(n_train, None)
    oracle = concordance_index_harrell(y[test], risk[test])
    records = [{"seed": seed, "model": "oracle", "c_index": oracle, "fit_seconds": 0.0}]
    for name in models:
        factory = MODELS[name]
        start = time.perf_counter()
        model = factory(seed).fit(X[train], y[train])
        seconds = time.perf_counter() - start
        c_index = concordance_index_harrell(y[test], model.predict(X[test]))
        records.append({"seed": seed, "model": name, "c_index": c_index, "fit_seconds": seconds,
                        "epochs": len(model.history_)})
        print(f"seed {seed} {name}: C={c_index:.4f} ({seconds:.1f} s)", file=sys.stderr)
    return records


def gap_closed(results: pd.DataFrame) -> pd.DataFrame:
    """Add the share of the tabular-to-oracle gap closed, per seed."""
    wide = results.pivot(index="seed", columns="model", values="c_index")
    gap = wide["oracle"] - wide["tabular-only"]
    closed = {m: (wide[m] - wide["tabular-only"]) / gap for m in wide.columns
              if m not in ("tabular-only", "oracle")}
    return pd.DataFrame(closed)


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of C, fit seconds and gap closed."""
    closed = gap_closed(results).melt(ignore_index=False, var_name="model", value_name="gap_closed")
    merged = results.merge(closed.reset_index(), on=["seed", "model"], how="left")
    agg = merged.groupby("model", sort=False).agg(
        c_mean=("c_index", "mean"), c_sd=("c_index", "std"),
        gap_closed_mean=("gap_closed", "mean"), gap_closed_min=("gap_closed", "min"),
        fit_seconds_mean=("fit_seconds", "mean"), fit_seconds_max=("fit_seconds", "max"),
    )
    return agg.round(4)


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if "tabular-only" not in args.models:
        args.models.insert(0, "tabular-only")
    args.output.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    for seed in args.seeds:
        records += run_seed(seed, args.n, args.n_train, args.models)
        pd.DataFrame(records).to_csv(args.output / "fusion_gap.csv", index=False)  # partial
    results = pd.DataFrame(records)
    table = summary_table(results)
    print(table.to_markdown())
    command = "python -m benchmarks.fusion_gap " + " ".join(argv or sys.argv[1:])
    per_seed = gap_closed(results).round(3)
    text = (
        f"# Joint fusion on survival images: share of the tabular-to-oracle gap closed\n\n"
        f"Command: `{command.strip()}`  \nDate: {date.today()}  \nMachine: {machine()}\n\n"
        f"n = {args.n} rows per seed, {args.n_train} train / {args.n - args.n_train} test, "
        f"seeds {args.seeds}; default estimator settings; CPU.\n\n"
        f"{table.to_markdown()}\n\nGap closed per seed:\n\n{per_seed.to_markdown()}\n"
    )
    (args.output / "fusion_gap.md").write_text(text)


if __name__ == "__main__":
    main()
