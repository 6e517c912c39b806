"""The one registry of benchmarks: name → entry point, description, quick run, results.

``structunstruct benchmark NAME [--quick] [options]`` and, in a checkout of the
repository, ``python -m benchmarks NAME [--quick] [options]`` both go through
:func:`dispatch`. The package registers the suites it ships
(:mod:`structunstruct.benchmarks`); the repository's ``benchmarks/`` package registers its
measurement scripts into the same registry when it is imported, so the installed command
line never imports the repository.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    """One runnable benchmark.

    Parameters
    ----------
    name : str
        The name given on the command line.
    entry_point : str
        ``"module:function"``; the function takes the command-line options (a list of str)
        and runs the benchmark. Imported only when the benchmark runs.
    description : str
        One line: what it measures.
    results : tuple of str
        The files its full run writes into the results folder (``benchmarks/results``
        relative to the working directory, unless its ``--output``/``--out`` says otherwise).
    quick : tuple of str or None
        The options of its small smoke run, which ``--quick`` stands for (nothing of the
        committed results is overwritten); None when it has none.
    full : tuple of str
        The options of the run that produced the committed results (empty: the defaults).
    extra : str or None
        The optional dependency group of ``structunstruct`` it needs for every model
        (``pip install "structunstruct[benchmarks]"``); None when the package suffices.
    """

    name: str
    entry_point: str
    description: str
    results: tuple[str, ...] = ()
    quick: tuple[str, ...] | None = ("--quick",)
    full: tuple[str, ...] = ()
    extra: str | None = "benchmarks"

    def load(self) -> Callable[[list[str]], object]:
        """Import the entry point and return its function.

        Returns
        -------
        callable
            The function that takes the command-line options.

        Raises
        ------
        ImportError
            When its module cannot be imported; the message names the module and the extra.
        """
        module_name, _, function = self.entry_point.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            hint = f' (pip install "structunstruct[{self.extra}]")' if self.extra else ""
            raise ImportError(f"benchmark {self.name!r} needs module {module_name!r}, which "
                              f"could not be imported{hint}: {error}") from error
        return getattr(module, function or "main")


BENCHMARKS: dict[str, Benchmark] = {}


def register_benchmark(benchmark: Benchmark) -> Benchmark:
    """Add a benchmark to the registry.

    Parameters
    ----------
    benchmark : Benchmark
        Its name must be new, or registered with exactly the same settings.

    Returns
    -------
    Benchmark
        The benchmark, registered.

    Raises
    ------
    ValueError
        When another benchmark of the same name is registered.
    """
    known = BENCHMARKS.get(benchmark.name)
    if known is not None and known != benchmark:
        raise ValueError(f"a different benchmark named {benchmark.name!r} is registered "
                         f"({known.entry_point})")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


def list_benchmarks() -> list[str]:
    """Names of the registered benchmarks, sorted."""
    return sorted(BENCHMARKS)


def get_benchmark(name: str) -> Benchmark:
    """The registered benchmark called ``name``.

    Raises
    ------
    KeyError
        When none is, listing the known names.
    """
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {list_benchmarks()}")
    return BENCHMARKS[name]


def run_benchmark(name: str, options: Sequence[str] = (), *, quick: bool = False) -> object:
    """Run a registered benchmark as its command line would.

    Parameters
    ----------
    name : str
        A registered name (:func:`list_benchmarks`).
    options : sequence of str
        Further command-line options of that benchmark.
    quick : bool
        Prepend its quick options (:attr:`Benchmark.quick`); otherwise its full ones.

    Returns
    -------
    object
        Whatever its entry point returns.

    Raises
    ------
    KeyError
        Unknown ``name``.
    ValueError
        ``quick=True`` for a benchmark without a quick run.
    """
    benchmark = get_benchmark(name)
    if quick and benchmark.quick is None:
        raise ValueError(f"benchmark {name!r} has no quick run; quick runs: "
                         f"{[b for b in list_benchmarks() if BENCHMARKS[b].quick is not None]}")
    first = benchmark.quick if quick else benchmark.full
    return benchmark.load()([*first, *options])


def format_benchmarks() -> str:
    """The registry as a plain-text table: name, quick options, results, description."""
    lines = []
    for name in list_benchmarks():
        benchmark = BENCHMARKS[name]
        quick = "-" if benchmark.quick is None else " ".join(benchmark.quick) or "(defaults)"
        extra = f" [needs structunstruct[{benchmark.extra}]]" if benchmark.extra else ""
        lines.append(f"{name:18s} {benchmark.description}{extra}")
        lines.append(f"{'':18s}   quick: {quick}; results: {', '.join(benchmark.results) or '-'}")
    return "\n".join(lines)


def dispatch(argv: Sequence[str], prog: str) -> int:
    """Run ``NAME [--quick] [options]`` or list the benchmarks; the command lines' body.

    Parameters
    ----------
    argv : sequence of str
        ``["--list"]`` (or nothing, ``-h``, ``--help``) lists the benchmarks; otherwise the
        name, then its options; ``--quick`` among them stands for its quick options.
    prog : str
        The command, for the usage line (``"structunstruct benchmark"``).

    Returns
    -------
    int
        Exit status 0 (errors raise).

    Raises
    ------
    SystemExit
        An unknown name, with the known ones.
    """
    argv = list(argv)
    if not argv or argv[0] in ("--list", "-h", "--help"):
        print(f"usage: {prog} NAME [--quick] [options]   ({prog} NAME --help: its options)\n")
        print(format_benchmarks())
        return 0
    name, options = argv[0], argv[1:]
    if name not in BENCHMARKS:
        raise SystemExit(f"{prog}: unknown benchmark {name!r}; known: {list_benchmarks()}")
    quick = "--quick" in options
    run_benchmark(name, [option for option in options if option != "--quick"], quick=quick)
    return 0
