"""Phenomena of theory.md section 5 (items 1, 2, 4, 6) that every built-in theory must show.

Each test runs deterministic typical patients of each theory. "Predisposed" means the
predisposition the theory itself names as the risk factor: early-life adversity for FITTS
and the integrated model (threat baseline up, soothing down), the DRG sodium-channel
variant for the sympathetic-DRG model (sympathetic-to-DRG coupling up).
"""

from __future__ import annotations

import numpy as np
import pytest

from fitts import compile_model, load_model, simulate
from fitts.analysis.thresholds import stress_thresholds
from fitts.sim.sample import typical_parameters

#: theory -> the predisposition parameter that makes its typical patient "predisposed"
PREDISPOSITION = {"fitts": "early_adversity", "integrated": "early_adversity",
                  "sympathetic_drg": "nav_variant"}


def _patient(model, predisposed: bool) -> dict[str, float]:
    """The typical patient of the theory, with or without its predisposition."""
    return typical_parameters(model, {PREDISPOSITION[model.spec.name]: 1.0 if predisposed else 0.0})


@pytest.fixture(scope="module", params=sorted(PREDISPOSITION))
def model(request):
    return compile_model(load_model(request.param))


def test_every_builtin_theory_is_covered() -> None:
    from fitts.spec.load import builtin_theories

    assert set(PREDISPOSITION) == set(builtin_theories())


def _final_pain(model, params, schedule, days) -> float:
    ds = simulate(model, patients=1, days=days, dt=0.05, noise=False, schedule=schedule,
                  params=params, record_every=days)
    return float(ds.trajectory.sel(state="pain").values[0, -1])


def test_everyday_stress_keeps_healthy_people_healthy(model) -> None:
    daily = [{"input": "psychosocial_stress", "kind": "daily", "values": [0.0, 0.3, 0.6, 0.2]}]
    for predisposed in (False, True):
        assert _final_pain(model, _patient(model, predisposed), daily, 365.0) < 0.2


def test_large_stressor_tips_predisposed_into_persistent_pain(model) -> None:
    pulse = [{"input": "psychosocial_stress", "kind": "pulse", "start": 30, "duration": 120,
              "level": 2.0}]
    assert _final_pain(model, _patient(model, True), pulse, 500.0) > 0.5
    # the same stressor in a person without the predisposition passes
    assert _final_pain(model, _patient(model, False), pulse, 500.0) < 0.2


def test_short_small_stressor_does_not_tip(model) -> None:
    pulse = [{"input": "psychosocial_stress", "kind": "pulse", "start": 30, "duration": 5,
              "level": 0.5}]
    assert _final_pain(model, _patient(model, True), pulse, 200.0) < 0.2


@pytest.mark.parametrize("predisposed", [False, True])
def test_hysteresis_recovery_threshold_well_below_onset(model, predisposed: bool) -> None:
    th = stress_thresholds(model, _patient(model, predisposed), tol=0.1)
    assert th.onset is not None and th.hysteresis
    rec = th.search[0] if th.recovery is None else th.recovery
    assert th.onset - rec > 0.5, th
    assert np.isfinite(th.onset)


def test_predisposition_lowers_the_onset_threshold(model) -> None:
    a = stress_thresholds(model, _patient(model, False), tol=0.1)
    b = stress_thresholds(model, _patient(model, True), tol=0.1)
    assert b.onset < a.onset - 0.3


def test_different_origins_end_in_the_same_attractor(model) -> None:
    """Egg and chicken: a psychosocial stressor, a peripheral injury and an infection leave
    the same end state, so the origin cannot be read off it. Small fibre pathology relaxes
    with a 180-day time constant, so the end state is read after 1500 days."""
    params = _patient(model, True)
    ends = []
    for inp, level in (("psychosocial_stress", 2.0), ("physical_trauma", 3.0), ("infection", 3.0)):
        ds = simulate(model, patients=1, days=1500.0, noise=False, params=params, record_every=1500.0,
                      schedule=[{"input": inp, "kind": "pulse", "start": 30, "duration": 90,
                                 "level": level}])
        ends.append(ds.trajectory.values[0, -1])
    ends = np.array(ends)
    assert (ends[:, list(model.states).index("pain")] > 0.5).all()
    np.testing.assert_allclose(ends, np.broadcast_to(ends[0], ends.shape), atol=1e-3)


TIP = [{"input": "psychosocial_stress", "kind": "pulse", "start": 30, "duration": 120, "level": 2.0}]


def test_lower_resting_vagal_tone_when_ill(model) -> None:
    """Autonomic signature, first half: lower resting vagal tone in the persistent-pain state."""
    params = _patient(model, True)
    ill = simulate(model, patients=1, days=600.0, noise=False, params=params, schedule=TIP,
                   record_every=600.0)
    healthy = simulate(model, patients=1, days=600.0, noise=False, params=params, record_every=600.0)
    assert float(ill.trajectory.sel(state="pain").values[0, -1]) > 0.5
    v_ill = float(ill.trajectory.sel(state="vagal").values[0, -1])
    v_healthy = float(healthy.trajectory.sel(state="vagal").values[0, -1])
    assert v_ill < v_healthy - 0.1


def _sympathetic_response(model, params, schedule) -> tuple[float, float]:
    """(pain at day 600, peak rise of sympathetic tone over 12 h after a new stressor at day 600)."""
    new = [{"input": "psychosocial_stress", "kind": "pulse", "start": 600.0, "duration": 0.5, "level": 1.5}]
    kw = dict(patients=1, days=600.5, dt=0.05, noise=False, params=params, record_every=0.05)
    base = simulate(model, schedule=schedule, **kw).trajectory
    pushed = simulate(model, schedule=schedule + new, **kw).trajectory
    rise = (pushed.sel(state="sympathetic") - base.sel(state="sympathetic")).values[0]
    return float(base.sel(state="pain").values[0, -11]), float(rise.max())


def test_blunted_sympathetic_response_to_a_new_stressor_when_ill(model) -> None:
    """Autonomic signature, second half: the same new stressor raises sympathetic tone less in
    the persistent-pain state than in the same person healthy. No dedicated hyporeactivity
    mechanism is needed: sustained drive (threat or pain acting on sympathetic tone) puts the
    ill person on the flat part of the sympathetic node's saturating response."""
    params = _patient(model, True)
    pain_healthy, rise_healthy = _sympathetic_response(model, params, [])
    pain_ill, rise_ill = _sympathetic_response(model, params, TIP)
    assert pain_healthy < 0.2 < 0.5 < pain_ill
    assert rise_healthy > 0.0
    assert rise_ill < 0.85 * rise_healthy, (rise_ill, rise_healthy)


def test_one_night_of_sleep_loss_lowers_next_day_pain_thresholds(model) -> None:
    """Sleep loss impairs descending inhibition within a day (Smith et al. 2007; Schuh-Hofer
    et al. 2013): one night with sleep disturbance held high lowers the next-morning
    pressure pain threshold of a healthy typical person by more than 10 %, through
    descending inhibition, while the slow central gain has not moved."""
    from fitts.observe.instruments import measure
    from fitts.sim.simulate import Apply
    from fitts.spec.schema import ClampAction, InterventionSpec

    params = _patient(model, False)
    kw = dict(patients=1, days=31.0, dt=0.05, noise=False, params=params, record_every=0.25)
    night = InterventionSpec(actions=[ClampAction(clamp="sleep_disturbance", value=0.95)])
    rested = simulate(model, **kw)
    deprived = simulate(model, interventions=[Apply("night", 30.0, 31.0, spec=night)], **kw)
    ppt = [float(measure(ds, "pressure_pain_threshold", noise=False, time=31.0)[0]) for ds in (rested, deprived)]
    assert ppt[1] < 0.9 * ppt[0], ppt
    di = [float(ds.trajectory.sel(state="descending_inhibition").values[0, -1]) for ds in (rested, deprived)]
    cg = [float(ds.trajectory.sel(state="central_gain").values[0, -1]) for ds in (rested, deprived)]
    assert di[1] < di[0] - 0.1
    assert abs(cg[1] - cg[0]) < 0.01


#: the short balancing loops each theory must hold: node cycles (first node repeated at the end)
BALANCING = {
    "fitts": {"pain -> descending_inhibition", "activity -> fatigue", "threat -> hpa"},
    "sympathetic_drg": {"pain -> descending_inhibition", "activity -> fatigue", "sympathetic -> hpa"},
    "integrated": {"pain -> descending_inhibition", "activity -> fatigue", "threat -> hpa", "sympathetic -> hpa"},
}


def test_negative_feedback_balancing_loops_exist(model) -> None:
    """Real physiology has negative feedback: pain-evoked descending inhibition, HPA-axis
    (glucocorticoid) feedback on the stress response, rest after exertion. Each theory holds
    these balancing loops, so its bistability is tested against them, not built in."""
    from fitts.analysis.loops import elementary_loops

    found = {frozenset(lp.nodes) for lp in elementary_loops(model.spec) if lp.polarity == "balancing"}
    for pair in BALANCING[model.spec.name]:
        assert frozenset(pair.split(" -> ")) in found, pair


@pytest.mark.parametrize("treatment", ["snri", "gabapentinoid", "exercise", "compassion"])
def test_treatments_lower_pain_of_the_ill_state(model, treatment: str) -> None:
    """Treatments act through per-person effect sizes: at the typical effect, 12 weeks of
    each theory's treatments lower the pain of a typical patient in the persistent-pain state,
    and placebo (expectation) alone lowers it less than a drug that carries it too."""
    from fitts.sim.simulate import Apply

    if treatment not in model.spec.interventions:
        pytest.skip(f"{model.spec.name} has no {treatment!r} intervention")
    params = _patient(model, True)
    kw = dict(patients=1, days=684.0, noise=False, params=params, schedule=TIP, record_every=684.0)
    off = float(simulate(model, **kw).trajectory.sel(state="pain").values[0, -1])
    on = float(simulate(model, interventions=[Apply(treatment, 600.0, 684.0)], **kw)
               .trajectory.sel(state="pain").values[0, -1])
    assert off > 0.5 and on < off - 0.005, (off, on)
    if treatment in ("snri", "gabapentinoid"):
        placebo = float(simulate(model, interventions=[Apply("placebo", 600.0, 684.0)], **kw)
                        .trajectory.sel(state="pain").values[0, -1])
        assert on < placebo <= off
