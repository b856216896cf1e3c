"""Pseudo-arclength continuation and folds (fitts.analysis.continuation) on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from fitts import compile_model, load_model
from fitts.analysis.continuation import FoldThresholds, continuation
from fitts.analysis.thresholds import stress_thresholds
from fitts.errors import ModelError
from fitts.sim.sample import typical_parameters
from tests.test_steady import SWITCH


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory):
    p = tmp_path_factory.mktemp("switch") / "switch.yaml"
    p.write_text(SWITCH)
    return compile_model(load_model(p))


def switch_folds() -> np.ndarray:
    """Independent answer: on the curve, push(a) = logit(a) - 4 + 8 sigmoid(4 - 8a); folds are
    its local extrema, found on a fine grid of a."""
    a = np.linspace(1e-6, 1 - 1e-6, 2_000_001)
    push = np.log(a / (1 - a)) - 4 + 8 / (1 + np.exp(-(4 - 8 * a)))
    d = np.diff(push)
    i = np.flatnonzero(d[:-1] * d[1:] < 0)
    return np.sort(push[i + 1])


def test_switch_folds_and_hysteresis_in_an_input(switch) -> None:
    expected = switch_folds()
    assert len(expected) == 2 and expected[0] < 0 < expected[1]
    c = continuation(switch, "push", (-6.0, 6.0))
    assert len(c.branches) == 1 and c.branches[0].status == "left the range"
    values = [f.value for f in c.folds]
    np.testing.assert_allclose(values, expected, atol=1e-7)
    assert [f.lost_when for f in c.folds] == ["decreasing", "increasing"]
    br = c.branches[0]
    # stable outside the fold interval; between the folds the middle branch is a saddle
    inside = (br.values > expected[0] + 0.05) & (br.values < expected[1] - 0.05)
    assert (br.n_unstable[~((br.values > expected[0]) & (br.values < expected[1]))] == 0).all()
    assert set(br.n_unstable[inside]) == {0, 1}  # lower, middle (saddle) and upper branches
    assert np.sum(br.n_unstable == 1) > 5
    # every branch point is a steady state
    tab = c.table()
    assert {"branch", "point", "value", "stable", "n_unstable", "a", "b"} <= set(tab.columns)


def test_switch_folds_in_a_parameter_row(switch) -> None:
    """A push on a is a shift of a's baseline (4): folds at 4 + the input folds."""
    c = continuation(switch, "baseline.a", (0.0, 8.0))
    np.testing.assert_allclose([f.value for f in c.folds], 4.0 + switch_folds(), atol=1e-7)


def test_bad_names_and_ranges(switch) -> None:
    with pytest.raises(ModelError, match="unknown parameter or input 'psh'.*Did you mean 'push'"):
        continuation(switch, "psh", (0.0, 1.0))
    with pytest.raises(ModelError, match="range must be A < B"):
        continuation(switch, "push", (1.0, 0.0))


def test_fold_threshold_ratio() -> None:
    assert FoldThresholds(2.0, 0.5).ratio == 4.0
    assert np.isnan(FoldThresholds(2.0, -0.5).ratio)
    assert FoldThresholds(2.0, -0.5).width == 2.5
    assert np.isnan(FoldThresholds(None, 0.5).width)


def test_fitts_folds_agree_with_simulated_thresholds() -> None:
    """The typical early-adversity patient: folds vs simulation + bisection (tol 0.05)."""
    m = compile_model(load_model("fitts"))
    params = typical_parameters(m, {"early_adversity": 1.0})
    c = continuation(m, "psychosocial_stress", (-3.0, 5.0), params=params)
    th = c.thresholds()
    assert th.onset is not None and th.recovery is not None
    assert th.recovery < 0 < th.onset  # ill state persists without stress: the hysteresis is complete
    sim = stress_thresholds(m, params, tol=0.05)
    # bisection brackets the flip to within tol; slow passage near a fold can only delay a flip
    assert abs(th.onset - sim.onset) < 0.05
    assert abs(th.recovery - sim.recovery) < 0.05
    # at zero stress: healthy, saddle and ill on one S-shaped branch: the branch crosses
    # stress 0 three times, stable, unstable, stable (read at the crossing's endpoint nearer 0)
    br = c.branches[0]
    v = np.asarray(br.values)
    cross = np.flatnonzero(v[:-1] * v[1:] <= 0)
    near = [i if abs(v[i]) <= abs(v[i + 1]) else i + 1 for i in cross]
    assert [int(br.n_unstable[i]) for i in near] == [0, 1, 0]
