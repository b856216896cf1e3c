"""Target statistics against closed forms, and their bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitts.evaluate.statistics import (
    correlation,
    estimate,
    hedges_g,
    mean_difference,
    odds_ratio,
    proportion,
    ratio,
    smd,
)


def test_odds_ratio_of_a_known_table() -> None:
    # 30/70 exposed cases/non-cases, 10/90 unexposed: OR = (30*90)/(70*10)
    exposed = np.r_[np.ones(30), np.zeros(70)]
    unexposed = np.r_[np.ones(10), np.zeros(90)]
    assert odds_ratio(exposed, unexposed) == pytest.approx(30 * 90 / (70 * 10))


def test_odds_ratio_with_an_empty_cell_uses_haldane() -> None:
    assert odds_ratio(np.ones(5), np.r_[np.ones(1), np.zeros(4)]) == pytest.approx((5.5 * 4.5) / (0.5 * 1.5))


def test_smd_hedges_ratio_difference_closed_forms() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([0.0, 1.0, 2.0])
    sp = np.sqrt((3 * np.var(x, ddof=1) + 2 * np.var(y, ddof=1)) / 5)
    assert smd(x, y) == pytest.approx((2.5 - 1.0) / sp)
    assert hedges_g(x, y) == pytest.approx((2.5 - 1.0) / sp * (1 - 3 / (4 * 7 - 9)))
    assert ratio(x, y) == pytest.approx(2.5)
    assert mean_difference(x, y) == pytest.approx(1.5)
    assert proportion(np.array([1, 0, 0, 1.0])) == 0.5


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 40), st.integers(0, 10_000))
def test_correlation_matches_numpy(n: int, seed: int) -> None:
    r = np.random.default_rng(seed)
    x, y = r.normal(size=n), r.normal(size=n)
    assert correlation(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)


def test_statistics_are_vectorised_over_resamples() -> None:
    r = np.random.default_rng(0)
    x, y = r.normal(size=(7, 50)), r.normal(size=(7, 60))
    for stat in (smd, hedges_g, ratio, mean_difference):
        got = stat(x, y, axis=-1)
        assert got.shape == (7,)
        assert got[3] == pytest.approx(stat(x[3], y[3]))


def test_bootstrap_interval_brackets_the_value_and_narrows_with_n() -> None:
    r = np.random.default_rng(1)
    small = estimate(hedges_g, r.normal(0.5, 1, 100), r.normal(0, 1, 100), seed=2)
    large = estimate(hedges_g, r.normal(0.5, 1, 3000), r.normal(0, 1, 3000), seed=2)
    for e in (small, large):
        assert e.low < e.value < e.high
    assert (large.high - large.low) < 0.4 * (small.high - small.low)
    assert large.low < 0.5 < large.high


def test_paired_bootstrap_keeps_pairs() -> None:
    r = np.random.default_rng(3)
    x = r.normal(size=400)
    e = estimate(correlation, x, x + 0.1 * r.normal(size=400), paired=True, seed=0)
    assert e.low > 0.98


def test_cross_lagged_finds_the_direction_that_was_built_in() -> None:
    """y drives next-day x; x does not drive y: forward is large, reverse near zero."""
    from fitts.evaluate.statistics import cross_lagged, cross_lagged_difference, lagged_sums, nnt

    rng = np.random.default_rng(4)
    n, days = 200, 60
    y = rng.normal(size=(n, days)) + rng.normal(size=(n, 1)) * 3  # person means must not matter
    x = np.zeros((n, days))
    x[:, 0] = rng.normal(size=n)
    for k in range(1, days):
        x[:, k] = 0.3 * x[:, k - 1] + 0.6 * y[:, k - 1] + rng.normal(size=n)
    fwd, rev = lagged_sums(y, x), lagged_sums(x, y)
    f, r = float(cross_lagged(*fwd)), float(cross_lagged(*rev))
    assert f > 0.4 and abs(r) < 0.05
    assert float(cross_lagged_difference(*fwd, *rev)) == pytest.approx(f - r)
    assert float(nnt(np.array([1, 1, 0, 0.0]), np.array([1, 0, 0, 0.0]))) == pytest.approx(4.0)
