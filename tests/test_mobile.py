"""The hanging mobile (fitts.analysis.mobile): closed form for a linear model, brute-force pushes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fitts import compile_model, load_model, simulate
from fitts.analysis.mobile import mobile
from fitts.analysis.steady import parameter_vector
from fitts.sim.sample import typical_parameters

#: dx/dt = b + W x - D x with D = diag(2, 1, 3): S = (D - W)^-1, B = I
LINEAR = """
name: linear3
nodes:
  a: {rate: "drive - 2*a", baseline: 1.0, bounds: [null, null]}
  b: {rate: "drive - b", baseline: 0.5, bounds: [null, null]}
  c: {rate: "drive - 3*c", baseline: 0.0, bounds: [null, null]}
edges:
  - {from: a, to: b, sign: '+', weight: 0.5}
  - {from: b, to: c, sign: '+', weight: 1.0}
  - {from: c, to: a, sign: '-', weight: -0.5}
"""


def _brute_force(model, params: dict, starts: np.ndarray, cols: list[str], eps: float, days: float,
                 dt: float) -> np.ndarray:
    """Columns of S, shape (n_starts, n, len(cols)), by simulating sustained pushes +-eps on each node's
    drive (a shift of its baseline) from each steady state in `starts` (n_starts, n), all in one run."""
    P = parameter_vector(model, params)  # the patient's baselines, derived ones included
    n_p = 2 * len(cols) * len(starts)
    over = {k: np.full(n_p, float(v)) for k, v in params.items()}
    for i, s in enumerate(model.states):
        over[f"initial.{s}"] = np.repeat(starts[:, i], 2 * len(cols))
    for k, col in enumerate(cols):
        v = np.full((len(starts), 2 * len(cols)), float(P[model.param_index[f"baseline.{col}"]]))
        v[:, 2 * k] += eps
        v[:, 2 * k + 1] -= eps
        over[f"baseline.{col}"] = v.reshape(-1)
    ds = simulate(model, patients=n_p, days=days, dt=dt, noise=False, method="rk4", backend="numpy",
                  params=over, record_every=days)
    end = ds.trajectory.values[:, -1, :].reshape(len(starts), 2 * len(cols), -1)
    return np.stack([(end[:, 2 * k] - end[:, 2 * k + 1]) / (2 * eps) for k in range(len(cols))], axis=2)


def test_linear_model_matches_closed_form_and_simulation(tmp_path: Path) -> None:
    p = tmp_path / "linear3.yaml"
    p.write_text(LINEAR)
    m = compile_model(load_model(p))
    ds = mobile(m, starts=8)
    assert ds.sizes["attractor"] == 1
    D = np.diag([2.0, 1.0, 3.0])
    W = np.array([[0.0, 0.0, -0.5], [0.5, 0.0, 0.0], [0.0, 1.0, 0.0]])  # W[to, from]
    S = np.linalg.inv(D - W)
    np.testing.assert_allclose(ds.sensitivity.values[0], S, atol=1e-12)
    x_star = np.linalg.solve(D - W, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(ds.steady_state.values[0], x_star, atol=1e-10)
    brute = _brute_force(m, {}, x_star[None, :], list(m.states), eps=0.1, days=40.0, dt=0.01)[0]
    np.testing.assert_allclose(brute, S, atol=1e-6)


@pytest.mark.slow
def test_fitts_mobile_at_healthy_and_ill_attractors_matches_pushes() -> None:
    m = compile_model(load_model("fitts"))
    params = typical_parameters(m, {"early_adversity": 1.0})
    ds = mobile(m, params)
    assert list(ds.label.values) == ["healthy", "ill"]
    # signs follow the theory (threat raises pain, soothing lowers it) and the ill attractor,
    # where the vicious circles are engaged, responds more strongly overall
    S_pain = ds.sensitivity.sel(response="pain")
    assert (S_pain.sel(push="threat") > 0).all() and (S_pain.sel(push="soothing") < 0).all()
    total = np.abs(ds.sensitivity).sum(("response", "push"))
    assert float(total.sel(attractor="ill")) > 1.5 * float(total.sel(attractor="healthy"))
    cols = ["threat", "central_gain", "small_fibre"]
    brute = _brute_force(m, params, ds.steady_state.values, cols, eps=1e-3, days=1000.0, dt=0.1)
    for k, att in enumerate(("healthy", "ill")):
        S = ds.sensitivity.sel(attractor=att, push=cols).values
        np.testing.assert_allclose(brute[k], S, atol=2e-3 * np.abs(S).max(), err_msg=att)
