"""Command line: ``structunstruct demo | benchmark | tune`` (``python -m structunstruct ...``).

Each subcommand is a ``register_*`` function that adds its parser and sets the
function that runs it, so ``benchmark`` and ``tune`` slot in the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import DemoSettings, run_demo

    run_demo(DemoSettings(quick=args.quick, seed=args.seed, output=Path(args.output)))
    return 0


def register_demo(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="fit classical and deep Cox models on GBSG2 and on survival data with images",
        description=(
            "Part 1: lifelines' Cox, our classical Cox, DeepSurv and wide & deep Cox on "
            "GBSG2. Part 2: tabular, image-only, joint-fusion and wide & deep models on "
            "survival data with MNIST images, against the true risk. Prints one table per "
            "part and writes OUTPUT/demo.md with plots. Full run about 10 minutes on 2 CPU "
            "cores; --quick about 3."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="1500 image rows (1000 train / 500 test) and at most 30 epochs",
    )
    parser.add_argument(
        "--output", default="reports", metavar="DIR",
        help="folder of demo.md and the plots (default: reports)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of splits, data and networks")
    parser.set_defaults(handler=_run_demo)


def _run_benchmark(args: argparse.Namespace) -> int:
    from .benchmarks import dispatch

    argv = ["--list"] if args.list or args.name is None else [args.name, *args.options]
    return dispatch(argv, prog="structunstruct benchmark")


def register_benchmark(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` subcommand (the registry of :mod:`structunstruct.benchmarks`)."""
    parser = subparsers.add_parser(
        "benchmark", help="run a registered benchmark suite (--list lists them)",
        description="Run a benchmark of structunstruct.benchmarks: NAME [--quick] [options], "
        "the options after NAME going to the benchmark (NAME --help lists them). Results "
        "(CSV, markdown table, plot) go to benchmarks/results/ under the working directory "
        "(--output DIR); --quick is its small smoke run (survival --quick: *_quick.*).",
    )
    parser.add_argument("--list", action="store_true", help="list the registered benchmarks")
    parser.add_argument("name", metavar="NAME", nargs="?", help="a registered benchmark")
    parser.add_argument("options", nargs=argparse.REMAINDER,
                        help="its options, e.g. --quick, --output DIR")
    parser.set_defaults(handler=_run_benchmark)


def register_tune(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tune`` subcommand (:mod:`structunstruct.tuning._cli`)."""
    from .tuning._cli import register_tune as register

    register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The ``structunstruct`` argument parser with every subcommand."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="structunstruct",
        description="Survival models on structured plus unstructured (image) data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register_demo(subparsers)
    register_benchmark(subparsers)
    register_tune(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``structunstruct`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status (errors propagate as exceptions, giving a non-zero status).
    """
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
