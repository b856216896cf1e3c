"""Property-based: the NumPy and numba backends agree on randomly generated models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitts import compile_model, load_model_text, simulate


@st.composite
def random_models(draw: st.DrawFn) -> str:
    """YAML text of a random model: 2-5 nodes, signed (some gating) edges, noise, an input."""
    n = draw(st.integers(2, 5))
    names = [f"x{i}" for i in range(n)]
    lines = ["name: random", "inputs:", "  u: {}", "nodes:"]
    for name in names:
        tau = draw(st.floats(0.2, 5.0))
        base = draw(st.floats(-3.0, 3.0))
        noise = draw(st.sampled_from([0.0, 0.05, 0.2]))
        lines.append(f"  {name}: {{tau: {tau!r}, baseline: {base!r}, noise: {noise!r}}}")
    if draw(st.booleans()):
        lines.append("  y: {rate: 'drive - 0.5*y + 0.1*sin(t)', bounds: [null, null], initial: 0.0}")
        names.append("y")
    lines.append("edges:")
    pairs = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)),
                          min_size=1, max_size=10, unique=True))
    for src, tgt in pairs:
        w = draw(st.floats(0.1, 4.0))
        sign = draw(st.sampled_from(["+", "-"]))
        weight = w if sign == "+" else -w
        gate = ""
        if draw(st.integers(0, 4)) == 0:
            gate = f", mode: gating, gate: {draw(st.sampled_from(names))}"
        lines.append(f"  - {{from: {src}, to: {tgt}, sign: '{sign}', weight: {weight!r}{gate}}}")
    lines.append(f"  - {{from: u, to: {names[0]}, sign: '+', weight: 1.0}}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow  # compiles a kernel for each random model (the 16-node check in test_simulate stays quick)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=random_models(), seed=st.integers(0, 2**31 - 1))
def test_backends_agree_on_random_models(text: str, seed: int) -> None:
    model = compile_model(load_model_text(text))
    kw = dict(patients=4, days=5.0, seed=seed, record_every=0.5, throw=False,
              schedule=[{"input": "u", "kind": "daily", "values": [0.0, 1.0]}])
    a = simulate(model, backend="numpy", **kw)
    b = simulate(model, backend="numba", **kw)
    np.testing.assert_array_equal(a.status.values, b.status.values)
    np.testing.assert_allclose(a.trajectory.values, b.trajectory.values, rtol=1e-9, atol=1e-9,
                               equal_nan=True, err_msg=text)
