"""Integrators: convergence order on known answers, Ornstein–Uhlenbeck statistics, scipy agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from fitts import compile_model, load_model_text, simulate
from fitts.sim.backends.numpy_backend import NumpyBackend
from tests.helpers import ALL_INTEGRATORS

LINEAR = """
name: linear
nodes:
  a: {rate: "-a + 0.5*b", initial: 1.0, bounds: [null, null]}
  b: {rate: "-0.3*a - 0.2*b", initial: 0.0, bounds: [null, null]}
"""
A = np.array([[-1.0, 0.5], [-0.3, -0.2]])


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS, ids=lambda c: c.name)
def test_ode_order_on_linear_system(integrator: type) -> None:
    """Global error at T=2 against expm; slope of log error vs log dt ~ order()."""
    model = compile_model(load_model_text(LINEAR))
    exact = expm(2.0 * A) @ np.array([1.0, 0.0])
    dts = [0.1, 0.05, 0.025, 0.0125]
    errs = []
    for dt in dts:
        ds = simulate(model, patients=1, days=2.0, dt=dt, method=integrator.name, backend="numpy",
                      record_every=2.0, noise=False)
        errs.append(np.abs(ds.trajectory.values[0, -1] - exact).max())
    slope = stats.linregress(np.log(dts), np.log(errs)).slope
    assert abs(slope - integrator().order()) < 0.3, (slope, errs)


def test_euler_maruyama_strong_order_on_ou() -> None:
    """Same Brownian path at every dt: EM error vs the exact OU solution shrinks ~ dt^1.

    (Strong order 1 because the noise is additive.)
    """
    from fitts.sim.integrators import EulerMaruyama

    theta, sigma, T = 1.5, 0.5, 1.0
    fine = 2**12
    rng = np.random.default_rng(0)
    n_paths = 200
    dW = rng.normal(0, np.sqrt(T / fine), size=(fine, n_paths))
    # exact solution on the fine grid driven by the same increments (exact OU transition
    # with the stochastic integral approximated on the finest grid)
    h = T / fine
    x_exact = np.ones(n_paths)
    for k in range(fine):
        x_exact = x_exact * np.exp(-theta * h) + sigma * np.exp(-theta * h / 2) * dW[k]
    integ = EulerMaruyama()

    def rhs(x: np.ndarray, t: float, out: np.ndarray) -> None:
        out[...] = -theta * x

    errs, dts = [], []
    for m in (2**4, 2**5, 2**6, 2**7):
        dt = T / m
        x = np.ones((1, n_paths))
        buf = np.empty((1, 1, n_paths))
        inc = dW.reshape(m, fine // m, n_paths).sum(axis=1)
        for k in range(m):
            x = integ.increment(rhs, x, k * dt, dt, buf) + sigma * inc[k]
        errs.append(np.sqrt(np.mean((x[0] - x_exact) ** 2)))
        dts.append(dt)
    slope = stats.linregress(np.log(dts), np.log(errs)).slope
    assert abs(slope - integ.strong_order()) < 0.3, (slope, errs)


OU = """
name: ou
parameters:
  theta: {value: 2.0}
  mu: {value: 0.3}
nodes:
  x: {rate: "theta*(mu - x)", initial: 0.3, noise: 0.2, bounds: [null, null]}
"""


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
def test_ou_stationary_mean_and_variance(backend: str) -> None:
    """Stationary law of EM for OU: mean mu, variance sigma^2 / (theta (2 - theta dt))."""
    theta, mu, sigma, dt = 2.0, 0.3, 0.2, 0.01
    ds = simulate(load_model_text(OU), patients=4000, days=5.0, dt=dt, backend=backend, seed=3,
                  record_every=5.0)
    x = ds.trajectory.values[:, -1, 0]
    var = sigma**2 / (theta * (2 - theta * dt))
    n = len(x)
    assert abs(x.mean() - mu) < 4 * np.sqrt(var / n)
    assert abs(x.var(ddof=1) - var) < 4 * var * np.sqrt(2 / (n - 1))


NONLIN = """
name: nonlin
inputs:
  u: {}
nodes:
  a: {tau: 0.7, baseline: -1.0}
  b: {tau: 1.3, baseline: 0.5}
  c: {rate: "0.5*sin(3*a) - c*c*c + 0.1*u", initial: 0.2, bounds: [null, null]}
edges:
  - {from: a, to: b, sign: '-', weight: -3.0}
  - {from: b, to: a, sign: '+', weight: 4.0}
  - {from: u, to: a, sign: '+', weight: 1.0}
  - {from: c, to: b, sign: '+', weight: 1.0, mode: gating, gate: a}
"""


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
def test_rk4_matches_solve_ivp_on_nonlinear_model(backend: str) -> None:
    spec = load_model_text(NONLIN)
    model = compile_model(spec)
    rk4 = simulate(model, patients=1, days=10.0, dt=0.005, method="rk4", backend=backend,
                   noise=False, schedule=[{"input": "u", "kind": "step", "start": 0, "level": 0.5}])
    P = rk4.params.values[0][:, None]
    be = NumpyBackend(model)
    U = np.array([[0.5]])
    x0 = rk4.trajectory.values[0, 0]
    ref = solve_ivp(lambda t, y: be.rhs(y[:, None], P, U, t)[:, 0], (0, 10), x0,
                    t_eval=np.arange(11.0), rtol=1e-11, atol=1e-12, method="DOP853")
    np.testing.assert_allclose(rk4.trajectory.values[0], ref.y.T, atol=1e-8)
    lsoda = simulate(model, patients=1, days=10.0, method="LSODA", noise=False, rtol=1e-9,
                     atol=1e-11, schedule=[{"input": "u", "kind": "step", "start": 0, "level": 0.5}])
    np.testing.assert_allclose(lsoda.trajectory.values[0], ref.y.T, atol=1e-6)


def test_deterministic_method_refuses_noise(tmp_path: Path) -> None:
    from fitts import ModelError

    with pytest.raises(ModelError, match="deterministic but the model has noise"):
        simulate(load_model_text(OU), patients=1, days=1.0, method="rk4")
