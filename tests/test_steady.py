"""Steady states, exact Jacobians and stability (fitts.analysis.steady), on known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from fitts import compile_model, load_model
from fitts.analysis.steady import (
    VectorField,
    classify,
    parameter_vector,
    steady_states,
    vector_field,
)
from fitts.errors import ModelError
from fitts.sim.sample import sample_parameters, typical_parameters

#: two units inhibiting each other; symmetric when baseline = w/2 (here 4 = 8/2)
SWITCH = """
name: switch
inputs:
  push: {units: a.u.}
parameters:
  w: {value: 8.0}
nodes:
  a: {tau: 1.0, baseline: 4.0}
  b: {tau: 1.0, baseline: 4.0}
edges:
  - {from: b, to: a, sign: '-', weight: "-w"}
  - {from: a, to: b, sign: '-', weight: "-w"}
  - {from: push, to: a, sign: '+', weight: 1.0}
"""


def switch_model(tmp_path: Path) -> object:
    p = tmp_path / "switch.yaml"
    p.write_text(SWITCH)
    return compile_model(load_model(p))


def sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-z))


def test_switch_has_two_mirror_attractors_and_a_symmetric_saddle(tmp_path: Path) -> None:
    m = switch_model(tmp_path)
    df = steady_states(m, starts=32)
    assert list(df["stability"]) == ["stable node", "stable node", "saddle"]
    saddle = df.iloc[2]
    np.testing.assert_allclose([saddle["a"], saddle["b"]], [0.5, 0.5], atol=1e-9)
    # J at the symmetric point: [[-1, -w/4], [-w/4, -1]], eigenvalues -1 +- 2
    assert saddle["leading_re"] == pytest.approx(1.0, abs=1e-9)
    # independent: x = s(4 - 8 s(4 - 8 x)) reduced to one dimension, roots by bisection
    g = lambda x: sigmoid(4 - 8 * sigmoid(4 - 8 * x)) - x  # noqa: E731
    low = brentq(g, 1e-9, 0.3)
    high = brentq(g, 0.7, 1 - 1e-9)
    stable = df[df["stable"]][["a", "b"]].to_numpy()
    np.testing.assert_allclose(sorted(stable[:, 0]), [low, high], atol=1e-9)
    np.testing.assert_allclose(stable[:, 0], stable[::-1, 1], atol=1e-9)  # mirror images
    assert set(df["label"]) == {""}  # no pain state: nothing to label


def test_switch_below_the_fold_has_one_state(tmp_path: Path) -> None:
    m = switch_model(tmp_path)
    df = steady_states(m, inputs={"push": 6.0}, starts=32)
    assert len(df) == 1 and df["stable"].all()
    assert df["a"].iloc[0] > 0.9


def test_classify_names() -> None:
    assert classify(np.array([-1.0, -2.0])) == "stable node"
    assert classify(np.array([-1 + 2j, -1 - 2j, -3.0])) == "stable focus"
    assert classify(np.array([1.0, -2.0])) == "saddle"
    assert classify(np.array([1.0, 2.0])) == "unstable node"
    assert classify(np.array([0.5 + 1j, 0.5 - 1j])) == "unstable focus"
    assert classify(np.array([0.0, -1.0])) == "non-hyperbolic"


@pytest.fixture(scope="module")
def fitts_model():
    return compile_model(load_model("fitts"))


def _fd_jacobian(f: VectorField, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    n = len(x)
    J = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        J[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return J


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), xs=st.lists(st.floats(0.0, 1.0), min_size=15, max_size=15),
       stress=st.floats(-2.0, 3.0))
def test_jacobian_matches_finite_differences(fitts_model, seed: int, xs: list[float], stress: float) -> None:
    m = fitts_model
    P = sample_parameters(m, np.array([seed]), seed=1)[:, 0]
    U = np.array(m.input_defaults, float)
    U[m.input_index["psychosocial_stress"]] = stress
    f = VectorField(m, P, U)
    x = np.array(xs)
    J = f.jacobian(x)
    np.testing.assert_allclose(J, _fd_jacobian(f, x), rtol=1e-5, atol=1e-7)
    # input and parameter derivatives, and the push gain d f_i / d drive_i (= d f_i / d baseline_i)
    h = 1e-6
    for name, j in m.input_index.items():
        Up, Um = U.copy(), U.copy()
        Up[j] += h
        Um[j] -= h
        fd = (VectorField(m, P, Up)(x) - VectorField(m, P, Um)(x)) / (2 * h)
        np.testing.assert_allclose(f.dfdu(x)[:, j], fd, rtol=1e-5, atol=1e-7, err_msg=name)
    dfdp = f.dfdp(x)
    gain = f.gain(x)
    for i, s in enumerate(m.states):
        k = m.param_index[f"baseline.{s}"]
        Pp, Pm = P.copy(), P.copy()
        Pp[k] += h
        Pm[k] -= h
        fd = (VectorField(m, Pp, U)(x) - VectorField(m, Pm, U)(x)) / (2 * h)
        np.testing.assert_allclose(dfdp[:, k], fd, rtol=1e-5, atol=1e-7, err_msg=s)
        assert gain[i] == pytest.approx(fd[i], rel=1e-5, abs=1e-9)


def test_early_adversity_patient_is_bistable_at_zero_stress(fitts_model) -> None:
    m = fitts_model
    df = steady_states(m, typical_parameters(m, {"early_adversity": 1.0}))
    assert list(df["stability"].str.split().str[0]) == ["stable", "stable", "saddle"]
    assert list(df["label"]) == ["healthy", "ill", ""]
    assert df["n_unstable"].iloc[2] == 1
    assert df["pain"].iloc[0] < 0.1 and df["pain"].iloc[1] > 0.7
    # every steady state is a root of the simulator's own right-hand side
    f = vector_field(m, typical_parameters(m, {"early_adversity": 1.0}))
    for _, row in df.iterrows():
        assert np.max(np.abs(f(row[list(m.states)].to_numpy(float)))) < 1e-10


def test_without_predisposition_one_healthy_attractor(fitts_model) -> None:
    m = fitts_model
    df = steady_states(m, typical_parameters(m, {"early_adversity": 0.0}), starts=64)
    assert list(df["label"]) == ["healthy"]


def test_unknown_names_are_errors_with_suggestions(fitts_model) -> None:
    with pytest.raises(ModelError, match="unknown parameter 'early_adversty'.*Did you mean 'early_adversity'"):
        parameter_vector(fitts_model, {"early_adversty": 1.0})
    with pytest.raises(ModelError, match="unknown input 'psychosocial'.*Did you mean 'psychosocial_stress'"):
        vector_field(fitts_model, inputs={"psychosocial": 1.0})


def test_parameter_vector_rederives(fitts_model) -> None:
    m = fitts_model
    k = m.param_index["baseline.threat"]
    assert parameter_vector(m, {"early_adversity": 1.0})[k] > parameter_vector(m, {"early_adversity": 0.0})[k]
