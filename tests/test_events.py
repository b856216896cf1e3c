"""Events in the model language: schema, validation, times, draws; analyses that refuse them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitts import ModelError, compile_model, load_model_text
from fitts.sim.events import EventRunner, compile_events, crossed, event_keys, on_grid
from fitts.sim.rng import stream_keys
from fitts.spec.schema import EventSpec
from tests.test_cli import fitts_cmd

BASE = """
name: ev
parameters:
  k: {value: 1.0}
  derived: {value: "2 * k"}
auxiliaries:
  level: {expr: "x + k"}
nodes:
  x: {rate: "-x", initial: 1.0}
events:
"""


def _load(events: str):
    return load_model_text(BASE + events)


@pytest.mark.parametrize("events, match", [
    ("  e: {set: {x: 0}}", "exactly one trigger"),
    ("  e: {at: 1, every: 2, set: {x: 0}}", "exactly one trigger"),
    ("  e: {at: 1, set: {}}", "at least 1"),
    ("  e: {at: 1, crosses: 2, set: {x: 0}}", "belong to a state event"),
    ("  e: {at: 1, start: 2, set: {x: 0}}", "belong to a periodic event"),
    ("  e: {every: 0, set: {x: 0}}", "greater than 0"),
    ("  e: {every: 1, start: 5, end: 3, set: {x: 0}}", "must come after"),
    ("  e: {when: x, direction: sideways, set: {x: 0}}", "'up', 'down' or 'either'"),
    ("  e: {at: -1, set: {x: 0}}", "must lie in"),
    ("  e: {at: 1, set: {x: true}}", "not true/false"),
    ("  e: {at: 1, set: {derived: 0}}", "sets the derived parameter 'derived'"),
    ("  e: {at: 1, set: {y: 0}}", "unknown state or parameter 'y'"),
    ("  e: {at: 1, set: {tau.x: 0}}", "unknown state or parameter"),
    ("  e: {at: 1, set: {x: 'x + nope'}}", "unknown name 'nope'"),
    ("  e: {when: 'x + uniform()', set: {x: 0}}", "only in an event's `set:`"),
    ("  e: {when: x, crosses: 'x', set: {x: 0}}", "unknown name 'x'"),
    ("  e: {at: 1, set: {x: 'normal(1)'}}", "takes 0 arguments"),
    ("  bad name: {at: 1, set: {x: 0}}", "not a valid name"),
])
def test_bad_events_are_refused_with_a_clear_message(events: str, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        _load(events)


def test_valid_events_load_and_enter_the_hash() -> None:
    spec = _load("  e: {every: 1, set: {x: 'level * uniform()', k: 'k + bernoulli(0.5)'}}\n"
                 "  f: {when: level, crosses: 'k', direction: either, set: {x: 0}}")
    assert list(spec.events) == ["e", "f"]
    assert "events" in spec.to_dict()
    assert spec.content_hash != _load("  e: {every: 2, set: {x: 0}}").content_hash


@settings(max_examples=80, deadline=None)
@given(st.floats(0.01, 5.0), st.one_of(st.none(), st.floats(0.0, 5.0)), st.floats(1.0, 40.0))
def test_periodic_times_are_exact_multiples(every: float, start: float | None, horizon: float) -> None:
    ev = EventSpec.model_validate({"every": every, "start": start, "set": {"x": 0}})
    times = ev.times(horizon)
    first = ev.first
    assert all(first - 1e-12 <= t <= horizon + 1e-9 * horizon for t in times)
    assert times == [first + k * every for k in range(len(times))]
    # the next one would lie beyond the horizon
    assert first + len(times) * every > horizon - 1e-9 * max(horizon, 1)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([0.001, 0.01, 0.03, 0.1, 1 / 24, 1 / 1440]))
def test_on_grid_finds_step_boundaries(k: int, dt: float) -> None:
    assert on_grid(k * dt, dt) == k
    assert on_grid((k + 0.5) * dt, dt) is None


def test_crossing_directions() -> None:
    g0 = np.array([-1.0, 1.0, -1.0, 0.0, 0.5])
    g1 = np.array([0.0, -1.0, -0.5, 1.0, 0.6])
    assert crossed("up", g0, g1).tolist() == [True, False, False, False, False]
    assert crossed("down", g0, g1).tolist() == [False, True, False, False, False]
    assert crossed("either", g0, g1).tolist() == [True, True, False, False, False]


def test_event_stream_is_its_own() -> None:
    ids = np.arange(5)
    keys = event_keys(3, ids)
    assert (keys & np.uint64(1)).all()
    for purpose in ("noise", "params", "events", "observe", "schedule"):
        assert not np.isin(keys, stream_keys(3, ids, purpose)).any()
    assert not np.array_equal(keys, event_keys(4, ids))


def test_draws_depend_on_event_occurrence_and_site_only() -> None:
    m = compile_model(_load("  e: {every: 1, set: {x: 'normal()', k: 'uniform() + 10 * uniform()'}}"))
    events = compile_events(m, 3.0)
    assert events[0].times == (1.0, 2.0, 3.0)
    written: dict[int, np.ndarray] = {}

    def write(row: int, values: np.ndarray, mask: np.ndarray) -> None:
        written[row] = values.copy()

    P = np.zeros((len(m.params), 4))
    P[m.param_index["k"]] = 1.0
    runs = []
    for ids in (np.arange(4), np.array([2])):
        r = EventRunner(m, events, 7, ids, write)
        X = np.ones((1, len(ids)))
        table = P[:, :len(ids)]
        r.fire([0], X, lambda table=table: table, np.zeros((0, 1)), 1.0)
        first = X.copy()
        r.fire([0], X, lambda table=table: table, np.zeros((0, 1)), 2.0)
        runs.append((first, X.copy(), written[m.param_index["k"]].copy()))
    assert runs[0][0][0, 2] == runs[1][0][0, 0]  # patient 2 alone or in a chunk
    assert runs[0][0][0, 2] != runs[0][1][0, 2]  # the second occurrence draws anew
    k = runs[0][2]
    assert ((k > 0) & (k < 11)).all() and len(set(k)) == 4  # two uniforms, two sites


def test_analyses_that_assume_smooth_dynamics_refuse_events() -> None:
    from fitts.analysis.continuation import continuation
    from fitts.analysis.dominance import dominance_over_time
    from fitts.analysis.steady import steady_states

    m = compile_model(_load("  e: {every: 1, set: {x: 0}}"))
    with pytest.raises(ModelError, match="steady-state analysis assumes smooth dynamics.*events \\(e\\)"):
        steady_states(m)
    with pytest.raises(ModelError, match="continuation assumes smooth dynamics"):
        continuation(m, "k", (0.5, 1.5))
    with pytest.raises(ModelError, match="loop dominance assumes smooth dynamics"):
        dominance_over_time(m)


def test_show_and_diagram_list_auxiliaries_and_events(tmp_path: Path) -> None:
    (tmp_path / "ev.yaml").write_text(BASE + "  daily: {every: 1, set: {x: 0}}\n"
                                      "  high: {when: level, crosses: 1.5, set: {k: 'k + 1'}}\n")
    r = fitts_cmd("show", "ev.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 auxiliaries" in r.stdout and "x + k" in r.stdout
    assert "every 1 days from 1" in r.stdout and "level crosses 1.5 (up)" in r.stdout
    r = fitts_cmd("diagram", "ev.yaml", "--out", "ev.svg", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    svg = (tmp_path / "ev.svg").read_text()
    assert "auxiliary (used by)" in svg


def test_simulate_command_records_auxiliaries(tmp_path: Path) -> None:
    import xarray as xr

    (tmp_path / "ev.yaml").write_text(BASE + "  daily: {every: 1, set: {x: 1}}\n")
    r = fitts_cmd("simulate", "ev.yaml", "--days", "3", "--backend", "numpy", "--auxiliaries",
                  "--out", "ev.nc", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with xr.open_dataset(tmp_path / "ev.nc") as ds:
        level = ds.auxiliaries.sel(auxiliary="level").values
        np.testing.assert_allclose(level, ds.trajectory.sel(state="x").values + 1.0, rtol=1e-14)
        # x = exp(-(t - floor t)) restarts at 1 every day: recorded after the event
        np.testing.assert_allclose(ds.trajectory.sel(state="x").values[0], 1.0, rtol=1e-12)


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["x", "k", "x + 1", "uniform()", "bad name", "", "1e400", [], {}, [1, 2]]),
                    st.lists(st.floats(-1, 10), max_size=3))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["at", "every", "start", "end", "when", "crosses", "direction",
                                        "tolerance", "label", "bogus"]), _VALUES, max_size=5),
       st.dictionaries(st.sampled_from(["x", "k", "derived", "nope"]), _VALUES, max_size=3))
def test_any_event_entry_loads_or_is_a_model_error(fields: dict, updates: dict) -> None:
    import json

    entry = {**{k: v for k, v in fields.items() if v is not None}, "set": updates}
    text = BASE + "  ev: " + json.dumps(entry).replace("Infinity", ".inf").replace("NaN", ".nan") + "\n"
    try:
        spec = load_model_text(text)
    except ModelError:
        return
    ev = spec.events["ev"]
    assert sum(v is not None for v in (ev.at, ev.every, ev.when)) == 1
    compile_events(compile_model(spec), 10.0)


def test_an_event_update_of_built_plans_equals_building_them_anew() -> None:
    from fitts import Apply
    from fitts.sim.sample import sample_free
    from fitts.sim.simulate import _Plans

    text = BASE.replace("  derived: {value: \"2 * k\"}", "  derived: {value: \"2 * k\"}\n"
                        "  j: {prior: {dist: uniform, low: 0, high: 1}}\n  twice: {value: \"derived + j\"}")
    text = text.replace("nodes:", "interventions:\n  push: {actions: [{shift: k, by: 0.5}, {set: j, to: 0.25}]}\n"
                        "nodes:") + "  e: {at: 1, set: {k: 3}}\n"
    m = compile_model(load_model_text(text))
    ids = np.arange(5)
    applies = [Apply("push", 0.0, 2.0)]
    plans = _Plans(m, sample_free(m, ids, 1), ids, np.ones(5, np.uint64), 0.1, False, applies,
                   {m.param_index["j"]: np.linspace(0, 1, 5)})
    before = {a: plans.get(a).P.copy() for a in ((), (0,))}
    mask = np.array([True, False, True, True, False])
    for row, value in ((m.param_index["k"], 3.0), (m.param_index["j"], 0.7)):
        plans.write_param(row, np.full(5, value), mask)
    fresh = _Plans(m, plans.P_free.copy(), ids, np.ones(5, np.uint64), 0.1, False, applies, plans.overrides)
    for a in before:
        np.testing.assert_array_equal(plans.get(a).P, fresh.get(a).P)
        assert not np.array_equal(plans.get(a).P, before[a])
    k, d, tw = (m.param_index[n] for n in ("k", "derived", "twice"))
    P = plans.get((0,)).P
    assert P[k, 0] == 3.5 and P[d, 0] == 7.0 and P[k, 1] == 1.5  # shifted on top; masked patient kept
    assert P[tw, 0] == 7.25  # j set by the intervention wins over the event's value while active
