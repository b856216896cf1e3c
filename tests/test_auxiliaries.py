"""Auxiliaries: named expressions over states, inputs, parameters, `t` and each other."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitts import ModelError, compile_model, load_model_text, simulate
from fitts.observe.measure import observe
from fitts.sim.backends.codegen import numba_rhs_source, numpy_rhs_source
from fitts.spec.expr import evaluate

WITH_AUX = """
name: aux
inputs:
  load: {default: 0.5}
parameters:
  k: {prior: {dist: uniform, low: 0.5, high: 1.5}}
auxiliaries:
  pressure: {expr: "k * load + 0.5 * y", units: a.u., label: pressure on x}
  relief: {expr: "sigmoid(3 * (y - pressure))"}
  daylight: {expr: "0.5 + 0.5 * sin(2 * pi * t)"}
nodes:
  x: {rate: "pressure - relief * x + 0.1 * daylight", initial: 0.2, bounds: [null, null], noise: 0.05}
  y: {rate: "(x - y) / 2", initial: 0.1, bounds: [null, null], noise: 0.05}
observations:
  strain: {expr: "10 * pressure", units: score}
"""

INLINED = """
name: aux
inputs:
  load: {default: 0.5}
parameters:
  k: {prior: {dist: uniform, low: 0.5, high: 1.5}}
nodes:
  x: {rate: "(k * load + 0.5 * y) - sigmoid(3 * (y - (k * load + 0.5 * y))) * x + 0.1 * (0.5 + 0.5 * sin(2 * pi * t))",
      initial: 0.2, bounds: [null, null], noise: 0.05}
  y: {rate: "(x - y) / 2", initial: 0.1, bounds: [null, null], noise: 0.05}
"""


@pytest.fixture(scope="module")
def aux_model():
    return compile_model(load_model_text(WITH_AUX))


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
def test_auxiliaries_simulate_as_the_inlined_rates(aux_model, backend: str) -> None:
    kw = dict(patients=6, days=5.0, dt=0.01, seed=3, backend=backend, command="x")
    a = simulate(aux_model, **kw).trajectory.values
    b = simulate(load_model_text(INLINED), **kw).trajectory.values
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_each_auxiliary_is_computed_once_in_the_generated_code(aux_model) -> None:
    for source in (numpy_rhs_source(aux_model), numba_rhs_source(aux_model)):
        assert source.count("aux_0 =") == 1 and source.count("aux_1 =") == 1
        # the rate of x reads the locals, not the expressions again
        rate_x = next(line for line in source.splitlines() if "out[0" in line)
        assert "aux_0" in rate_x and "aux_1" in rate_x and "sin" not in rate_x


def test_auxiliaries_are_evaluated_in_dependency_order(aux_model) -> None:
    order = aux_model.auxiliary_names
    assert order.index("pressure") < order.index("relief")
    # the analyses see the rates with the auxiliaries substituted
    assert not (aux_model.rates[0].names & set(order))
    assert {"k", "load", "y", "t"} <= aux_model.rates[0].names


def test_recorded_auxiliaries_equal_their_expressions(aux_model) -> None:
    ds = simulate(aux_model, patients=4, days=3.0, seed=1, backend="numpy", auxiliaries=True,
                  command="x")
    assert list(ds.auxiliary.values) == list(aux_model.auxiliary_names)
    y = ds.trajectory.sel(state="y").values
    k = ds.params.sel(parameter="k").values[:, None]
    np.testing.assert_allclose(ds.auxiliaries.sel(auxiliary="pressure").values, k * 0.5 + 0.5 * y,
                               rtol=1e-14)
    t = ds.time.values[None, :]
    np.testing.assert_allclose(ds.auxiliaries.sel(auxiliary="daylight").values,
                               np.broadcast_to(0.5 + 0.5 * np.sin(2 * np.pi * t), y.shape), atol=1e-14)
    summary = simulate(aux_model, patients=4, days=3.0, seed=1, backend="numpy", record="summary",
                       auxiliaries=["relief"], command="x")
    np.testing.assert_allclose(summary.auxiliaries_mean.sel(auxiliary="relief").values,
                               ds.auxiliaries.sel(auxiliary="relief").values.mean(axis=1), rtol=1e-12)


def test_unknown_auxiliary_to_record_is_refused(aux_model) -> None:
    with pytest.raises(ModelError, match="unknown auxiliary 'presure'.*pressure"):
        simulate(aux_model, days=1.0, auxiliaries=["presure"], backend="numpy")


def test_observations_use_auxiliaries(aux_model) -> None:
    ds = simulate(aux_model, patients=3, days=2.0, seed=1, backend="numpy", auxiliaries=["pressure"],
                  command="x")
    obs = observe(aux_model, ds, noise=False)
    np.testing.assert_allclose(obs["strain"].values, 10 * ds.auxiliaries.sel(auxiliary="pressure").values,
                               rtol=1e-14)


def test_auxiliary_cycle_is_a_model_error_naming_it() -> None:
    text = WITH_AUX.replace('"k * load + 0.5 * y"', '"k * load + relief"')
    with pytest.raises(ModelError, match=r"cycle: (pressure -> relief -> pressure|relief -> pressure -> relief)"):
        load_model_text(text)


def test_auxiliary_self_reference_is_a_cycle() -> None:
    text = WITH_AUX.replace('"0.5 + 0.5 * sin(2 * pi * t)"', '"daylight + 1"')
    with pytest.raises(ModelError, match="cycle: daylight -> daylight"):
        load_model_text(text)


@pytest.mark.parametrize("replace, match", [
    (('"k * load + 0.5 * y"', '"k * lod"'), "unknown name 'lod'.*load"),
    (("  daylight:", "  x:"), "duplicate name 'x'"),
    (("  daylight:", "  sigmoid:"), "reserved"),
    (('"k * load + 0.5 * y"', '"uniform()"'), "only in an event"),
    (('"k * load + 0.5 * y"', '"drive"'), "unknown name 'drive'"),
])
def test_bad_auxiliaries_are_refused(replace: tuple[str, str], match: str) -> None:
    with pytest.raises(ModelError, match=match):
        load_model_text(WITH_AUX.replace(*replace))


def test_models_without_auxiliaries_generate_the_same_code() -> None:
    m = compile_model(load_model_text(INLINED))
    assert "aux_" not in numpy_rhs_source(m) and m.auxiliaries == ()
    assert m.rates_local == m.rates


def test_auxiliaries_enter_the_hash_only_when_used() -> None:
    spec = load_model_text(INLINED)
    assert "auxiliaries" not in spec.to_dict() and "events" not in spec.to_dict()
    assert "auxiliaries" in load_model_text(WITH_AUX).to_dict()


# ---- hypothesis: random chains and graphs of auxiliaries -----------------------------


@st.composite
def _aux_dag(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[int]]:
    """Auxiliaries a0..an-1, each a sum over x and earlier auxiliaries; and a file order."""
    n = draw(st.integers(1, 8))
    entries = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        coef = draw(st.sampled_from(["0.5", "2", "-1", "0.25"]))
        terms = [f"{coef} * x"] + [f"tanh(a{j})" for j in deps]
        entries.append((f"a{i}", " + ".join(terms)))
    order = draw(st.permutations(list(range(n))))
    return entries, list(order)


def _text(entries: list[tuple[str, str]], order: list[int]) -> str:
    lines = ["name: dag", "auxiliaries:"]
    lines += [f"  {entries[i][0]}: {{expr: \"{entries[i][1]}\"}}" for i in order]
    last = entries[-1][0]
    lines += ["nodes:", f"  x: {{rate: \"-x + 0.1 * {last}\", initial: 0.3, bounds: [null, null]}}"]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_aux_dag(), st.floats(-3, 3))
def test_any_acyclic_auxiliaries_compile_in_any_file_order(dag, x: float) -> None:
    entries, order = dag
    m = compile_model(load_model_text(_text(entries, order)))
    names = m.auxiliary_names
    for name, expr in m.auxiliaries:  # every auxiliary comes after those it uses
        assert all(names.index(d) < names.index(name) for d in expr.names if d in names)
    env: dict = {"x": np.float64(x)}
    for name, expr in m.auxiliaries:
        env[name] = evaluate(expr, env)
    for name in names:  # the inlined forms give the same numbers
        np.testing.assert_allclose(evaluate(m.auxiliaries_inlined[name], {"x": x}), env[name], rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(0, 5))
def test_any_cycle_of_auxiliaries_is_named(n: int, start: int) -> None:
    start %= n
    entries = [(f"c{i}", f"x + c{(i + 1) % n}") for i in range(n)]
    order = list(range(start, n)) + list(range(start))
    with pytest.raises(ModelError, match=r"auxiliaries refer to each other in a cycle: c\d") as info:
        load_model_text(_text(entries, order))
    shown = str(info.value).split("cycle: ")[1].split("\n")[0].split(" -> ")
    assert len(shown) == n + 1 and shown[0] == shown[-1] and set(shown) == {f"c{i}" for i in range(n)}


def test_steady_states_and_the_mobile_see_through_auxiliaries() -> None:
    from fitts.analysis.mobile import mobile
    from fitts.analysis.steady import steady_states

    drop_t = ('"0.5 + 0.5 * sin(2 * pi * t)"', '"0.5"')
    a = compile_model(load_model_text(WITH_AUX.replace(*drop_t)))
    b = compile_model(load_model_text(INLINED.replace("(0.5 + 0.5 * sin(2 * pi * t))", "0.5")))
    sa, sb = steady_states(a, starts=16, simulations=0), steady_states(b, starts=16, simulations=0)
    cols = list(a.states)
    np.testing.assert_allclose(sa[cols].to_numpy(dtype=float), sb[cols].to_numpy(dtype=float), atol=1e-9)
    # the same model written in hours has the same steady states and, per day, the same Jacobian
    hours = WITH_AUX.replace(*drop_t).replace("name: aux", "name: aux\ntime_unit: hours")
    sh = steady_states(compile_model(load_model_text(hours)), starts=16, simulations=0)
    np.testing.assert_allclose(sh[cols].to_numpy(dtype=float), sa[cols].to_numpy(dtype=float), atol=1e-9)
    ma, mb = mobile(a, steady=sa), mobile(b, steady=sb)
    np.testing.assert_allclose(ma.sensitivity.values, mb.sensitivity.values, atol=1e-8)
