"""Benchmarks of structunstruct: runnable suites whose result tables are committed.

Each suite is a module with a ``main(argv)`` function, run as
``python -m benchmarks.<suite>`` or ``python -m benchmarks <suite>``; results go to
``benchmarks/results/``. Speed is measured here, never asserted in unit tests.
"""

SUITES: dict[str, str] = {
    "cox_speed": "benchmarks.cox_speed",
    "survival": "benchmarks.suite.survival",
    "images": "benchmarks.suite.images",
    "fusion_gap": "benchmarks.fusion_gap",
    "orthogonalization": "benchmarks.orthogonalization",
    "pamm_speed": "benchmarks.pamm_speed",
    "deepsurv_epoch": "benchmarks.deepsurv_epoch",
    "speed": "benchmarks.suite.speed",
    "regression": "benchmarks.suite.regression",
    "coverage": "benchmarks.coverage",
}


def list_suites() -> list[str]:
    """Names of the benchmark suites."""
    return sorted(SUITES)
