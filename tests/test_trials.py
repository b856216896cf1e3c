"""Trial files, one trial chunk, outcomes and effect sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fitts.errors import ModelError
from fitts.evaluate.statistics import hedges_g
from fitts.spec.load import models_dir
from fitts.trials.analysis import effect_sizes, label_table, patient_outcomes
from fitts.trials.simulate import trial_chunk, visit_times
from fitts.trials.spec import dosed, load_trial
from tests.trial_helpers import SMALL_TRIAL, small_trial


def test_the_example_trial_is_valid():
    t = load_trial(models_dir() / "trials" / "example.yaml")
    assert [a.name for a in t.spec.arms] == ["placebo", "snri", "exercise", "snri+exercise"]
    assert t.spec.control == 0 and t.recruitment.rule == "cases" and t.everyday
    assert [a.name for a in t.applies(3)] == ["snri", "exercise"]


@pytest.mark.parametrize(("change", "match"), [
    ("patients: 60", "patients: Input should be greater than or equal to 2"),
    ("theory: fitts", "theory 'no_such_theory'.*no model file or built-in theory"),
    ("duration_days: 28", "duration_days .* whole number of visits"),
    ("seed: 3", "unknown field 'colour'"),
    ("{name: snri}", "unknown intervention 'snir' for theory 'fitts'. Did you mean 'snri'"),
    ("{name: gabapentinoid, start: 0, end: 21}", "runs from day 0 to day 90"),
    ("prevalence: {early_adversity: 0.5}", "prevalence of 'threat_bias': .* Bernoulli"),
    ("control: true, interventions", "control: true, interventions"),
])
def test_invalid_trial_files_name_file_line_and_fix(tmp_path, change, match):
    replacement = {
        "patients: 60": "patients: 1",
        "theory: fitts": "theory: no_such_theory",
        "duration_days: 28": "duration_days: 30",
        "seed: 3": "seed: 3\ncolour: blue",
        "{name: snri}": "{name: snir}",
        "{name: gabapentinoid, start: 0, end: 21}": "{name: gabapentinoid, start: 0, end: 90}",
        "prevalence: {early_adversity: 0.5}": "prevalence: {threat_bias: 0.5}",
        "control: true, interventions": "control: true, interventions",
    }[change]
    text = SMALL_TRIAL.format(patients=60).replace(change, replacement)
    if change == "control: true, interventions":  # two control arms
        text = text.replace("{name: snri, interventions", "{name: snri, control: true, interventions")
        match = "at most one arm may be the control"
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ModelError, match=match) as info:
        load_trial(p)
    assert "bad.yaml" in str(info.value)


def test_not_a_trial_file(tmp_path):
    p = tmp_path / "model.yaml"
    p.write_text("name: x\nnodes: {}\n")
    with pytest.raises(ModelError, match="expected `format: fitts-trial/1`"):
        load_trial(p)


def test_dose_scales_shifts_and_powers_edge_factors():
    t = load_trial(models_dir() / "trials" / "example.yaml")
    base = t.model.spec.interventions["threat_appraisal"]
    twice = dosed(base, 2.0)
    assert twice.actions[0].by == 2 * base.actions[0].by
    assert twice.actions[1].factor == pytest.approx(base.actions[1].factor ** 2)
    assert dosed(base, 1.0) is base


def test_trial_chunk_randomises_treats_and_drops_out(tmp_path):
    t = load_trial(small_trial(tmp_path))
    ids = np.arange(90)
    out = trial_chunk(t, ids, backend="numpy")
    assert np.array_equal(out["patient"], ids)  # recruit: all
    counts = np.bincount(out["arm"], minlength=3)
    assert counts.sum() == 90 and counts[2] > counts[0] and counts[2] > counts[1]  # allocation 1:1:2
    n_v = len(visit_times(t))
    assert out["pain_nrs"].shape == (90, n_v) and n_v == 7
    dropped = out["dropout"] >= 0
    assert dropped.any() and not dropped.all()
    i = int(np.flatnonzero(dropped)[0])
    assert np.isnan(out["pain_nrs"][i, out["dropout"][i]:]).all()
    assert not np.isnan(out["pain_nrs"][i, :out["dropout"][i]]).any()
    # a patient's values do not depend on the chunk it was computed in
    part = trial_chunk(t, ids[40:55], backend="numpy")
    for k, v in part.items():
        assert np.array_equal(v, out[k][40:55], equal_nan=True), k


def _table(trial, rng: np.random.Generator) -> pd.DataFrame:
    n = 400
    arm = np.repeat([0, 1, 2], [100, 150, 150])
    base = rng.integers(4, 10, n).astype(float)
    end = np.clip(base - rng.integers(0, 6, n) * (arm > 0) - rng.integers(0, 3, n), 0, 10)
    nrs = np.column_stack([base] + [end] * 6).astype(np.float32)
    fiqr = (nrs * 7.0 + rng.normal(0, 3, nrs.shape)).astype(np.float32)
    chunk = {"patient": np.arange(n), "arm": arm.astype(np.int16), "subtype": (np.arange(n) % 2).astype(np.int64),
             "status": np.zeros(n, np.int8), "dropout": np.full(n, -1, np.int32), "pain_nrs": nrs, "fiqr": fiqr}
    return label_table(trial, patient_outcomes(trial, chunk))


def test_effect_sizes_against_control(tmp_path):
    t = load_trial(small_trial(tmp_path))
    df = _table(t, np.random.default_rng(0))
    eff = effect_sizes(t, df)
    assert set(eff["subgroup"]) == {"all", "none", "early_adversity"}
    row = eff[(eff.arm == "snri") & (eff.subgroup == "all") & (eff.timepoint == "end")
              & (eff.outcome == "pain_nrs_change")].iloc[0]
    x = df.loc[df.arm == "snri", "pain_nrs_change_end"].to_numpy()
    y = df.loc[df.arm == "placebo", "pain_nrs_change_end"].to_numpy()
    assert row.value == pytest.approx(float(hedges_g(x, y)), rel=1e-9)  # the same Hedges g as the scorecard
    assert row.low < row.value < row.high < 0  # the arm lowers pain more than control
    resp = eff[(eff.arm == "snri") & (eff.subgroup == "all") & (eff.timepoint == "end")
               & (eff.outcome == "responder_30")].iloc[0]
    rx = df.loc[df.arm == "snri", "responder_30_end"].mean()
    ry = df.loc[df.arm == "placebo", "responder_30_end"].mean()
    assert resp.value == pytest.approx(rx - ry)
    assert resp.low < resp.value < resp.high
    assert resp.nnt == pytest.approx(1 / resp.value)
    assert resp.nnt_low == pytest.approx(1 / resp.high) and resp.nnt_high == pytest.approx(1 / resp.low)
    # responders: >= 30 % less pain than at baseline
    expect = (df.pain_nrs_baseline - df.pain_nrs_end) / df.pain_nrs_baseline >= 0.3
    assert np.array_equal(df.responder_30_end.to_numpy() == 1, expect.to_numpy())


def test_dropouts_are_carried_forward_and_count_as_non_responders(tmp_path):
    t = load_trial(small_trial(tmp_path))
    nrs = np.array([[8, 6, 2, np.nan, np.nan, np.nan, np.nan], [8, 4, 4, 4, 4, 4, 4]], dtype=np.float32)
    chunk = {"patient": np.arange(2), "arm": np.zeros(2, np.int16), "subtype": np.zeros(2, np.int64),
             "status": np.zeros(2, np.int8), "dropout": np.array([3, -1], np.int32), "pain_nrs": nrs, "fiqr": nrs}
    o = patient_outcomes(t, chunk)
    assert o["pain_nrs_end"].tolist() == [2.0, 4.0]  # LOCF
    assert o["pain_nrs_change_end"].tolist() == [-6.0, -4.0]
    assert o["responder_50_end"].tolist() == [0, 1]  # the dropout is a non-responder


def test_a_theory_without_the_outcome_states_is_refused(tmp_path):
    from tests.helpers import TWO_NODE

    (tmp_path / "two.yaml").write_text(TWO_NODE)
    text = SMALL_TRIAL.format(patients=10).replace("theory: fitts", "theory: two.yaml")
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(ModelError, match="cannot measure the trial outcome 'pain_nrs'"):
        load_trial(p)


def test_a_trial_on_the_calibrated_theory_uses_its_priors_and_everyday_stressors():
    """`fitts trial` applies the theory's calibration in every worker: calibrated priors, and
    the built-in protocol's everyday stressors as calibrated; the calibration keys resume."""
    from fitts.evaluate.calibrate import builtin_calibration, calibrated_theory, trial_calibration
    from fitts.population.recruit import everyday_schedule
    from fitts.run import trial as run_trial

    path = models_dir() / "trials" / "example.yaml"
    t = load_trial(path)
    cal = builtin_calibration(t.model.spec.name)
    job = run_trial.TrialJob.of(t, path, calibration=trial_calibration(t.model, cal))
    plain = run_trial.TrialJob.of(t, path)
    run_trial._TRIALS.clear()  # as in a fresh worker process
    got = job.trial()
    model, protocol, _ = calibrated_theory(t.model, cal)
    assert got.model.model_hash == model.model_hash != t.model.model_hash
    assert list(got.everyday) == list(protocol.everyday) != everyday_schedule("default")
    assert plain.trial().model.model_hash == t.model.model_hash
    assert job.fingerprint() != plain.fingerprint()
    assert trial_calibration(t.model, cal).key() == job.calibration.key() and trial_calibration(t.model, None) is None
    # what the CLI does: the calibration it already applied is not applied again, and gives the same
    from fitts.evaluate.calibrate import load_calibration

    loaded = load_calibration(cal)
    again = trial_calibration(t.model, loaded, (model, protocol))
    assert again.key() == job.calibration.key() and again.source == str(cal)
