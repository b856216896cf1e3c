"""Gaussian-process emulators with known Monte-Carlo noise: fit, variance, leave-one-out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitts.evaluate.emulator import Emulator


def _data(n: int, noise_sd: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    f = np.sin(3 * x[:, 0]) + 0.5 * x[:, 1] ** 2
    return x, f + rng.normal(0, noise_sd, n), np.full(n, noise_sd**2)


def test_the_emulator_recovers_a_smooth_function_and_knows_where_it_is_unsure() -> None:
    x, y, v = _data(40, 0.01)
    em = Emulator(x, y, v)
    grid = np.random.default_rng(5).random((200, 2))
    mean, var = em.predict(grid)
    truth = np.sin(3 * grid[:, 0]) + 0.5 * grid[:, 1] ** 2
    assert np.sqrt(np.mean((mean - truth) ** 2)) < 0.03
    z = (mean - truth) / np.sqrt(var + 1e-4)
    assert np.mean(np.abs(z) > 3) < 0.05  # honest variance
    _, far = em.predict(np.array([[3.0, 3.0]]))  # far outside the design: prior variance
    _, near = em.predict(x[:1])
    assert far[0] > 20 * near[0]


def test_noisier_runs_are_trusted_less() -> None:
    x, y, _ = _data(30, 0.05, seed=2)
    quiet = Emulator(x, y, np.full(30, 1e-6))
    noisy = Emulator(x, y, np.full(30, 0.05**2))
    assert noisy.predict(x[:5])[1].mean() > quiet.predict(x[:5])[1].mean()


def test_leave_one_out_matches_refitting_without_the_run() -> None:
    """The closed form equals predicting each run from the others (same hyperparameters)."""
    from sklearn.gaussian_process import GaussianProcessRegressor

    x, y, v = _data(15, 0.02, seed=3)
    em = Emulator(x, y, v)
    loo = em.loo()
    yn = (y - em.mu) / em.scale
    for i in (0, 7, 14):
        keep = np.arange(len(y)) != i
        gp = GaussianProcessRegressor(em.gp.kernel_, alpha=em.gp.alpha[keep], optimizer=None).fit(x[keep], yn[keep])
        m, s = gp.predict(x[i:i + 1], return_std=True)
        assert em.mu + em.scale * m[0] == pytest.approx(loo.mean[i], rel=1e-6, abs=1e-8)
        sd = np.sqrt(s[0] ** 2 + em.gp.alpha[i]) * em.scale
        assert sd == pytest.approx(loo.sd[i], rel=1e-5)
    assert loo.outside <= 0.1


def test_non_finite_runs_are_dropped_and_too_few_refused() -> None:
    x, y, v = _data(10, 0.01)
    y[[1, 4]] = np.nan
    v[2] = np.inf
    em = Emulator(x, y, v)
    assert len(em.y) == 8 and np.isfinite(em.mc_var).all()
    with pytest.raises(ValueError, match="at least 4"):
        Emulator(x[:3], y[:3], v[:3])


@settings(max_examples=15, deadline=None)
@given(st.floats(-5, 5), st.floats(0.01, 10))
def test_a_constant_output_is_predicted_as_that_constant(level: float, scale: float) -> None:
    x = np.random.default_rng(0).random((8, 3))
    em = Emulator(x, np.full(8, level * scale), np.full(8, 1e-4 * scale**2))
    mean, var = em.predict(np.random.default_rng(1).random((5, 3)))
    np.testing.assert_allclose(mean, level * scale, atol=1e-6 * max(1.0, abs(level * scale)))
    assert np.all(var >= 0)
