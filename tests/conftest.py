"""Shared fixtures: small real data sets and seeds."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


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
