"""DeepSurv training epochs: structunstruct against pycox on the same network.

Run ``python -m benchmarks deepsurv_epoch`` from the repository root (``--help`` lists
the options). For every data set and batch size it trains, interleaved and
``--repeats`` times each,

- ``structunstruct.DeepSurv(tabular=[...], structured=None)`` with Efron ties (the
  default) and with Breslow ties;
- pycox ``CoxPH`` (DeepSurv; its loss has no tie correction, like Breslow on untied
  times) through torchtuples' ``Model.fit``;

on the same network: ``Linear(p, 64), ReLU, Dropout(0.1), Linear(64, 32), ReLU,
Dropout(0.1), Linear(32, 1, bias=False)`` (the MLP of our ``TabularEncoder`` plus the
deep head of ``AdditivePredictor``; the parameter shapes are checked to match), the same
optimizer (``torch.optim.AdamW``, lr 1e-3, weight decay 1e-4), the same batch size,
float32, CPU, the same number of torch threads, a fixed number of epochs, no validation
set and no early stopping. The inputs are the same standardized float32 matrix for both.

An epoch's time is the wall time between two consecutive epoch-end callbacks (the same
measurement on both sides); the first epoch is dropped (warm-up) and the median of the
others is reported, pooled over the repeats. Without ``--quick`` the tables go to
``benchmarks/results/deepsurv_epoch.{md,csv}``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .machine import load_average, machine_info

RESULTS_DIR = Path("benchmarks", "results")  # relative to the working directory (repository root)
PACKAGES = ["numpy", "pandas", "torch", "pycox", "torchtuples", "structunstruct"]
HIDDEN = (64, 32)
DROPOUT = 0.1
LR = 1e-3
WEIGHT_DECAY = 1e-4

OURS = "structunstruct DeepSurv (Efron)"
OURS_BRESLOW = "structunstruct DeepSurv (Breslow)"
PYCOX = "pycox CoxPH"


# -- data --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EpochData:
    """One data set as the standardized float32 matrix both packages get.

    Attributes
    ----------
    name : str
    X : ndarray of shape (n, p), float32
    time : ndarray of shape (n,), float32
    event : ndarray of shape (n,), float32 (0/1)
    """

    name: str
    X: np.ndarray
    time: np.ndarray
    event: np.ndarray

    @property
    def frame(self) -> pd.DataFrame:
        """``X`` as a DataFrame (columns ``x0 ... x{p-1}``) for ``DeepSurv``."""
        return pd.DataFrame(self.X, columns=[f"x{j}" for j in range(self.X.shape[1])])


def real_data(name: str) -> EpochData:
    """METABRIC or SUPPORT, dummy-coded and standardized (as in the survival suite)."""
    from .models import Standardizer
    from .protocol import LOADERS

    X, y = LOADERS[name]()
    matrix = Standardizer().fit(X).transform(X)
    return EpochData(name, matrix, y["time"].astype("float32"), y["event"].astype("float32"))


def simulated_data(n: int, p: int = 10, seed: int = 0) -> EpochData:
    """Proportional-hazards data of ``cox_speed.simulate`` (untied times)."""
    from .cox_speed import simulate

    data = simulate(n, p, None, seed)
    return EpochData(f"simulated n={n:,}", data.X.astype("float32"),
                     data.time.astype("float32"), data.event.astype("float32"))


def load(name: str, seed: int = 0) -> EpochData:
    """``METABRIC``, ``SUPPORT`` or ``sim<n>`` (e.g. ``sim100000``)."""
    if name.startswith("sim"):
        return simulated_data(int(float(name[3:])), seed=seed)
    return real_data(name)


# -- the two trainers ----------------------------------------------------------------------
def _now() -> tuple[float, float]:
    """Wall clock and CPU time of this thread (torch runs single-threaded here)."""
    return time.perf_counter(), time.thread_time()


def pycox_network(n_features: int) -> object:
    """The network of ``DeepSurv(hidden_layers=HIDDEN, dropout=DROPOUT)`` as a plain Sequential."""
    from torch import nn

    from structunstruct.nn.encoders.tabular import make_mlp

    return nn.Sequential(make_mlp(n_features, HIDDEN, DROPOUT), nn.Linear(HIDDEN[-1], 1, bias=False))


def time_ours(data: EpochData, batch_size: int, epochs: int, seed: int,
              ties: str = "efron") -> tuple[np.ndarray, float, list[tuple[int, ...]]]:
    """Train ``DeepSurv``; epoch seconds, last training loss and parameter shapes."""
    import structunstruct as su
    from structunstruct.training import Callback

    class EpochClock(Callback):
        def on_train_begin(self, trainer: object) -> None:
            self.stamps = [_now()]

        def on_epoch_end(self, trainer: object, record: dict) -> None:
            self.stamps.append(_now())

    clock = EpochClock()
    frame = data.frame
    model = su.DeepSurv(
        tabular=list(frame.columns), structured=None, hidden_layers=HIDDEN, dropout=DROPOUT,
        lr=LR, weight_decay=WEIGHT_DECAY, batch_size=batch_size, max_epochs=epochs,
        early_stopping=None, validation_fraction=0.0, device="cpu", precision="32",
        random_state=seed, ties=ties, callbacks=[clock],
    )
    model.fit(frame, (data.time.astype(float), data.event.astype(bool)))
    shapes = [tuple(p.shape) for p in model.module_.parameters()]
    return np.diff(clock.stamps, axis=0), float(model.history_[-1]["train_loss"]), shapes


def time_pycox(data: EpochData, batch_size: int, epochs: int,
               seed: int) -> tuple[np.ndarray, float, list[tuple[int, ...]]]:
    """Train pycox ``CoxPH``; epoch seconds, last training loss and parameter shapes."""
    import torch
    import torchtuples as tt
    from pycox.models import CoxPH

    class EpochClock(tt.callbacks.Callback):
        def on_fit_start(self) -> None:
            self.stamps = [_now()]

        def on_epoch_end(self) -> None:
            self.stamps.append(_now())

    torch.manual_seed(seed)  # torchtuples takes no generator
    net = pycox_network(data.X.shape[1])
    optimizer = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    model = CoxPH(net, optimizer, device="cpu")
    clock = EpochClock()
    log = model.fit(data.X, (data.time, data.event), batch_size=batch_size, epochs=epochs,
                    verbose=False, callbacks=[clock])
    shapes = [tuple(p.shape) for p in net.parameters()]
    return np.diff(clock.stamps, axis=0), float(log.to_pandas()["train_loss"].iloc[-1]), shapes


TRAINERS: dict[str, Callable[..., tuple[np.ndarray, float, list]]] = {
    OURS: lambda d, b, e, s: time_ours(d, b, e, s, "efron"),
    OURS_BRESLOW: lambda d, b, e, s: time_ours(d, b, e, s, "breslow"),
    PYCOX: time_pycox,
}


# -- one configuration -------------------------------------------------------------------
def epochs_for(n: int, requested: int | None) -> int:
    """Fixed epochs per run: more for small data (an epoch is a few milliseconds)."""
    if requested is not None:
        return requested
    return 12 if n <= 10_000 else 4


def run_configuration(data: EpochData, batch_size: int, epochs: int, repeats: int,
                      seed: int, progress: Callable[[], None] | None = None) -> list[dict]:
    """Interleave the trainers ``repeats`` times; one tidy row per trainer."""
    seconds: dict[str, list[np.ndarray]] = {name: [] for name in TRAINERS}
    losses: dict[str, list[float]] = {name: [] for name in TRAINERS}
    shapes: dict[str, list] = {}
    loads = []
    for repeat in range(repeats):
        for name, trainer in TRAINERS.items():
            per_epoch, loss, shape = trainer(data, batch_size, epochs, seed + repeat)
            seconds[name] += list(per_epoch[1:])  # rows: (wall, cpu) of one epoch
            losses[name].append(loss)
            shapes[name] = shape
            loads.append(os.getloadavg()[0])
            if progress is not None:
                progress()
    if shapes[OURS] != shapes[PYCOX]:
        raise AssertionError(f"networks differ: {shapes[OURS]} vs {shapes[PYCOX]}")
    wall = {name: np.array(v)[:, 0] for name, v in seconds.items()}
    cpu = {name: np.array(v)[:, 1] for name, v in seconds.items()}
    return [
        {
            "dataset": data.name, "n": len(data.time), "p": data.X.shape[1],
            "events": int(data.event.sum()), "batch_size": batch_size,
            "batches_per_epoch": int(np.ceil(len(data.time) / batch_size)), "epochs": epochs,
            "repeats": repeats, "timed_epochs": len(wall[name]), "package": name,
            "seconds_per_epoch": float(np.median(wall[name])),
            "q25_seconds": float(np.quantile(wall[name], 0.25)),
            "q75_seconds": float(np.quantile(wall[name], 0.75)),
            "cpu_seconds_per_epoch": float(np.median(cpu[name])),
            "ratio_to_pycox": float(np.median(wall[name]) / np.median(wall[PYCOX])),
            "cpu_ratio_to_pycox": float(np.median(cpu[name]) / np.median(cpu[PYCOX])),
            "last_train_loss": float(np.mean(losses[name])),
            "load_average_max": float(max(loads)),
        }
        for name in TRAINERS
    ]


# -- report -------------------------------------------------------------------------------
def summary_table(results: pd.DataFrame) -> str:
    """One markdown row per data set and batch size: ms per epoch and ratios to pycox."""
    lines = [
        "| data set | n | p | batch | batches/epoch | ours Efron (ms) | ours Breslow (ms) | "
        "pycox CoxPH (ms) | Efron / pycox, wall | Breslow / pycox, wall | Efron / pycox, CPU "
        "| Breslow / pycox, CPU | load avg (max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, group in results.groupby(["dataset", "batch_size"], sort=False):
        row = group.set_index("package")
        first = group.iloc[0]
        lines.append(
            f"| {first['dataset']} | {first['n']:,} | {first['p']} | {first['batch_size']} | "
            f"{first['batches_per_epoch']:,} | {_ms(row, OURS)} | {_ms(row, OURS_BRESLOW)} | "
            f"{_ms(row, PYCOX)} | {row.loc[OURS, 'ratio_to_pycox']:.2f} | "
            f"{row.loc[OURS_BRESLOW, 'ratio_to_pycox']:.2f} | "
            f"{row.loc[OURS, 'cpu_ratio_to_pycox']:.2f} | "
            f"{row.loc[OURS_BRESLOW, 'cpu_ratio_to_pycox']:.2f} | {first['load_average_max']:.1f} |"
        )
    return "\n".join(lines)


def _ms(row: pd.DataFrame, name: str) -> str:
    r = row.loc[name]
    return (f"{1e3 * r['seconds_per_epoch']:.1f} ({1e3 * r['q25_seconds']:.1f}–"
            f"{1e3 * r['q75_seconds']:.1f}; CPU {1e3 * r['cpu_seconds_per_epoch']:.1f})")


def markdown_report(results: pd.DataFrame, command: str, info: dict[str, str],
                    args: argparse.Namespace) -> str:
    """The committed results page."""
    lines = [
        "# DeepSurv epoch time: structunstruct vs pycox (same network, same batch size)",
        "", "Produced by", "", "```", command, "```", "",
        summary_table(results), "",
        "Milliseconds per epoch: median wall-clock time over all timed epochs (the first "
        "epoch of every run dropped), with the interquartile range and the median CPU time "
        "of the training thread in brackets. Ratios below 1 mean our epochs are faster; the "
        "CPU-time ratio is less affected by other jobs on a shared machine. Loss of the last epoch (mean over the runs), a check that both trained "
        "the same model: " + _losses(results) + ".",
        "",
        "## What is timed",
        "",
        f"- Network (both): `Linear(p, {HIDDEN[0]})`, ReLU, Dropout({DROPOUT}), "
        f"`Linear({HIDDEN[0]}, {HIDDEN[1]})`, ReLU, Dropout({DROPOUT}), "
        f"`Linear({HIDDEN[1]}, 1, bias=False)`; parameter shapes checked to be equal.",
        f"- Optimizer (both): `torch.optim.AdamW(lr={LR:g}, weight_decay={WEIGHT_DECAY:g})`; "
        "ours also clips the gradient norm at 10 (its default).",
        "- **ours**: `DeepSurv(tabular=[x0..], structured=None, hidden_layers=(64, 32), "
        "dropout=0.1, batch_size=B, max_epochs=E, early_stopping=None, "
        "validation_fraction=0.0, device='cpu', precision='32', ties=...)`: the estimator's "
        "own training loop (`structunstruct.training.Trainer`), loss = exact Cox partial "
        "likelihood of each mini-batch (Efron or Breslow ties).",
        "- **pycox**: `CoxPH(net, optimizer).fit(X, (time, event), batch_size=B, epochs=E, "
        "verbose=False)` (torchtuples loop, pycox's `CoxPHLoss`, no tie correction).",
        f"- {args.repeats} runs per package, interleaved (ours Efron, ours Breslow, pycox, "
        f"ours Efron, ...); torch threads: {args.threads}; fixed epochs per run (column "
        "`epochs` of the CSV), no validation data, no early stopping.",
        "- Data: METABRIC and SUPPORT (dummy-coded, standardized), and proportional-hazards "
        "data simulated as in `structunstruct/benchmarks/cox_speed.py` (p = 10, untied times).",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "The machine is shared with other jobs: compare the two packages through the ratio "
        "(timed interleaved in one process) rather than through the absolute times.",
        "",
    ]
    return "\n".join(lines)


def _losses(results: pd.DataFrame) -> str:
    parts = []
    for (dataset, batch), group in results.groupby(["dataset", "batch_size"], sort=False):
        row = group.set_index("package")["last_train_loss"]
        parts.append(f"{dataset}, batch {batch}: ours {row[OURS]:.3f}, pycox {row[PYCOX]:.3f}")
    return "; ".join(parts)


# -- command line --------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks deepsurv_epoch",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+",
                        default=["METABRIC", "SUPPORT", "sim10000", "sim100000"],
                        help="METABRIC, SUPPORT or sim<n> (simulated, p = 10)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256],
                        help="64 is DeepSurv's default, 256 the usual pycox setting")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per run (default 12 for n <= 1e4, else 4)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per package (interleaved)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="METABRIC and sim10000, 4 epochs, 2 runs; printed, not written")
    parser.add_argument("--out", type=Path, default=None,
                        help="stem of the result files (default benchmarks/results/deepsurv_epoch;"
                             " not written with --quick unless given)")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.epochs, args.repeats = ["METABRIC", "sim10000"], 4, 2
    if args.out is None and not args.quick:
        args.out = RESULTS_DIR / "deepsurv_epoch"
    return args


def run(args: argparse.Namespace, progress: Callable[[], None] | None = None) -> pd.DataFrame:
    """Every data set and batch size; the tidy results."""
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets:
        data = load(name, args.seed)
        for batch_size in args.batch_sizes:
            epochs = epochs_for(len(data.time), args.epochs)
            rows += run_configuration(data, batch_size, epochs, args.repeats, args.seed, progress)
    return pd.DataFrame(rows)


def n_tasks(args: argparse.Namespace) -> int:
    """Training runs of :func:`run` (for a progress bar)."""
    return len(args.datasets) * len(args.batch_sizes) * args.repeats * len(TRAINERS)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    """Entry point of ``python -m benchmarks deepsurv_epoch``."""
    from tqdm.auto import tqdm

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks", "deepsurv_epoch", *argv])
    info = machine_info(PACKAGES)
    load_before = load_average()
    with tqdm(total=n_tasks(args), desc="deepsurv_epoch", unit="fit", file=sys.stderr) as bar:
        results = run(args, bar.update)
    print(summary_table(results))
    if args.out is not None:
        info["load average (1 min) before / after"] = f"{load_before} / {load_average()}"
        write_results(results, args.out, command, info, args)
    return results


def write_results(results: pd.DataFrame, stem: Path, command: str, info: dict[str, str],
                  args: argparse.Namespace) -> None:
    """``<stem>.csv`` and ``<stem>.md`` (also called by the ``speed`` suite)."""
    info = {**info, "torch threads": str(args.threads)}
    stem.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(markdown_report(results, command, info, args))
    print(f"wrote {stem.with_suffix('.md')} and {stem.with_suffix('.csv')}", file=sys.stderr)
