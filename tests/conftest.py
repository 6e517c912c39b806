"""Shared fixtures: small real data sets and seeds."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import settings
from threadpoolctl import threadpool_limits

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# CI draws the same property-test examples every run (a failure there is reproducible);
# locally hypothesis keeps drawing new ones
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
# pytest-xdist runs one worker per core: one thread each for torch and BLAS
torch.set_num_threads(1)
threadpool_limits(1)


@pytest.fixture(scope="session")
def gbsg2():
    from structunstruct.datasets import load_gbsg2

    return load_gbsg2()


@pytest.fixture(scope="session")
def whas500():
    from structunstruct.datasets import load_whas500

    return load_whas500()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
