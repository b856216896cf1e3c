"""The kernels' fast exp and logistic against NumPy over the whole float64 range."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fitts.sim.fastmath import EXP_HI, fexp_array, flogistic_array

REL_EXP = 1e-15  # the stated accuracy (module docstring of fitts.sim.fastmath)
REL_LOGISTIC = 2e-15


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.abs(b)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-707.0, EXP_HI, allow_nan=False), min_size=1, max_size=64))
def test_fexp_relative_error(xs: list[float]) -> None:
    x = np.array(xs)
    assert _rel(fexp_array(x), np.exp(x)).max() < REL_EXP


def test_fexp_dense_grid_and_reduction_boundaries() -> None:
    """Every interval between multiples of ln 2 / 2 (where the reduction switches n)."""
    grid = np.linspace(-707.0, EXP_HI, 400_001)
    edges = np.arange(-2040, 2048) * (math.log(2) / 2)
    edges = edges[(edges > -707) & (edges < EXP_HI)]
    x = np.concatenate([grid, edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                        [0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8]])
    assert _rel(fexp_array(x), np.exp(x)).max() < REL_EXP


def test_fexp_ends_and_specials() -> None:
    x = np.array([EXP_HI + 1e-9, 710.0, 1e300, np.inf, -708.5, -745.2, -1e300, -np.inf, np.nan])
    y = fexp_array(x)
    assert np.isinf(y[:4]).all() and (y[:4] > 0).all()
    assert ((y[4:8] >= 0) & (y[4:8] <= 2.3e-308)).all()
    assert np.isnan(y[8])
    assert fexp_array(np.array([0.0]))[0] == 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=64))
def test_flogistic_relative_error(xs: list[float]) -> None:
    x = np.array(xs)
    with np.errstate(over="ignore"):
        ref = 1.0 / (1.0 + np.exp(-x))
    got = flogistic_array(x)
    tiny = ref < 1e-300  # beyond exp's range both are 0 or subnormal
    assert (_rel(got[~tiny], ref[~tiny]) < REL_LOGISTIC).all()
    assert (got[tiny] <= 2.3e-308).all()
    assert ((got >= 0) & (got <= 1)).all()
