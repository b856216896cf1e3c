"""Simulation: reproducibility per patient, backend equality, schedules, interventions, failures."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import platform
import re

import numpy as np
import pytest

from fitts import Apply, ModelError, SimulationError, compile_model, load_model_text, simulate
from fitts.spec.load import models_dir
from tests.helpers import TWO_NODE

MOBILE = models_dir() / "examples" / "mobile16.yaml"


@pytest.fixture(scope="module")
def two():
    return compile_model(load_model_text(TWO_NODE))


def _first_divergence(a: np.ndarray, b: np.ndarray, ds) -> str:
    """Name the first patient, time and state where two trajectories differ."""
    diff = np.argwhere(a != b)
    if not len(diff):
        return "identical"
    p, t, s = diff[0]
    return (f"patient {ds.patient.values[p]}, day {ds.time.values[t]}, state "
            f"{ds.state.values[s]}: {a[p, t, s]!r} != {b[p, t, s]!r}")


@pytest.mark.parametrize("backend", [pytest.param("numpy", marks=pytest.mark.slow), "numba"])
def test_patient_identical_alone_and_in_any_chunk(two, backend: str) -> None:
    kw = dict(days=20.0, seed=11, backend=backend,
              schedule=[{"input": "stress", "kind": "events", "rate_per_year": 30,
                         "magnitude": {"dist": "uniform", "low": 0.5, "high": 1.5},
                         "duration": 2}])
    full = simulate(two, patients=23, chunk_size=23, **kw)
    for chunk in (1, 4, 7):
        other = simulate(two, patients=23, chunk_size=chunk, **kw)
        a, b = full.trajectory.values, other.trajectory.values
        assert np.array_equal(a, b), _first_divergence(a, b, full)
    alone = simulate(two, patients=[17], **kw)
    assert np.array_equal(alone.trajectory.values[0], full.trajectory.values[17])


def test_backends_agree(two) -> None:
    kw = dict(patients=50, days=30.0, seed=5,
              schedule=[{"input": "stress", "kind": "daily", "values": [0, 0, 1, 1]}])
    a = simulate(two, backend="numpy", **kw).trajectory.values
    b = simulate(two, backend="numba", **kw).trajectory.values
    # same random numbers bit for bit; exp/log may differ in the last ulp between numpy and libm
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_backends_agree_on_the_16_node_model() -> None:
    kw = dict(patients=40, days=20.0, seed=2,
              schedule=[{"input": "psychosocial_stress", "kind": "pulse", "start": 5,
                         "duration": 5, "level": 1.0}])
    a = simulate(MOBILE, backend="numpy", **kw).trajectory.values
    b = simulate(MOBILE, backend="numba", **kw).trajectory.values
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="reads x86-64 assembly")
def test_numba_rate_loop_runs_on_packed_doubles(two) -> None:
    """The generated rate loop vectorises: its machine code computes several patients per
    instruction (packed-double arithmetic, SSE2 at least), with the inlined fast exp."""
    from numba import float64, int64, types

    from fitts.sim.backends.numba_backend import NumbaBackend

    rhs = NumbaBackend(two).kernel.module.rhs
    flat = types.Array(float64, 1, "C")
    rhs.compile((flat, flat, flat, float64, flat, int64))
    asm = "\n".join(rhs.inspect_asm().values())
    packed = re.findall(r"\bv?(?:mul|add|sub|div)pd\s", asm)
    assert len(packed) >= 20, f"{len(packed)} packed-double instructions in the rate loop"
    assert not re.search(r"call\w*\s+\S*exp", asm)  # no scalar library exp


def _subset(ids: list[int]) -> np.ndarray:
    ds = simulate(load_model_text(TWO_NODE), patients=ids, days=10.0, seed=4, backend="numpy")
    return ds.trajectory.values


def test_identical_across_processes() -> None:
    whole = _subset(list(range(12)))
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        parts = list(pool.map(_subset, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9, 10, 11]]))
    assert np.array_equal(np.concatenate(parts), whole)


def test_result_metadata_and_dims(two) -> None:
    ds = simulate(two, patients=3, days=4.0, seed=9, command="test")
    assert ds.trajectory.dims == ("patient", "time", "state")
    assert list(ds.time.values) == [0, 1, 2, 3, 4]
    assert ds.attrs["model_hash"] == two.model_hash
    assert ds.attrs["seed"] == 9 and ds.attrs["command"] == "test"
    assert ds.attrs["fitts_version"]


def test_summary_memory_does_not_grow_with_days(two) -> None:
    short = simulate(two, patients=5, days=10.0, record="summary")
    long = simulate(two, patients=5, days=100.0, record="summary")
    assert short.nbytes == long.nbytes
    grid = simulate(two, patients=5, days=100.0)
    np.testing.assert_allclose(long["mean"].values, grid.trajectory.mean("time").values)
    np.testing.assert_array_equal(long["final"].values, grid.trajectory.values[:, -1])


def test_schedule_moves_the_target(two) -> None:
    base = simulate(two, patients=20, days=10.0, seed=1, noise=False)
    pushed = simulate(two, patients=20, days=10.0, seed=1, noise=False,
                      schedule=[{"input": "stress", "kind": "step", "start": 2, "level": 2.0}])
    a0, a1 = base.trajectory.sel(state="a"), pushed.trajectory.sel(state="a")
    np.testing.assert_array_equal(a0.sel(time=slice(0, 2)), a1.sel(time=slice(0, 2)))
    assert (a1.sel(time=10) > a0.sel(time=10) + 0.05).all()


def test_clamp_and_cut_interventions(two) -> None:
    ds = simulate(two, patients=5, days=10.0, interventions=[Apply("calm", 3.0, 6.0)])
    a = ds.trajectory.sel(state="a")
    assert np.all(a.sel(time=[3, 4, 5, 6]).values == 0.1)
    assert not np.all(a.sel(time=[8, 9, 10]).values == 0.1)
    cut = simulate(two, patients=5, days=10.0, interventions=["cut"], noise=False)
    # without a -> b, b relaxes to sigmoid(baseline 0) = 0.5
    np.testing.assert_allclose(cut.trajectory.sel(state="b", time=10), 0.5, atol=1e-3)


def test_params_override_and_derived(two) -> None:
    ds = simulate(two, patients=4, days=1.0, params={"k": 1.0})
    np.testing.assert_array_equal(ds.params.sel(parameter="tau.b"), 2.0)
    ds = simulate(two, patients=4, days=1.0, params={"tau.b": 0.5})
    np.testing.assert_array_equal(ds.params.sel(parameter="tau.b"), 0.5)


DIVERGE = """
name: diverge
parameters:
  g: {prior: {dist: uniform, low: 0.0, high: 4.0}}
nodes:
  x: {rate: "g*x*x - x", initial: 0.9, bounds: [null, null]}
"""


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
def test_divergence_names_patient_time_and_state(backend: str) -> None:
    model = load_model_text(DIVERGE)
    with pytest.raises(SimulationError, match=r"patient \d+ at day [\d.]+ in state 'x'") as err:
        simulate(model, patients=20, days=20.0, backend=backend, seed=1)
    bad = err.value.failures
    assert bad and all(r["params"]["g"] > 1 / 0.9 for r in bad)
    ds = simulate(model, patients=20, days=20.0, backend=backend, seed=1, throw=False)
    failed = ds.status.values != 0
    assert failed.sum() == len(bad)
    assert np.isnan(ds.trajectory.values[failed, -1]).all()
    assert np.isfinite(ds.trajectory.values[~failed]).all()


def test_bad_arguments_are_model_errors(two) -> None:
    with pytest.raises(ModelError, match="not a whole number of steps"):
        simulate(two, patients=1, days=1.005, dt=0.01)
    with pytest.raises(ModelError, match="unknown intervention 'clam'.*Did you mean 'calm'"):
        simulate(two, patients=1, days=1.0, interventions=["clam"])
    with pytest.raises(ModelError, match="unknown input 'stres'"):
        simulate(two, patients=1, days=1.0, schedule=[{"input": "stres", "kind": "step",
                                                       "level": 1}])
    with pytest.raises(ModelError, match="unknown method"):
        simulate(two, patients=1, days=1.0, method="euler")


def test_typical_patient_sits_at_prior_medians(two) -> None:
    from fitts.sim.sample import typical_parameters

    p = typical_parameters(two)
    assert p["k"] == pytest.approx(1.0)  # uniform(0.5, 1.5)
    assert p["weight.b -> a"] == pytest.approx(-1.0)  # normal(-1, 0.2) cut at 0, 5 sd away
    with pytest.raises(ModelError, match="unknown parameter 'kk'"):
        typical_parameters(two, {"kk": 1.0})


def test_ad_hoc_intervention_is_applied_and_checked() -> None:
    """An Apply with its own InterventionSpec (as evaluation protocols build) clamps like a model's
    intervention, and a name the model lacks is a ModelError, not a KeyError."""
    from fitts import load_model
    from fitts.spec.schema import ClampAction, InterventionSpec

    m = compile_model(load_model("fitts"))
    clamp = Apply("challenge", 0.0, 2.0, spec=InterventionSpec(actions=[ClampAction(clamp="pain", value=0.7)]))
    ds = simulate(m, patients=2, days=2.0, dt=0.05, noise=False, interventions=[clamp], record_every=0.5)
    np.testing.assert_allclose(ds.trajectory.sel(state="pain").values[:, 1:], 0.7)
    bad = Apply("challenge", 0.0, 2.0, spec=InterventionSpec(actions=[ClampAction(clamp="pian", value=0.7)]))
    with pytest.raises(ModelError, match="unknown state 'pian'.*pain"):
        simulate(m, patients=1, days=1.0, dt=0.05, interventions=[bad])


def test_record_intervals_in_minutes_are_accepted_at_a_fine_step() -> None:
    from fitts.sim.simulate import record_steps

    # (days / dt) % steps as floats failed for 56 of these; whole step counts never do
    dt = 0.001 / 1440
    for minutes in range(1, 200):
        every = minutes / 1440
        assert record_steps(3 * every, dt, every) == 1000 * minutes
    with pytest.raises(ModelError, match="multiple of record_every"):
        record_steps(2.5 / 1440, dt, 1 / 1440)
