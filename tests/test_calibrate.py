"""Calibration: knobs, common random numbers, the loss, and a saved, reloadable result."""

from __future__ import annotations

import numpy as np
import pytest

from fitts import compile_model, load_model
from fitts.errors import ModelError
from fitts.evaluate.calibrate import (
    Calibration,
    Knob,
    calibrate,
    load_calibration,
    save_result,
    scorecard_loss,
    stale_note,
    target_loss,
)
from fitts.evaluate.protocol import CohortSettings, load_protocol
from fitts.evaluate.protocols import Outcome
from fitts.evaluate.scorecard import evaluate
from fitts.evaluate.statistics import Estimate
from fitts.evaluate.targets import load_targets
from fitts.sim.sample import sample_parameters

TINY = CohortSettings(patients=120, years=3, follow_up_years=1.0, exposed_patients=60, diary_patients=20,
                      bootstrap=50)


@pytest.fixture(scope="module")
def model():
    return compile_model(load_model("fitts"))


@pytest.fixture(scope="module")
def protocol():
    return load_protocol().model_copy(update={"cohort": TINY})


def test_prior_knob_at_the_written_value_reproduces_the_prior_sample(model, protocol) -> None:
    """Common random numbers: each patient keeps their own uniform under a changed prior."""
    cal = Calibration("fitts", [Knob(name="prior:threat_bias.sd", range=(0.1, 1.5), value=0.4)])
    ids = np.arange(50)
    params, _ = cal.apply(model, protocol, ids, seed=7)
    P = sample_parameters(model, ids, seed=7)
    np.testing.assert_allclose(params["threat_bias"], P[model.param_index["threat_bias"]])
    wider, _ = cal.apply(model, protocol, ids, seed=7, values={"prior:threat_bias.sd": 0.8})
    np.testing.assert_allclose(wider["threat_bias"], 2 * params["threat_bias"])  # same quantiles


def test_bad_knobs_name_the_problem(model, protocol) -> None:
    with pytest.raises(ModelError, match="no parameter 'threat_bais'.*threat_bias"):
        Calibration("fitts", [Knob(name="prior:threat_bais.sd", range=(0, 1))]).check(model, protocol)
    with pytest.raises(ModelError, match="no field 'median'"):
        Calibration("fitts", [Knob(name="prior:threat_bias.median", range=(0, 1))]).check(model, protocol)
    with pytest.raises(ModelError, match="names nothing"):
        Calibration("fitts", [Knob(name="protocol:everyday.7.level", range=(0, 1))]).check(model, protocol)


def test_loss_is_zero_at_the_published_value_and_grows_away_from_it() -> None:
    t = load_targets()["B21"]  # value -0.43, accept [-0.65, -0.25]
    at = target_loss(Outcome(t, "pass", Estimate(-0.43, -0.5, -0.3)))
    near = target_loss(Outcome(t, "pass", Estimate(-0.5, -0.6, -0.4)))
    far = target_loss(Outcome(t, "fail", Estimate(-1.2, -1.3, -1.1)))
    assert at == 0.0 < near < far
    assert target_loss(Outcome(t, "not expressible", note="x")) > 0


@pytest.mark.slow  # minutes on 2 cores: `make test-slow` / `make check` (CI)
def test_calibrate_finds_a_loss_it_can_reproduce_and_saves_it(model, protocol, tmp_path) -> None:
    knobs = Calibration("fitts", [Knob(name="protocol:everyday.1.rate_per_year", range=(0.05, 1.0), value=0.3),
                                  Knob(name="prior:threat_bias.sd", range=(0.1, 1.5), value=0.4)])
    res = calibrate(model, knobs, protocol=protocol, patients=120, seed=2, evaluations=3, popsize=3)
    assert len(res.history) == 3
    assert res.calibration.loss == min(loss for _, loss in res.history)
    # deterministic: the fitted values give the same loss again (common random numbers)
    params, p2 = res.calibration.apply(model, protocol, np.arange(120), 2)
    again = evaluate(model, protocol=p2, patients=120, seed=2, params=params)
    assert scorecard_loss(again) == pytest.approx(res.calibration.loss)
    path = save_result(res, tmp_path / "cal.yaml", model, "calibration.yaml")
    loaded = load_calibration(path)
    assert loaded.values() == res.calibration.values()
    assert loaded.extra["scorecard"]["of"] == len(load_targets())
    assert stale_note(loaded, model) is None
    # the same file read against a changed theory says so and how to refit
    changed = compile_model(load_model("integrated"))
    note = stale_note(loaded, changed)
    assert note is not None and model.model_hash in note and "fitts calibrate integrated" in note


def test_a_single_knob_is_searched_on_a_grid(model, protocol) -> None:
    knobs = Calibration("fitts", [Knob(name="protocol:everyday.1.rate_per_year", range=(0.1, 0.5))])
    res = calibrate(model, knobs, protocol=protocol, patients=60, seed=1, evaluations=2)
    assert [v for (v,), _ in res.history] == pytest.approx([0.1, 0.5])


def test_monte_carlo_scales_follow_how_each_study_samples() -> None:
    from fitts.evaluate.calibrate import quantity_mc_scales
    from fitts.evaluate.protocol import load_protocol
    from fitts.evaluate.targets import load_targets

    ts = load_targets(None)
    proto = load_protocol(None)
    cap = proto.cohort.exposed_patients
    scales = quantity_mc_scales(ts, proto, 250, 8000)
    assert scales["B01"] == pytest.approx(250 / 8000)  # prevalence: the whole cohort
    assert scales["B49"] == pytest.approx(250 / min(8000, cap))  # a challenge of controls, capped per arm
    assert scales["B38"] == pytest.approx(250 / 8000)  # a challenge of cases: grows with the cohort
    assert any(k.startswith("B09:") for k in scales)
    assert all(v == pytest.approx(250 / cap) for k, v in scales.items() if k.startswith("B09:"))


def test_a_directional_rule_is_an_emulated_bound_and_a_loss_term(tmp_path) -> None:
    from fitts.evaluate.calibrate import target_loss, target_quantities
    from fitts.evaluate.targets import load_targets as _load

    f = tmp_path / "t.yaml"
    f.write_text("format: fitts-targets/1\ntargets:\n"
                 "  - {id: R, title: t, design: case_control, population: fm, comparator: controls, grade: B,\n"
                 "     source: s, protocol: p, measure: {observation: psqi, statistic: hedges_g},\n"
                 "     accept: \"lower in cases\"}\n")
    t = _load(f)["R"]
    (q,) = target_quantities(_load(f))
    assert q.name == "R:lower in cases" and q.bound == 0.0 and q.direction == "max"
    control = Estimate(2, 1.9, 2.1)
    holds = Outcome(t, "pass", Estimate(-1, -1, -1), {"group": Estimate(1, 0.9, 1.1), "comparator": control})
    broken = Outcome(t, "fail", Estimate(1, 1, 1), {"group": Estimate(3, 2.9, 3.1), "comparator": control})
    assert target_loss(holds) == 0.0 and target_loss(broken) > 0.0


def test_a_calibrated_theory_samples_the_patients_the_calibration_evaluated(model, protocol, tmp_path) -> None:
    """The packaged calibration as a model: the same patients as the calibration's own
    per-patient overrides, a protocol with its numbers, a hash of its own, and worker
    processes rebuild it from a handle."""
    from fitts.analysis import scenarios
    from fitts.evaluate.calibrate import builtin_calibration, calibrated, calibrated_theory

    cal = builtin_calibration("fitts")
    cm, proto, notes = calibrated_theory(model, cal, protocol)
    params, proto_old = calibrated(model, cal, protocol, 200, 3)
    np.testing.assert_array_equal(sample_parameters(cm, 200, 3), sample_parameters(model, 200, 3, params))
    assert proto.model_dump() == proto_old.model_dump() and proto.model_dump() != protocol.model_dump()
    assert cm.model_hash != model.model_hash and not notes
    assert calibrated_theory(model, None, protocol)[0] is model
    knobs = load_calibration(cal).knobs
    assert len(cm.calibration) == sum(k.kind == "prior" for k in knobs) > 0
    handle = scenarios.ModelHandle.of(cm)
    scenarios._MODELS.clear()  # as in a fresh worker process
    again = handle.get()
    assert again.model_hash == cm.model_hash and again.calibration == cm.calibration
    with pytest.raises(ModelError, match="no parameter 'nope'"):
        model.with_prior_knobs([("prior:nope.sd", 1.0)])
    other = Calibration("sympathetic_drg", knobs[:1])
    with pytest.raises(ModelError, match="for theory 'sympathetic_drg'"):
        calibrated_theory(model, other, protocol)
