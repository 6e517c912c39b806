"""Piecewise-exponential data: the vectorised split against a per-subject loop."""

from __future__ import annotations

import numpy as np
import pytest

from structunstruct.heads.pamm.ped import (
    exposure_matrix,
    hazard_at,
    integrated_hazard,
    resolve_cuts,
    split_ped,
)


def _loop_split(time, event, cuts):
    """Reference: the textbook split, one subject and interval at a time."""
    rows = []
    for i, (t, d) in enumerate(zip(time, event)):
        for k in range(len(cuts) - 1):
            if t <= cuts[k]:
                break
            stop = min(t, cuts[k + 1])
            status = float(d and t <= cuts[k + 1])
            rows.append((i, k, stop - cuts[k], status))
    return np.array(rows)


@pytest.fixture
def survival(rng):
    time = np.round(rng.exponential(5.0, size=300), 1)
    time[:3] = [0.0, 2.0, 40.0]  # a zero time, a time on a cut, one beyond the last cut
    event = rng.random(300) < 0.7
    return time, event


def test_split_matches_loop(survival):
    time, event = survival
    cuts = np.array([0.0, 1.0, 2.0, 3.0, 4.5, 6.5, 11.0])
    ped = split_ped(time, event, cuts)
    ref = _loop_split(time, event, cuts)
    got = np.column_stack([ped.subject, ped.interval, ped.exposure, ped.status])
    np.testing.assert_allclose(got, ref)
    assert (ped.exposure > 0).all()
    np.testing.assert_allclose(ped.offset, np.log(ped.exposure))
    np.testing.assert_array_equal(ped.tend, cuts[ped.interval + 1])


def test_split_preserves_time_at_risk_and_events(survival):
    time, event = survival
    cuts = resolve_cuts(time, event, 8)
    ped = split_ped(time, event, cuts)
    at_risk = np.bincount(ped.subject, weights=ped.exposure, minlength=len(time))
    np.testing.assert_allclose(at_risk, np.minimum(time, cuts[-1]))
    assert ped.status.sum() == (event & (time <= cuts[-1]) & (time > 0)).sum()


def test_dense_layout_equals_long_layout(survival):
    time, event = survival
    cuts = resolve_cuts(time, event, 6)
    ped = split_ped(time, event, cuts)
    exposure, status = exposure_matrix(time, event, cuts)
    np.testing.assert_allclose(exposure[ped.subject, ped.interval], ped.exposure)
    np.testing.assert_allclose(status[ped.subject, ped.interval], ped.status)
    assert (exposure > 0).sum() == ped.n_rows and status.sum() == ped.status.sum()


def test_resolve_cuts():
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 9.0])
    event = np.array([1, 1, 1, 1, 1, 0], dtype=bool)
    np.testing.assert_allclose(resolve_cuts(time, event, 4), [0, 2, 3, 4, 5])
    np.testing.assert_allclose(resolve_cuts(time, event, [1, 2, 3]), [0, 1, 2, 3])
    np.testing.assert_allclose(resolve_cuts(time, event, [0, 1, 2]), [0, 1, 2])
    for unsorted in ([3, 1, 2], [1, 1, 2], [5, 3, 1]):  # a typo, not an order to guess
        with pytest.raises(ValueError, match="strictly increasing"):
            resolve_cuts(time, event, unsorted)
    with pytest.raises(ValueError, match="non-negative"):
        resolve_cuts(time, event, [-1.0, 2.0])
    with pytest.raises(ValueError, match="positive number"):
        resolve_cuts(time, event, 0)


def test_integrated_hazard_is_piecewise_linear():
    cuts = np.array([0.0, 1.0, 3.0])
    hazard = np.array([[0.5], [2.0]])
    times = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(integrated_hazard(hazard, cuts, times)[:, 0], [0, 0.25, 0.5, 2.5, 4.5, 6.5])
    np.testing.assert_allclose(hazard_at(hazard, cuts, np.array([0.5, 1.0, 1.5]))[:, 0], [0.5, 0.5, 2.0])


def test_split_scales_linearly_without_python_loops(rng):
    n = 200_000
    time = rng.exponential(1.0, size=n)
    event = rng.random(n) < 0.8
    ped = split_ped(time, event, resolve_cuts(time, event, 20))
    assert ped.n_rows <= 20 * n and ped.subject.dtype == np.int64
