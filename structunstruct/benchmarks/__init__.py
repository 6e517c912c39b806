"""Benchmark suites shipped with the package, and the one registry of benchmarks.

``structunstruct benchmark --list`` lists the registered benchmarks and
``structunstruct benchmark NAME [--quick] [options]`` runs one (``NAME --help``: its
options). The suites here import only the package and its dependencies; the comparison
models of other libraries (pycox, torchtuples) come with ``structunstruct[benchmarks]``.
Results go to ``benchmarks/results/`` under the working directory unless ``--output``
says otherwise. The repository's ``benchmarks/`` package registers its measurement
scripts into the same registry (``python -m benchmarks --list`` shows all).
"""

from __future__ import annotations

from .registry import (
    BENCHMARKS,
    Benchmark,
    dispatch,
    format_benchmarks,
    get_benchmark,
    list_benchmarks,
    register_benchmark,
    run_benchmark,
)

__all__ = ["BENCHMARKS", "Benchmark", "dispatch", "format_benchmarks", "get_benchmark",
           "list_benchmarks", "register_benchmark", "run_benchmark"]

_HERE = __name__

register_benchmark(Benchmark(
    "survival", f"{_HERE}.survival:main",
    "real survival data sets (GBSG2, WHAS500, FLCHAIN, veterans, AIDS, METABRIC, SUPPORT), "
    "K-fold CV, our models against lifelines, scikit-survival and pycox",
    results=("survival.csv", "survival.md", "survival.png")))
register_benchmark(Benchmark(
    "images", f"{_HERE}.images:main",
    "survival MNIST and hybrid tabular + image data: tabular, image-only, joint, late "
    "fusion, wide & deep, oracle",
    results=("images.csv", "images.md"), extra=None))
register_benchmark(Benchmark(
    "regression", f"{_HERE}.regression:main",
    "SemiStructuredRegressor against statsmodels OLS and HistGradientBoosting on "
    "real and image regression data",
    results=("regression.csv", "regression.md", "regression.png"), extra=None))
register_benchmark(Benchmark(
    "speed", f"{_HERE}.speed:main",
    "cox_speed, pamm_speed and deepsurv_epoch in one tidy table and plot",
    results=("speed.csv", "speed.md", "speed.png", "deepsurv_epoch.csv", "deepsurv_epoch.md")))
register_benchmark(Benchmark(
    "cox_speed", f"{_HERE}.cox_speed:main",
    "classical Cox fit (Efron ties) against lifelines and scikit-survival, n = 1e5 and 1e6",
    results=("cox_speed.csv", "cox_speed.md"), extra=None))
register_benchmark(Benchmark(
    "pamm_speed", f"{_HERE}.pamm_speed:main",
    "PED split and classical DeepPAMM fit against statsmodels' Poisson GLM",
    results=("pamm_speed.csv", "pamm_speed.md"), extra=None))
register_benchmark(Benchmark(
    "deepsurv_epoch", f"{_HERE}.deepsurv_epoch:main",
    "seconds per DeepSurv training epoch against pycox CoxPH on the same network",
    results=("deepsurv_epoch.csv", "deepsurv_epoch.md")))
