"""The API reference lists every public name of the documented modules."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
ESTIMATORS = ["DeepSurv", "DeepPAMM", "SemiStructuredRegressor", "LateFusion", "MultiSurv"]


@pytest.mark.parametrize(
    "module",
    ["structunstruct.plotting", "structunstruct.metrics", "structunstruct.datasets",
     "structunstruct.nn", "structunstruct.training", "structunstruct.tuning"],
)
def test_every_public_name_is_in_the_reference(module):
    listed = set(re.findall(r"^   (\w+)$", API.read_text(encoding="utf-8"), flags=re.M))
    missing = set(importlib.import_module(module).__all__) - listed
    assert not missing, f"{module}: add {sorted(missing)} to docs/api.rst"


def test_estimators_are_in_the_reference():
    listed = set(re.findall(r"^   (\w+)$", API.read_text(encoding="utf-8"), flags=re.M))
    assert set(ESTIMATORS) <= listed
    assert "load" in listed  # structunstruct.load
