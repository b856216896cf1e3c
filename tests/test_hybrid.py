"""Hybrid phenomena: continuous dynamics with discrete events, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fitts import ModelError, compile_model, load_model_text
from fitts import simulate as _simulate


def simulate(text: str, **kw):
    """Simulate a model given as YAML text."""
    return _simulate(compile_model(load_model_text(text)), **kw)

LEAKY = """
name: leaky
parameters:
  tau: {value: 2.0}
nodes:
  x: {rate: "1 - x / tau", initial: 0.0, bounds: [null, null]}
events:
  reset: {every: 1.0, set: {x: 0}}
"""


def _leaky_exact(t: np.ndarray, tau: float = 2.0) -> np.ndarray:
    phase = t - np.floor(t + 1e-9)
    return tau * (1 - np.exp(-phase / tau))


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
@pytest.mark.parametrize("dt", [0.01, 0.03, 0.07, 0.3])
def test_leaky_integrator_reset_daily_matches_its_closed_form(dt: float, backend: str) -> None:
    # 1/dt is not a whole number for 0.03, 0.07 and 0.3: each reset splits a step
    ds = simulate(LEAKY, patients=2, days=4.2, dt=dt, record_every=2.1 if dt == 0.3 else 0.21,
                  method="rk4", backend=backend, command="x")
    x = ds.trajectory.values[:, :, 0]
    err = np.abs(x - _leaky_exact(ds.time.values)[None, :]).max()
    assert err < 50 * dt**4  # RK4 global error; a reset off by one step would be off by ~dt/2
    # Euler converges at order 1 to the same closed form
    e1 = simulate(LEAKY, days=4.2, dt=dt, record_every=2.1 if dt == 0.3 else 0.21,
                  method="euler_maruyama", backend=backend, command="x").trajectory.values[0, :, 0]
    assert np.abs(e1 - _leaky_exact(ds.time.values)).max() < 0.6 * dt
    # and Heun at order 2 (the split pieces use each integrator's own tableau)
    e2 = simulate(LEAKY, days=4.2, dt=dt, record_every=2.1 if dt == 0.3 else 0.21,
                  method="heun", backend=backend, command="x").trajectory.values[0, :, 0]
    assert np.abs(e2 - _leaky_exact(ds.time.values)).max() < 0.2 * dt**2


THRESHOLD = """
name: threshold
parameters:
  t_first: {value: -1.0}
  fired: {value: 0.0}
nodes:
  x: {rate: "1 - x", initial: 0.0, bounds: [null, null]}
events:
  half:
    when: x
    crosses: 0.5
    direction: up
    tolerance: 1.0e-10
    set: {t_first: "where(fired == 0, t, t_first)", fired: "fired + 1", x: 0}
"""


@pytest.mark.parametrize("backend", ["numpy", "numba"])  # the quick suite's check of events in the kernel
@pytest.mark.parametrize("dt", [0.01, 0.03, 0.1])
def test_threshold_event_fires_at_the_analytic_crossing_time(dt: float, backend: str) -> None:
    ds = simulate(THRESHOLD, days=3.0, dt=dt, record_every=3.0, method="rk4", backend=backend,
                  command="x")
    t_first = ds.params.sel(parameter="t_first").values[0]
    assert abs(t_first - math.log(2)) < 1e-6
    # x restarts at 0 after every crossing: one firing per ln 2 days
    assert ds.params.sel(parameter="fired").values[0] == math.floor(3.0 / math.log(2))


def test_direction_down_and_either() -> None:
    text = THRESHOLD.replace("direction: up", "direction: down").replace('x: 0}', 'x: 1}')
    text = text.replace('"1 - x"', '"-x"').replace("initial: 0.0", "initial: 1.0")
    ds = simulate(text, days=2.0, dt=0.05, record_every=2.0, method="rk4", backend="numpy", command="x")
    # x = exp(-t) falls through 0.5 at ln 2, is set back to 1, falls again at 2 ln 2
    assert abs(ds.params.sel(parameter="t_first").values[0] - math.log(2)) < 1e-6
    assert ds.params.sel(parameter="fired").values[0] == 2
    either = THRESHOLD.replace("direction: up", "direction: either").replace('x: 0}', 'x: x}')
    either = either.replace('"1 - x"', '"cos(t)"')  # x = sin t crosses 0.5 up at pi/6, down at 5pi/6
    ds = simulate(either, days=3.0, dt=0.05, record_every=3.0, method="rk4", backend="numpy", command="x")
    assert ds.params.sel(parameter="fired").values[0] == 2
    assert abs(ds.params.sel(parameter="t_first").values[0] - math.pi / 6) < 1e-6


WORKAROUND = """
name: workaround
inputs:
  reset: {default: 0.0}
parameters:
  tau: {value: 2.0}
  step_dt: {value: 0.25}
schedule:
  - {input: reset, kind: daily, values: [0, 0, 0, 1]}
nodes:
  x: {rate: "(1 - reset) * (1 - x / tau) - reset * x / step_dt", initial: 0.0, bounds: [null, null]}
  count: {rate: "reset / step_dt", initial: 0.0, bounds: [null, null]}
"""

WITH_EVENTS = """
name: with_events
parameters:
  tau: {value: 2.0}
nodes:
  x: {rate: "1 - x / tau", initial: 0.0, bounds: [null, null]}
  count: {rate: "0", initial: 0.0, bounds: [null, null]}
events:
  reset: {every: 1.0, set: {x: 0, count: "count + 1"}}
"""


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
def test_events_equal_the_one_step_jump_workaround_where_it_is_exact(backend: str) -> None:
    # the workaround jumps x to 0 and count up by 1 over the last step of each day: exact
    # only at dt = 0.25 (one step of the pulse); the events do it at any dt
    kw = dict(days=5.0, dt=0.25, record_every=0.25, method="euler_maruyama", backend=backend,
              command="x")
    old = simulate(WORKAROUND, **kw).trajectory.values[0]
    new = simulate(WITH_EVENTS, **kw).trajectory.values[0]
    # off the last step of each day the two are the same computation
    day_ends = np.isclose(np.mod(np.arange(len(old)) * 0.25, 1.0), 0.0)
    np.testing.assert_allclose(new[day_ends], old[day_ends], rtol=0, atol=1e-12)
    assert new[-1, 1] == 5.0


def test_scheduled_event_on_the_grid_leaves_the_noise_unchanged() -> None:
    base = """
name: noisy
parameters:
  mark: {value: 0.0}
nodes:
  x: {rate: "-x", initial: 0.5, noise: 0.3, bounds: [null, null]}
"""
    marked = base + "events:\n  tick: {every: 0.5, set: {mark: 'mark + 1'}}\n"
    kw = dict(patients=5, days=3.0, dt=0.05, seed=4, backend="numpy", command="x")
    a = simulate(base, **kw).trajectory.values
    b = simulate(marked, **kw)
    np.testing.assert_array_equal(a, b.trajectory.values)
    assert (b.params.sel(parameter="mark").values == 6).all()


@pytest.mark.slow
def test_split_step_keeps_the_step_noise() -> None:
    # with an event that changes nothing, a split Euler step of dx = sigma dW (no drift)
    # gives exactly the unsplit result: the pieces share the step's one draw
    base = """
name: walk
parameters:
  mark: {value: 0.0}
nodes:
  x: {rate: "0", initial: 0.0, noise: 0.3, bounds: [null, null]}
"""
    marked = base + "events:\n  tick: {at: [0.333, 1.777], set: {mark: 'mark + 1'}}\n"
    kw = dict(patients=4, days=2.0, dt=0.1, seed=9, backend="numba", command="x")
    a = simulate(base, **kw).trajectory.values
    b = simulate(marked, **kw).trajectory.values
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


DRAWS = """
name: draws
parameters:
  context: {value: 0.0}
  heads: {value: 0.0}
nodes:
  x: {rate: "-x + context", initial: 0.0, noise: 0.1, bounds: [null, null]}
events:
  hourly:
    every: 0.25
    set: {context: "normal()", heads: "heads + bernoulli(0.3 + 0.4 * step(x))"}
"""


@pytest.mark.slow
def test_event_draws_are_per_patient_and_independent_of_dt_chunk_and_backend() -> None:
    ref = simulate(DRAWS, patients=40, days=10.0, dt=0.05, seed=2, backend="numpy", command="x")
    heads = ref.params.sel(parameter="heads").values
    assert 0.2 * 40 < heads.mean() < 0.8 * 40 and len(set(heads)) > 3
    other = simulate(DRAWS, patients=40, days=10.0, dt=0.05, seed=2, backend="numba", chunk_size=7,
                     command="x")
    np.testing.assert_allclose(other.trajectory.values, ref.trajectory.values, atol=1e-9)
    alone = simulate(DRAWS, patients=[13], days=10.0, dt=0.05, seed=2, backend="numpy", command="x")
    np.testing.assert_array_equal(alone.trajectory.values[0], ref.trajectory.values[13])
    # the draws of an event do not depend on dt (the state-dependent one may, through x)
    coarse = simulate(DRAWS.replace("heads + bernoulli(0.3 + 0.4 * step(x))", "heads + uniform()"),
                      patients=3, days=2.0, dt=0.25, seed=2, backend="numpy", noise=False, command="x")
    fine = simulate(DRAWS.replace("heads + bernoulli(0.3 + 0.4 * step(x))", "heads + uniform()"),
                    patients=3, days=2.0, dt=0.01, seed=2, backend="numpy", noise=False, command="x")
    np.testing.assert_array_equal(coarse.params.sel(parameter="heads").values,
                                  fine.params.sel(parameter="heads").values)


def test_simultaneous_events_fire_in_file_order() -> None:
    text = """
name: order
parameters:
  y: {value: 1.0}
nodes:
  x: {rate: "0", initial: 0.0}
events:
  first: {at: 1.0, set: {y: "y + 1"}}
  second: {at: 1.0, set: {y: "y * 10"}}
"""
    ds = simulate(text, days=2.0, dt=0.1, backend="numpy", command="x")
    assert ds.params.sel(parameter="y").values[0] == 20.0
    swapped = text.replace("first:", "zzz:").replace("second:", "first:").replace("zzz:", "second:")
    swapped = swapped.replace('"y + 1"', 'TMP').replace('"y * 10"', '"y + 1"').replace("TMP", '"y * 10"')
    ds = simulate(swapped, days=2.0, dt=0.1, backend="numpy", command="x")
    assert ds.params.sel(parameter="y").values[0] == 11.0


def test_an_event_on_a_parameter_re_derives_the_rows_that_use_it() -> None:
    text = """
name: hold
parameters:
  level: {value: 0.0}
  target: {value: "2 * level"}
nodes:
  x: {rate: "target - x", initial: 0.0, bounds: [null, null]}
events:
  sample: {at: 1.0, set: {level: "0.5 + x"}}
"""
    ds = simulate(text, days=20.0, dt=0.01, method="rk4", backend="numpy", command="x")
    # x stays 0 until day 1, then relaxes to 2 * (0.5 + 0) = 1 (the value held from the event)
    x = ds.trajectory.values[0, :, 0]
    assert x[1] == 0.0 and abs(x[-1] - 1.0) < 1e-6
    assert ds.params.sel(parameter="target").values[0] == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["RK45", "LSODA"])
def test_adaptive_methods_stop_at_events(method: str) -> None:
    kw = dict(method=method, rtol=1e-10, atol=1e-12, command="x")
    ds = simulate(LEAKY, days=4.2, record_every=0.21, **kw)
    assert np.abs(ds.trajectory.values[0, :, 0] - _leaky_exact(ds.time.values)).max() < 1e-7
    ds = simulate(THRESHOLD, days=3.0, record_every=3.0, **kw)
    assert abs(ds.params.sel(parameter="t_first").values[0] - math.log(2)) < 1e-7
    assert ds.params.sel(parameter="fired").values[0] == math.floor(3.0 / math.log(2))
    either = THRESHOLD.replace("direction: up", "direction: either").replace('x: 0}', 'x: x}')
    ds = simulate(either.replace('"1 - x"', '"cos(t)"'), days=3.0, record_every=3.0, **kw)
    assert ds.params.sel(parameter="fired").values[0] == 2


def test_events_compile_to_the_same_kernel_as_without() -> None:
    from fitts.sim.backends.codegen import numba_kernel_module

    without = LEAKY.split("events:")[0]
    assert numba_kernel_module(compile_model(load_model_text(LEAKY))) == numba_kernel_module(
        compile_model(load_model_text(without)))


@pytest.mark.slow
def test_set_state_once_lets_the_state_go_on() -> None:
    from fitts import Apply

    text = """
name: once
nodes:
  x: {rate: "-x", initial: 0.0, bounds: [null, null]}
interventions:
  dose: {actions: [{set_state: x, to: 1.0}]}
  hold: {actions: [{clamp: x, value: 1.0}]}
"""
    for backend, method in (("numpy", "rk4"), ("numba", "rk4"), ("numpy", "RK45")):
        ds = simulate(text, days=3.0, dt=0.01, method=method, backend=backend, command="x",
                      interventions=[Apply("dose", 1.0, 2.0)], rtol=1e-10, atol=1e-12)
        x = ds.trajectory.values[0, :, 0]
        # 0 until day 1, then 1 at day 1 and free decay: exp(-(t - 1)); the end of the
        # window changes nothing (unlike a clamp)
        np.testing.assert_allclose(x, [0.0, 1.0, math.exp(-1), math.exp(-2)], atol=1e-8)
    with pytest.raises(ModelError, match="unknown node 'y'"):
        load_model_text(text.replace("set_state: x", "set_state: y"))


def test_a_model_may_require_its_step() -> None:
    text = "name: per_step\ndt: 0.25\nnodes:\n  x: {rate: '-x', initial: 1.0}\n"
    ds = simulate(text, days=1.0, record_every=0.25, method="euler_maruyama", backend="numpy", command="x")
    assert ds.attrs["dt"] == 0.25
    np.testing.assert_allclose(ds.trajectory.values[0, :, 0], 0.75 ** np.arange(5), rtol=1e-14)
    with pytest.raises(ModelError, match=r"requires dt = 0.25 days.*not dt = 0.1"):
        simulate(text, days=1.0, dt=0.1, backend="numpy")
    with pytest.raises(ModelError, match="requires the fixed step"):
        simulate(text, days=1.0, method="LSODA")
    assert load_model_text(text).content_hash != load_model_text(text.replace("dt: 0.25\n", "")).content_hash
    with pytest.raises(ModelError, match="dt"):
        load_model_text(text.replace("dt: 0.25", "dt: -1"))


NOISY = """
name: scaled
nodes:
  x: {rate: "0.5 * (1 - x)", initial: 1.0, noise: 0.3, bounds: [null, null]}
  y: {rate: "-y", initial: 0.2, noise: 0.1, bounds: [null, null]}
"""


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
def test_noise_amplitude_may_depend_on_a_state(backend: str) -> None:
    kw = dict(patients=6, days=4.0, dt=0.05, seed=3, backend=backend, command="x")
    plain = simulate(NOISY, **kw).trajectory.values
    # a constant scale of 2 is twice the amplitude: the same draws, twice the increment
    doubled = simulate(NOISY.replace("noise: 0.3,", "noise: 0.6,"), **kw).trajectory.values
    scaled2 = simulate(NOISY.replace("noise: 0.3,", "noise: 0.3, noise_scale: '2 + 0 * y',"), **kw)
    np.testing.assert_allclose(scaled2.trajectory.values, doubled, rtol=0, atol=1e-12)
    assert not np.allclose(doubled, plain)
    # a scale on x leaves y's stream alone; a scale of x itself is 0 where x is 0
    by_x = simulate(NOISY.replace("noise: 0.3,", "noise: 0.3, noise_scale: 'sqrt(abs(x))',"), **kw)
    np.testing.assert_allclose(by_x.trajectory.values[:, :, 1], plain[:, :, 1], rtol=0, atol=1e-12)
    zero = simulate(NOISY.replace("initial: 1.0, noise: 0.3,",
                                  "initial: 0.0, noise: 0.3, noise_scale: 'x',").replace("0.5 * (1 - x)", "0"),
                    **kw)
    assert (zero.trajectory.values[:, :, 0] == 0.0).all()


@pytest.mark.slow
def test_noise_scale_agrees_across_backends_and_needs_noise() -> None:
    text = NOISY.replace("noise: 0.3,", "noise: 0.3, noise_scale: 'sqrt(abs(x)) * (1 + y)',")
    kw = dict(patients=9, days=3.0, dt=0.05, seed=1, command="x")
    a = simulate(text, backend="numpy", **kw).trajectory.values
    b = simulate(text, backend="numba", chunk_size=4, **kw).trajectory.values
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    with pytest.raises(ModelError, match="noise_scale but no noise"):
        load_model_text(NOISY.replace("noise: 0.1,", "noise_scale: x,"))


IN_DAYS = """
name: unit
time_unit: days
dt: 0.05
inputs:
  load: {default: 0.0}
schedule:
  - {input: load, kind: pulse, start: 2.0, duration: 0.5, level: 1.0}
parameters:
  tau: {value: 1.0}
auxiliaries:
  daily: {expr: "0.2 * sin(2 * pi * t / 1.0)"}
nodes:
  x: {rate: "(0.5 + load - x) / tau + daily", initial: 0.0, noise: NOISE, bounds: [null, null]}
events:
  nightly: {every: 1.0, start: 0.75, set: {x: "x / 2"}}
"""


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
def test_a_model_in_hours_equals_the_same_model_in_days(backend: str) -> None:
    days = IN_DAYS.replace("NOISE", "0.3")
    hours = (IN_DAYS.replace("time_unit: days", "time_unit: hours").replace("dt: 0.05", "dt: 1.2")
             .replace("start: 2.0, duration: 0.5", "start: 48, duration: 12")
             .replace("tau: {value: 1.0}", "tau: {value: 24.0}")
             .replace("sin(2 * pi * t / 1.0)", "sin(2 * pi * t / 24) / 24")
             .replace("every: 1.0, start: 0.75", "every: 24, start: 18")
             .replace("NOISE", str(0.3 / math.sqrt(24))))
    kw = dict(patients=3, days=4.0, seed=2, backend=backend, command="x")
    a = simulate(days, **kw)
    b = simulate(hours, **kw)
    assert b.attrs["dt"] == pytest.approx(0.05)
    np.testing.assert_allclose(b.trajectory.values, a.trajectory.values, rtol=0, atol=1e-10)
    with pytest.raises(ModelError, match="requires dt"):
        simulate(hours, dt=0.01, **kw)
