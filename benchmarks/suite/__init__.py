"""The benchmark suites ``survival``, ``images``, ``regression`` and ``speed``.

``structunstruct benchmark SUITE [--quick] [--output DIR]`` and
``python -m benchmarks SUITE ...`` both end in :func:`run_suite` or the suite's
``main(argv)``.
"""

from __future__ import annotations

import importlib

SUITE_MODULES = {
    "survival": "benchmarks.suite.survival",
    "images": "benchmarks.suite.images",
    "regression": "benchmarks.suite.regression",
    "speed": "benchmarks.suite.speed",
}


def run_suite(suite: str, *, quick: bool = False, output: str | None = None) -> int:
    """Run one suite as its command line would; return the exit status."""
    if suite not in SUITE_MODULES:
        raise SystemExit(f"unknown benchmark suite {suite!r}; known: {sorted(SUITE_MODULES)}")
    argv = (["--quick"] if quick else []) + (["--output", output] if output else [])
    importlib.import_module(SUITE_MODULES[suite]).main(argv)
    return 0
