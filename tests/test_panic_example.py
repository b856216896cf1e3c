"""The panic-disorder example (Robinaugh, Haslbeck et al. 2024) against its R code's rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fitts import Apply, ModelError, compile_model, simulate
from fitts.analysis.graph import elementary_loops
from fitts.sim.events import EventRunner, compile_events
from fitts.spec.load import load_model, models_dir

PANIC = models_dir() / "examples" / "panic.yaml"
HOUR = 1 / 24


@pytest.fixture(scope="module")
def panic():
    return compile_model(load_model(PANIC))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_the_model_uses_the_new_constructs(panic) -> None:
    spec = panic.spec
    assert spec.time_unit == "minutes" and spec.dt == 0.001
    assert spec.dt_days == pytest.approx(0.001 / 1440, rel=1e-15)
    assert {"AF", "k_A_PT", "h_A_PT", "sigma", "beta", "p_C"} == set(spec.auxiliaries)
    assert list(spec.events) == ["context", "schemas", "avoidance"]
    assert panic.has_noise_scales
    with pytest.raises(ModelError, match="requires dt"):
        simulate(panic, days=HOUR, dt=1e-5)


@pytest.mark.slow
def test_initial_avoidance_follows_the_initial_schema(panic) -> None:
    ds = simulate(panic, days=HOUR, record_every=HOUR, backend="numpy", noise=False, command="x",
                  params={"S0": 0.8})
    assert ds.trajectory.sel(state="V").values[0, 0] == pytest.approx(_sigmoid(15 * (0.8 - 0.75)), rel=1e-14)
    assert ds.params.sel(parameter="S_hour").values[0] == 0.8  # held by the context draw at t = 0


@pytest.mark.slow
def test_arousal_noise_is_the_per_step_ar1_of_the_r_code(panic) -> None:
    # N_i = (1 - 1/lambda) N_{i-1} + beta eps, eps ~ N(0, sigma): stationary sd
    # beta sigma / sqrt(1 - (1 - 1/lambda)^2) = sigma^2
    ds = simulate(panic, patients=16, days=HOUR / 2, record_every=1 / 1440, seed=3, command="x")
    V0 = _sigmoid(15 * (0.5 - 0.75))
    sigma = 0.30 / (1 + math.exp(5 * (V0 - 0.5))) + 0.50
    N = ds.trajectory.sel(state="N").values[:, 5:]  # one-minute records: 1000 steps apart, independent
    assert N.std() == pytest.approx(sigma**2, rel=0.08)
    assert abs(N.mean()) < 0.1


@pytest.mark.slow
def test_a_biological_challenge_triggers_panic_only_with_a_high_arousal_schema(panic) -> None:
    # the R showcase: arousal set to 0.6 at minute 10 with arousal schema 0.6 -> fear surges
    kw = dict(patients=6, days=HOUR, record_every=1 / 1440, seed=5, auxiliaries=["AF"], command="x")
    hit = simulate(panic, params={"S0": 0.6}, interventions=[Apply("challenge", 10 / 1440)], **kw)
    AF = hit.auxiliaries.sel(auxiliary="AF").values
    assert (AF[:, :10].max(axis=1) < 0.5).all()  # calm before
    assert (AF[:, 10:].max(axis=1) >= 0.5).mean() >= 0.5  # a panic attack in most
    low = simulate(panic, params={"S0": 0.0}, interventions=[Apply("challenge", 10 / 1440)], **kw)
    assert (low.auxiliaries.sel(auxiliary="AF").values[:, 12:].max(axis=1) < 0.5).all()


def _fire_day(panic, **values: float) -> dict[str, float]:
    """Fire the end-of-day events on one patient whose states are `values`."""
    events = compile_events(panic, 1.0)
    P = np.array([[p.value if p.kind == "fixed" else 0.0] for p in panic.params])
    X = np.zeros((panic.n_states, 1))
    for name, v in values.items():
        X[panic.state_index[name]] = v
    runner = EventRunner(panic, events, 0, np.array([0]), lambda row, v, mask: None)
    runner.fire([1, 2], X, lambda: P, np.zeros((0, 1)), 1.0)
    return {s: float(X[i, 0]) for s, i in panic.state_index.items()}


def test_daily_schema_updates_follow_the_r_rules(panic) -> None:
    # a day with high fear and escape: S moves up to maxPT at r_S_a, X decays at r_X_e
    out = _fire_day(panic, S=0.5, X=0.5, V=0.1, maxAF=0.7, maxE=0.4, maxPT=0.9)
    assert out["S"] == pytest.approx(0.5 + 0.25 * (0.9 - 0.5))
    assert out["X"] == pytest.approx(0.5 - 0.25 * 0.5)
    # avoidance moves after the new S (events in file order), the day's maxima restart
    assert out["V"] == pytest.approx(0.1 + 1.0 * (_sigmoid(15 * (out["S"] - 0.75)) - 0.1))
    assert out["maxAF"] == out["maxE"] == out["maxPT"] == 0.0
    # high fear without escape: S decays, X rises towards maxPT
    out = _fire_day(panic, S=0.5, X=0.5, V=0.1, maxAF=0.7, maxE=0.1, maxPT=0.9)
    assert out["S"] == pytest.approx(0.5 - 0.10 * 0.5)
    assert out["X"] == pytest.approx(0.5 + 0.10 * (0.9 - 0.5))
    # a calm day: the schemas stay
    out = _fire_day(panic, S=0.5, X=0.5, V=0.1, maxAF=0.3, maxE=0.9, maxPT=0.9)
    assert (out["S"], out["X"]) == (0.5, 0.5)


def test_its_loops_are_seen_through_the_rates(panic) -> None:
    loops = {(lp.nodes, lp.polarity) for lp in elementary_loops(panic.spec)}
    assert (("A", "PT"), "reinforcing") in loops  # arousal <-> perceived threat: the panic loop
    assert (("A", "H"), "balancing") in loops  # homeostatic feedback
    assert (("PT", "E"), "balancing") in loops  # escape lowers perceived threat


def test_the_cbt_treatment_fires_in_the_r_codes_order() -> None:
    cbt = compile_model(load_model(models_dir() / "examples" / "panic_cbt.yaml"))
    names = list(cbt.spec.events)
    assert names[:3] == ["context", "schemas", "avoidance"]  # the included model's first
    assert names[3:] == ["psychoeducation", "restructuring", "exposure_done", "exposure_pulse", "in_vivo",
                         "exposure_ends"]
    events = compile_events(cbt, 50.0)
    day = {e.name: [round(t * 1440) for t in e.times] for e in events if e.times}
    assert day["psychoeducation"] == [1440] and day["restructuring"] == [8 * 1440, 15 * 1440]
    assert day["exposure_done"] == [(d - 1) * 1440 for d in range(9, 37)]
    assert day["in_vivo"] == [(d - 1) * 1440 for d in range(23, 37)]
    # day 23 (the first in vivo day): a completed exposure sets arousal to 0.75 and the context
    P = np.zeros((len(cbt.params), 1))
    for k, p in enumerate(cbt.params):
        P[k] = p.value if p.kind == "fixed" else 0.0
    idx = cbt.param_index
    P[idx["I4Adh"]], P[idx["I4RdEs"]] = 1.0, 0.6
    X = np.zeros((cbt.n_states, 1))
    X[cbt.state_index["S"]] = 0.7

    def write(row: int, values: np.ndarray, mask: np.ndarray) -> None:
        P[row, mask] = values[mask]

    runner = EventRunner(cbt, events, 0, np.array([0]), write)
    t = 22 * 1440 / 1440  # days
    which = [names.index(n) for n in ("exposure_done", "exposure_pulse", "in_vivo")]
    runner.fire(which, X, lambda: P, np.zeros((0, 1)), t)
    assert P[idx["expo"], 0] == 1.0 and P[idx["TxI4"], 0] == 0.6
    assert X[cbt.state_index["A"], 0] == 0.75
    assert P[idx["C"], 0] == 1.0 and P[idx["S_hour"], 0] == 0.7
    # without adherence nothing happens to arousal or the context
    P[idx["I4Adh"]], P[idx["C"]] = 0.0, 0.0
    X[cbt.state_index["A"]] = 0.1
    runner.fire(which, X, lambda: P, np.zeros((0, 1)), t + 1)
    assert X[cbt.state_index["A"], 0] == 0.1 and P[idx["C"], 0] == 0.0


def test_validate_and_show_describe_it(tmp_path) -> None:
    from tests.test_cli import fitts_cmd

    r = fitts_cmd("validate", str(PANIC), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "6 auxiliaries, 3 events" in r.stdout
    r = fitts_cmd("show", str(PANIC), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "time in minutes; requires dt = 0.001 minutes" in r.stdout
    assert "every 1440 minutes from 1440" in r.stdout  # event periods in the model's unit


def test_the_command_line_runs_it_at_its_own_step(tmp_path) -> None:
    import xarray as xr

    from tests.test_cli import fitts_cmd

    minute = repr(1 / 1440)
    r = fitts_cmd("simulate", str(PANIC), "--days", minute, "--record-every", minute, "--patients", "2",
                  "--backend", "numpy", "--auxiliaries", "--out", "p.nc", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with xr.open_dataset(tmp_path / "p.nc") as ds:
        assert ds.attrs["dt"] == pytest.approx(0.001 / 1440, rel=1e-14)
        assert ds.sizes["time"] == 2 and "AF" in ds.auxiliary.values
    r = fitts_cmd("simulate", str(PANIC), "--days", minute, "--dt", "1e-5", "--out", "q.nc",
                  cwd=tmp_path)
    assert r.returncode == 2 and "requires dt" in r.stderr


def _r_fast_loop(minutes: int, S0: float, X0: float, C: float, challenge: float | None) -> np.ndarray:
    """simPanic's Euler loop for A, PT, H, E without noise, transcribed line by line from the R
    code (DifferentialEquations.R, Defaults.R); the state at every whole minute."""
    dt = 0.001
    A = PT = H = E = 0.0
    k_A_PT = 20 - 10 * 0.1**S0 + 5 * C
    h_A_PT = 0.25**S0 - 0.1 * C
    out = [(A, PT, H, E)]
    for i in range(1, round(minutes / dt) + 1):
        A_new = A + 0.5 * ((1.0 * PT + 0.0 - H) - A) * dt
        PT_new = PT + 1.0 * ((1 / (1 + math.exp(-k_A_PT * (A - 0.25 * E - h_A_PT)))) - PT) * dt
        H_new = H + 0.05 * (1 / (1 + math.exp(-20 * (A - 0.4))) - (0.5 * H)) * dt
        E_new = E + 0.25 * ((1 / (1 + math.exp(-10 * ((PT - X0 - 0) - 0.5)))) - E) * dt
        A, PT, H, E = A_new, PT_new, H_new, E_new
        if challenge is not None and i == round(challenge / dt):
            A = 0.6  # the perturbation: arousal set once (here at the end of the step reaching it)
        if i % 1000 == 0:
            out.append((A, PT, H, E))
    return np.array(out)


@pytest.mark.slow
@pytest.mark.parametrize("S0", [0.2, 0.6, 1.0])
def test_without_noise_it_is_the_r_codes_euler_loop(panic, S0: float) -> None:
    minutes = 30
    ds = simulate(panic, days=minutes / 1440, record_every=1 / 1440, noise=False, seed=4, command="x",
                  params={"S0": S0}, interventions=[Apply("challenge", 10 / 1440)])
    C = float(ds.params.sel(parameter="C").values[0])  # the one context draw, at minute 0
    ref = _r_fast_loop(minutes, S0, 0.5, C, challenge=10)
    got = ds.trajectory.sel(state=["A", "PT", "H", "E"]).values[0]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
