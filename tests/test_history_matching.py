"""History matching on an analytic stochastic simulator: known answers for every rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fitts.evaluate.history_matching import HistoryMatch, Settings, band_quantity, bound_quantity, maximin

TRUTH = np.array([0.3, 0.7, 0.5])
SD = 0.01


def f(x: np.ndarray) -> dict[str, float]:
    return {"A": x[0] + 0.5 * x[1] ** 2, "B": np.sin(3 * x[1]) * x[2], "C": x[0] * x[2] + 0.2 * x[1]}


def simulator(seed: int = 0, extra: dict | None = None):
    rng = np.random.default_rng(seed)

    def run(points: np.ndarray, stage: str) -> list[dict[str, tuple[float, float]]]:
        out = []
        for x in points:
            o = {k: (v + rng.normal(0, SD), SD**2) for k, v in f(x).items()}
            for name, src in (extra or {}).items():
                o[name] = o[src]
            out.append(o)
        return out

    return run


def quantities(width: float = 0.05):
    return [band_quantity(k, k, (v - width, v + width), v) for k, v in f(TRUTH).items()]


def test_the_true_point_stays_and_most_of_the_cube_goes() -> None:
    hm = HistoryMatch(quantities(), 3, Settings(wave_size=20, max_waves=4, seed=1, samples=4096))
    reason = hm.run(simulator())
    assert reason.startswith("converged") or "waves" in reason
    assert hm.impl_through(TRUTH[None, :])[1][-1][0]
    assert 0 < hm.waves[-1].fraction < 0.05
    # every point left reproduces the targets within tolerance, by the real function
    for x in hm.waves[-1].points[:200]:
        for q in hm.quantities.values():
            assert q.low - 0.03 <= f(x)[q.name] <= q.high + 0.03
    best = hm.runs[hm.best_runs(1)[0]]
    assert np.all(hm.observed_implausibility(best) <= 3)


def test_an_impossible_pair_is_a_tension_and_empties_the_space() -> None:
    v = f(TRUTH)["A"]
    qs = [*quantities(), band_quantity("A2", "A2", (v + 0.4, v + 0.5), None)]
    hm = HistoryMatch(qs, 3, Settings(wave_size=20, max_waves=3, seed=1, samples=4096, set_aside=False))
    assert hm.run(simulator(extra={"A2": "A"})).startswith("empty")
    t = hm.waves[-1].tensions.set_index(["a", "b"])
    assert t.loc[("A", "A2"), "impossible"]
    assert not t.loc[("A", "A"), "impossible"] and not t.loc[("A2", "A2"), "impossible"]
    assert not t.loc[("A", "B"), "impossible"]
    assert t.loc[("A", "B"), "fraction"] > 0  # a size, not just a flag


def test_a_target_out_of_reach_is_set_aside_and_the_rest_still_converge() -> None:
    # A = x0 + x1^2/2 lies in [0, 1.5]: a band at 3 cannot be met by any setting
    qs = [*quantities(), band_quantity("D", "D", (2.9, 3.1), 3.0)]
    hm = HistoryMatch(qs, 3, Settings(wave_size=20, max_waves=4, seed=1, samples=4096))
    reason = hm.run(simulator(extra={"D": "A"}))
    assert not reason.startswith("empty")
    assert list(hm.set_aside) == ["D"] and "even alone" in hm.set_aside["D"]
    assert hm.waves[0].set_aside == hm.set_aside and hm.wave_table().set_aside.iloc[0] == "D"
    assert hm.impl_through(TRUTH[None, :])[1][-1][0]  # the truth still meets A, B and C
    assert 0 < hm.waves[-1].fraction < 0.05
    t = hm.waves[-1].tensions.set_index(["a", "b"])
    assert t.loc[("D", "D"), "impossible"]  # and the tension table still says so


def test_of_an_impossible_pair_one_is_set_aside_and_the_other_kept() -> None:
    v = f(TRUTH)["A"]
    qs = [*quantities(), band_quantity("A2", "A2", (v + 0.4, v + 0.5), None)]
    hm = HistoryMatch(qs, 3, Settings(wave_size=20, max_waves=3, seed=1, samples=4096))
    hm.run(simulator(extra={"A2": "A"}))
    assert len(hm.set_aside) == 1 and next(iter(hm.set_aside)) in ("A", "A2")
    assert "without it" in next(iter(hm.set_aside.values()))
    assert len(hm.waves[-1].points) > 0
    kept = "A2" if "A" in hm.set_aside else "A"
    for x in hm.waves[-1].points[:100]:  # the points left meet the kept one of the pair, and B and C
        for name in (kept, "B", "C"):
            q = hm.quantities[name]
            assert q.low - 0.05 <= f(x)["A" if name == "A2" else name] <= q.high + 0.05


def test_second_largest_measure_tolerates_one_target() -> None:
    v = f(TRUTH)["A"]
    qs = [*quantities(), band_quantity("A2", "A2", (v + 0.4, v + 0.5), None)]
    hm = HistoryMatch(qs, 3, Settings(wave_size=20, max_waves=2, seed=1, samples=4096, measure="second"))
    hm.run(simulator(extra={"A2": "A"}))
    assert len(hm.waves[-1].points) > 0


def test_the_budget_stops_before_a_wave_that_does_not_fit() -> None:
    hm = HistoryMatch(quantities(), 3, Settings(wave_size=20, max_waves=5, seed=1, samples=2048, precise=0.0,
                                                shrink=1.01))
    used = []

    def budget(n: int) -> bool:
        ok = sum(used) + n <= 30
        if ok:
            used.append(n)
        return ok

    assert hm.run(simulator(), budget=budget).startswith("budget")
    assert len(hm.runs) == 20 and len(hm.waves) == 1


def test_designs_are_deterministic_and_inside_the_space() -> None:
    a = HistoryMatch(quantities(), 3, Settings(wave_size=15, seed=4, samples=2048))
    b = HistoryMatch(quantities(), 3, Settings(wave_size=15, seed=4, samples=2048))
    np.testing.assert_array_equal(a.design(1), b.design(1))
    for hm in (a, b):
        x = hm.design(1)
        hm.add_runs(x, simulator(seed=9)(x, "wave 1"), "wave 1")
        hm.fit_wave(1)
    np.testing.assert_array_equal(a.design(2), b.design(2))
    assert a.impl_through(a.design(2))[1][-1].all()


@given(st.floats(-3, 3), st.floats(0.01, 2), st.floats(0.0, 1.0))
def test_implausibility_is_three_at_the_band_edge_without_other_uncertainty(centre: float, half: float,
                                                                         skew: float) -> None:
    lo, hi = centre - half, centre + half * (0.2 + skew)
    q = band_quantity("q", "q", (lo, hi), centre)
    at = q.implausibility(np.array([lo, hi, centre]), np.zeros(3), 0.0)
    np.testing.assert_allclose(at, [3.0, 3.0, 0.0], atol=1e-9)
    inside = q.implausibility(np.array([0.5 * (lo + centre)]), np.zeros(1), 0.0)
    assert inside[0] < 3
    more = q.implausibility(np.array([hi]), np.array([0.1]), 0.2)
    assert more[0] < 3  # emulator/Monte-Carlo variance and discrepancy widen what is plausible


def test_bounds_are_one_sided() -> None:
    q = bound_quantity("r", "r", 3.0, "min")
    imp = q.implausibility(np.array([5.0, 3.0, 2.0]), np.full(3, 0.25), 0.0)
    assert imp[0] == 0 and imp[1] == 0 and imp[2] == pytest.approx(2.0)


def test_maximin_spreads_points() -> None:
    pts = np.random.default_rng(0).random((500, 2))
    chosen = maximin(pts, 10)
    d = np.linalg.norm(chosen[:, None] - chosen[None], axis=2) + np.eye(10) * 9
    rand = pts[:10]
    dr = np.linalg.norm(rand[:, None] - rand[None], axis=2) + np.eye(10) * 9
    assert d.min() > dr.min()
    assert len(maximin(pts[:5], 10)) == 5


def test_a_per_quantity_monte_carlo_scale_replaces_the_common_one() -> None:
    qs = quantities()
    hm = HistoryMatch(qs, 3, Settings(wave_size=20, seed=1, samples=1024, mc_scale=0.1), mc_scales={"A": 1.0})
    x = hm.design(1)
    hm.add_runs(x, simulator()(x, "wave 1"), "wave 1")
    wave = hm.fit_wave(1)
    mc = hm._mc_var(wave)
    assert mc["A"] == pytest.approx(SD**2) and mc["B"] == pytest.approx(0.1 * SD**2)


def test_a_target_set_aside_too_early_is_matched_again_when_a_later_wave_meets_it() -> None:
    hm = HistoryMatch(quantities(), 3, Settings(wave_size=20, max_waves=3, seed=1, samples=2048))
    sim = simulator()
    x = hm.design(1)
    hm.add_runs(x, sim(x, "wave 1"), "wave 1")
    hm.fit_wave(1)
    hm.set_aside["A"] = "wave 1: set aside by hand (as poor early emulators might)"
    x = hm.design(2)
    hm.add_runs(x, sim(x, "wave 2"), "wave 2")
    wave = hm.fit_wave(2)
    assert "A" not in hm.set_aside and "A" in wave.restored  # A is met with B and C: matched again
    assert hm.wave_table().restored.iloc[1] == "A"
    assert hm.impl_through(TRUTH[None, :])[1][-1][0]


def test_a_tiny_space_is_explored_until_a_wave_has_many_candidates() -> None:
    """In 8 dimensions a uniform sample sees a few points of a small space, and their bounding
    box is mostly empty; clouds around the points found must still give `want` candidates,
    every one non-implausible, so the next wave is designed from many (not from a handful)."""
    rng = np.random.default_rng(0)
    d = 8

    def g(x: np.ndarray) -> dict[str, float]:
        return {"S": float(x.sum()), "P": float(x[0] * x[1]), "Q": float(x[2] - x[3])}

    qs = [band_quantity("S", "S", (3.9, 4.1), 4.0), band_quantity("P", "P", (0.19, 0.31), 0.25),
          band_quantity("Q", "Q", (-0.06, 0.06), 0.0)]
    hm = HistoryMatch(qs, d, Settings(wave_size=60, seed=1, samples=2048))
    x = hm.design(1)
    hm.add_runs(x, [{k: (v + rng.normal(0, 0.005), 0.005**2) for k, v in g(p).items()} for p in x], "wave 1")
    wave = hm.fit_wave(1)
    assert wave.fraction * 2048 < 20  # the uniform sample alone finds few
    assert len(wave.points) >= 1000
    assert hm.impl_through(wave.points)[1][-1].all()
    assert len(hm.design(2)) == 60
