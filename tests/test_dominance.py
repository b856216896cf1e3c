"""Loop eigenvalue elasticities against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

import fitts
from fitts.analysis.dominance import _link_gains, loop_dominance
from fitts.sim.sample import sample_parameters

# Linear: da/dt = k2*b - a, db/dt = k1*a - 2*b. Loops: decay a (-1), decay b (-2),
# R2 a -> b -> a with gain g = k1*k2. p(λ) = λ² + 3λ + 2 - g; dominant λ = (-3 + sqrt(1 + 4g))/2.
# ε_R = g / (λ p'(λ)), ε_decay_a = -(λ + 2)/(λ p'(λ)), ε_decay_b = -2(λ + 1)/(λ p'(λ)),
# p'(λ) = 2λ + 3.
LINEAR = """
name: linear
nodes:
  a: {rate: "drive - a", bounds: [null, null]}
  b: {rate: "drive - 2*b", bounds: [null, null]}
edges:
  - {from: a, to: b, sign: '+', weight: 1.5}
  - {from: b, to: a, sign: '+', weight: 0.8}
"""

# One sigmoid unit exciting itself: dx/dt = sigmoid(8x - 4) - x. Near the unstable point
# x = 0.5 the reinforcing self-loop (gain 8 sigmoid'(8x - 4)) beats the decay (gain -1); in
# the high state the sigmoid saturates and the decay (balancing) loop dominates.
SWITCH = """
name: switch
nodes:
  x: {tau: 1.0, baseline: -4.0, initial: 0.55}
edges:
  - {from: x, to: x, sign: '+', weight: 8.0}
"""


def _point(model, X):
    P = sample_parameters(model, 1, 0)
    m = X.shape[1]
    return (np.asarray(X, float), np.zeros((len(model.inputs), m)), np.repeat(P, m, axis=1),
            np.arange(m, dtype=float))


def test_link_gains_of_a_linear_model() -> None:
    model = fitts.compile_model(fitts.load_model_text(LINEAR, "linear.yaml"))
    lg = _link_gains(model)
    X, U, P, t = _point(model, np.array([[0.3], [0.7]]))
    G, F = lg.func(X, U, P, t)
    gains = dict(zip(lg.links, G[:, 0], strict=True))
    assert gains == pytest.approx({"a -> b": 1.5, "b -> a": 0.8, "decay: a": -1.0, "decay: b": -2.0})
    np.testing.assert_allclose(F[:, 0], [0.8 * 0.7 - 0.3, 1.5 * 0.3 - 2 * 0.7])


def test_elasticities_match_the_closed_form() -> None:
    model = fitts.compile_model(fitts.load_model_text(LINEAR, "linear.yaml"))
    dom = loop_dominance(model, *_point(model, np.array([[0.3], [0.7]])), behaviour=None)
    g = 1.5 * 0.8
    lam = (-3 + np.sqrt(1 + 4 * g)) / 2
    dp = 2 * lam + 3
    expect = {"R2: a -> b -> a": g / (lam * dp), "decay: a": -(lam + 2) / (lam * dp),
              "decay: b": -2 * (lam + 1) / (lam * dp)}
    got = dict(zip(dom.name.values.tolist(), dom.elasticity.values[0], strict=True))
    assert got == pytest.approx(expect)
    assert dom.eigenvalue_real.values[0] == pytest.approx(lam)
    # Euler: sum of length x elasticity is 1
    assert float((dom.elasticity * dom.length).sum()) == pytest.approx(1.0)
    share = dict(zip(dom.name.values.tolist(), dom.dominance.values[0], strict=True))
    total = sum(abs(v) for v in expect.values())
    assert share["R2: a -> b -> a"] == pytest.approx(abs(expect["R2: a -> b -> a"]) / total)


def test_reinforcing_loop_dominates_early_and_balancing_late() -> None:
    model = fitts.compile_model(fitts.load_model_text(SWITCH, "switch.yaml"))
    ds = fitts.simulate(model, patients=1, days=20.0, dt=0.01, noise=False, backend="numpy")
    X = ds.trajectory.values[0].T
    t = ds.time.values
    dom = loop_dominance(model, X, np.zeros((0, len(t))),
                         np.repeat(ds.params.values.T, len(t), axis=1), t, behaviour="x")
    names = dom.name.values.tolist()
    r, b = names.index("R1: x -> x"), names.index("decay: x")
    share = dom.dominance.values
    # day 0: x = 0.55, self-loop gain 8 s'(0.4) vs decay -1; one state: ε = gain / λ
    s = 1 / (1 + np.exp(-0.4))
    g = 8 * s * (1 - s)
    assert share[0, r] == pytest.approx(g / (g + 1))
    assert dom.eigenvalue_real.values[0] == pytest.approx(g - 1)
    assert share[0, r] > 0.5 and dom.eigenvalue_real.values[0] > 0
    assert X[0, -1] > 0.95
    assert share[-1, b] > 0.8 and dom.eigenvalue_real.values[-1] < 0
    # the switch of dominance happens once, while x rises through the upper inflection
    flips = np.flatnonzero(np.diff((share[:, r] > share[:, b]).astype(int)))
    assert len(flips) == 1


def test_default_scenario_onset_persistence_recovery() -> None:
    """FITTS's predisposed typical patient: reinforcing loops share dominance during onset,
    none after the treatment cuts pain's feedback edges."""
    from fitts.analysis.dominance import dominance_over_time, top_loops

    model = fitts.compile_model(fitts.load_model("fitts"))
    params = fitts.typical_parameters(model, {"early_adversity": 1.0})
    dom = dominance_over_time(model, params=params, record_every=2.0)
    pain = dom.trajectory.sel(state="pain")
    assert float(pain.sel(time=290)) > 0.5 and float(pain.sel(time=498)) < 0.2
    reinforcing = dom.dominance.where(dom.polarity == "reinforcing").sum("loop")
    assert float(reinforcing.sel(time=slice(30, 40)).max()) > 0.1
    assert float(reinforcing.sel(time=slice(400, 500)).max()) < 0.01
    top = top_loops(dom, 3, include_decay=False)
    assert "salience -> pain" in " ".join(top["name"])


def test_custom_rate_using_a_state_directly_is_rejected() -> None:
    text = """
name: hidden
nodes:
  a: {rate: "drive - a"}
  b: {rate: "a - b"}
"""
    model = fitts.compile_model(fitts.load_model_text(text, "hidden.yaml"))
    with pytest.raises(fitts.ModelError, match="uses the state 'a' directly"):
        _link_gains(model)
