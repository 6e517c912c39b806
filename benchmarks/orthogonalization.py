"""Identifiability of structured effects next to a deep part fed the same features.

The protocol of the post-hoc orthogonalization study of Rügamer (2023): for
``n in {100, 1000}`` rows and ``p in {1, 3, 10}`` features ``X ~ N(0, I)``,
``y = 1 + X beta + sum_j sin(2 x_j) + N(0, 1)`` with ``beta_j = (-1)^j / (1 + j/2)``.
A :class:`structunstruct.SemiStructuredRegressor` (normal family) has the linear
terms of all p features in ``structured`` and the same p features in its deep MLP.
The structured coefficients are compared with the oracle, the OLS fit of ``y`` on
``[1, X]`` (the linear projection of the whole mean, which the orthogonalization
defines as the structured effect), for four strategies:

- ``none``: joint training without the orthogonalization cell;
- ``cell``: joint training with the cell (``orthogonalize=True``);
- ``two_stage``: structured model first, deep part on its fixed predictor (Law et al.);
- ``post_hoc``: trained without the cell, projection of the deep part on ``[1, X]``
  moved into the structured coefficients afterwards.

Reported per cell of the design: mean over replications of the RMSE between
structured and oracle coefficients (``rmse``: after the final full-batch refit of the
structured part with the deep part as offset, what ``summary_`` shows; ``rmse_network``:
the coefficients as trained by the network, before refit and post-hoc correction), and
the test R². Run ``python -m benchmarks.orthogonalization [--quick]``; without
``--quick`` results go to ``benchmarks/results/orthogonalization.{md,csv}``.

``--models`` runs the extension to modelled scales, every family, DeepPAMM and wide
& deep Cox (:mod:`benchmarks.orthogonalization_models`) and writes
``orthogonalization_models.{md,csv}``; ``--sizes`` and ``--reps`` set its design.

``--image`` runs the image + tabular example instead (MNIST digits with known effects,
:func:`structunstruct.datasets.make_regression_images`) and writes
``orthogonalization_image.md``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS_DIR = Path(__file__).resolve().parent / "results"
STRATEGIES = {
    "none": {"orthogonalize": False, "deep_strategy": "joint"},
    "cell": {"orthogonalize": True, "deep_strategy": "joint"},
    "two_stage": {"orthogonalize": False, "deep_strategy": "two_stage"},
    "post_hoc": {"orthogonalize": False, "deep_strategy": "post_hoc"},
}
TRAINING = {
    "hidden_layers": (32, 16), "dropout": 0.0, "lr": 5e-3, "weight_decay": 0.0,
    "max_epochs": 100, "early_stopping": 10, "validation_fraction": 0.2,
}


def simulate(n: int, p: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and response of one replication."""
    x = rng.standard_normal((n, p))
    beta = np.array([(-1) ** j / (1 + j / 2) for j in range(p)])
    y = 1 + x @ beta + np.sin(2 * x).sum(axis=1) + rng.standard_normal(n)
    return pd.DataFrame(x, columns=[f"x{j}" for j in range(p)]), y


def oracle(X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """OLS slopes of y on [1, X]."""
    design = np.column_stack([np.ones(len(X)), X.to_numpy()])
    return np.linalg.lstsq(design, y, rcond=None)[0][1:]


def network_slopes(model) -> np.ndarray:
    """Slopes as trained by the network, on the original scale of the columns."""
    design = model.inputs_.design_
    return model.network_coef_[1:] / design.scale_


def fit_one(n: int, p: int, rep: int, strategy: str) -> dict:
    """One fit of one strategy on one replication."""
    import structunstruct as su

    rng = np.random.default_rng([n, p, rep])
    X, y = simulate(n, p, rng)
    X_test, y_test = simulate(2000, p, rng)
    columns = list(X.columns)
    model = su.SemiStructuredRegressor(
        structured=columns, tabular=columns, batch_size=32 if n <= 100 else 128,
        random_state=rep, **STRATEGIES[strategy], **TRAINING,
    )
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    truth = oracle(X, y)
    return {
        "n": n, "p": p, "rep": rep, "strategy": strategy,
        "rmse": float(np.sqrt(np.mean((model.coef_ - truth) ** 2))),
        "rmse_network": float(np.sqrt(np.mean((network_slopes(model) - truth) ** 2))),
        "test_r2": model.score(X_test, y_test), "epochs": len(model.history_), "seconds": seconds,
    }


def run(sizes, features, reps: int, csv: Path | None = None) -> pd.DataFrame:
    """All fits; with ``csv`` each row is appended as it finishes and finished rows are skipped."""
    done = pd.read_csv(csv) if csv is not None and csv.exists() else pd.DataFrame()
    keys = set(map(tuple, done[["n", "p", "rep", "strategy"]].to_numpy().tolist())) if len(done) else set()
    rows = done.to_dict("records")
    for n in sizes:
        for p in features:
            for rep in range(reps):
                for strategy in STRATEGIES:
                    if (n, p, rep, strategy) in keys:
                        continue
                    rows.append(fit_one(n, p, rep, strategy))
                    if csv is not None:
                        pd.DataFrame(rows[-1:]).to_csv(csv, mode="a", header=not csv.exists(), index=False)
            print(f"n={n} p={p} done", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def environment(command: str) -> str:
    import sklearn
    import torch

    import structunstruct

    return "\n".join([
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"torch threads {torch.get_num_threads()}",
        f"- versions: python {platform.python_version()}, structunstruct {structunstruct.__version__}, "
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}",
    ])


def markdown(frame: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A pipe table (no optional dependency)."""
    frame = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    rows = frame.astype(object).itertuples(index=False)
    cells = [[format(v, floatfmt) if isinstance(v, float) else str(v) for v in row] for row in rows]
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    table = results.pivot_table(index=["n", "p"], columns="strategy", values=["rmse", "rmse_network", "test_r2"])
    return table.reindex(columns=list(STRATEGIES), level=1)


def write_report(results: pd.DataFrame, command: str, path: Path, note: str = "") -> str:
    table = summarize(results)
    lines = [
        "# Orthogonalization: structured coefficients vs. the OLS oracle", "",
        environment(command) + (f"\n- note: {note}" if note else ""), "",
        f"Replications per cell: {results.groupby(['n', 'p', 'strategy']).size().max()}; "
        f"training: {TRAINING}; batch 32 (n=100) or 128; total fit time "
        f"{results['seconds'].sum():.0f} s.", "",
        "## RMSE of the structured coefficients after the final refit (`summary_`)", "",
        markdown(table["rmse"], ".3g"), "",
        "## RMSE of the coefficients as trained by the network (before refit / post-hoc correction)", "",
        markdown(table["rmse_network"], ".3f"), "",
        "## Test R² (2000 new rows)", "",
        markdown(table["test_r2"], ".3f"), "",
    ]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def image_example(n: int, max_epochs: int) -> str:
    """Image + tabular example: R² gain of the image part and coefficients vs. the truth."""
    import structunstruct as su

    X, y = su.datasets.make_regression_images(n, noise=0.5, random_state=0)
    X_test, y_test = su.datasets.make_regression_images(1000, noise=0.5, random_state=1)
    rows = []
    for label, kwargs in {
        "structured only": {"tabular": []},
        "structured + image (cell)": {"tabular": [], "image": "image", "orthogonalize": True},
    }.items():
        model = su.SemiStructuredRegressor(
            structured=["x1", "x2", "sex"], max_epochs=max_epochs, random_state=0, lr=2e-3, **kwargs,
        ).fit(X, y)
        coef = model.summary_.loc["loc", "coef"]
        rows.append({"model": label, "test R²": model.score(X_test, y_test), **coef.to_dict()})
    rows.append({"model": "truth", "Intercept": 1.0 + 0.0, "x1": 0.5, "x2": -0.8, "sex[male]": 0.3})
    return markdown(pd.DataFrame(rows), ".3f")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.orthogonalization", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 replications, nothing written")
    parser.add_argument("--fresh", action="store_true", help="discard rows of an earlier run")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--image", action="store_true", help="run the image + tabular example")
    parser.add_argument("--models", action="store_true", help="modelled scales, every family, DeepPAMM, Cox")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--note", default="", help="a line added to the report (e.g. the machine's load)")
    parser.add_argument("--image-n", type=int, default=1000)
    parser.add_argument("--image-epochs", type=int, default=15)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    command = ("python -m benchmarks.orthogonalization " + shlex.join(argv if argv is not None else sys.argv[1:])).strip()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if args.models:
        from benchmarks import orthogonalization_models as models

        csv = RESULTS_DIR / "orthogonalization_models.csv"
        if args.fresh:
            csv.unlink(missing_ok=True)
        results = models.run(args.sizes, 1 if args.quick else args.reps, None if args.quick else csv)
        header = environment(command) + (f"\n- note: {args.note}" if args.note else "")
        print(models.write_report(results, header, None if args.quick else RESULTS_DIR / "orthogonalization_models.md"))
        return
    if args.image:
        text = "\n".join(["# Image + tabular example", "", environment(command), "", image_example(args.image_n, args.image_epochs)])
        if not args.quick:
            (RESULTS_DIR / "orthogonalization_image.md").write_text(text + "\n")
        print(text)
        return
    if args.fresh:
        (RESULTS_DIR / "orthogonalization.csv").unlink(missing_ok=True)
    reps = 2 if args.quick else args.reps
    sizes = tuple(args.sizes)
    if args.quick:
        print(summarize(run(sizes, (1, 3, 10), reps)).to_string())
        return
    results = run(sizes, (1, 3, 10), reps, RESULTS_DIR / "orthogonalization.csv")
    print(write_report(results, command, RESULTS_DIR / "orthogonalization.md", args.note))


if __name__ == "__main__":
    main()
