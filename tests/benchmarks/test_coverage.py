"""95% Wald intervals of every head's classical fit cover the truth about 95% of the time.

A smaller run of ``benchmarks/coverage.py`` (whose 1,000-replicate results are in
``benchmarks/results/coverage.md``): each band is 0.95 ± 3.5 Monte-Carlo SDs of a
binomial proportion, so a right interval fails it with probability 5e-4 per
coefficient, while a standard error off by 20% (coverage 0.89 or 0.985) or an
information matrix used without inversion fails it.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.coverage import coverage  # the repository root is on pytest's pythonpath


@pytest.mark.parametrize(("head", "replicates"), [("cox", 1000), ("pamm", 1000), ("distributional", 250)])
def test_wald_intervals_cover_about_95_percent(head, replicates):
    table = coverage(head, replicates, seed=11)
    band = 3.5 * np.sqrt(0.95 * 0.05 / replicates)
    outside = table[np.abs(table["coverage"] - 0.95) > band]
    assert outside.empty, f"coverage outside 0.95 ± {band:.3f}:\n{outside.to_string()}"
    # the standard errors estimate the spread of the estimates (the SD of an SD at R
    # replicates is about SD / sqrt(2 R))
    ratio = table["mean_se"] / table["empirical_sd"]
    assert np.all(np.abs(ratio - 1) < 3.5 / np.sqrt(2 * replicates) + 0.05), ratio.to_list()
