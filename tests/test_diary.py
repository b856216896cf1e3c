"""Simulated diary (EMA) studies: table shape, reproducibility per patient, prompts, missingness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitts import DataError, compile_model, load_model_text
from fitts.observe.diary import COLUMNS, DiaryDesign, measure_direction, prompt_times, simulate_diary, wide

#: a known-answer model: distress is an Ornstein-Uhlenbeck process and drives pain linearly
#: (custom linear rates, no sigmoid), so sampled every Delta days the pair is a VAR(1) with
#: coefficient matrix expm(A Delta); tests/test_within_person.py checks the estimates against it
LINEAR = """
name: linear_link
parameters:
  w: {prior: {dist: lognormal, median: 0.6, sigma: 0.2}, source: test}
nodes:
  distress: {baseline: 0.5, noise: 0.3, rate: "(drive - distress) / 0.5", initial: 0.5}
  pain: {baseline: 0.2, noise: 0.3, rate: "(drive - pain) / 0.25", initial: 0.5}
edges:
  - {from: distress, to: pain, sign: '+', weight: w, source: test, grade: plausible}
observations:
  pain_level: {expr: "pain", units: activation}
  distress_level: {expr: "distress", units: activation}
"""
TAU_DISTRESS, TAU_PAIN, W_MEDIAN, W_SIGMA = 0.5, 0.25, 0.6, 0.2
MEASURES = ("pain_nrs", "distress_scale")


@pytest.fixture(scope="module")
def linear():
    return compile_model(load_model_text(LINEAR))


def _diary(model, patients=6, **kw) -> pd.DataFrame:
    base = dict(days=3, prompts=4, measures=MEASURES, nightly=(), burn_in=1.0)
    base.update(kw)
    return simulate_diary(model, DiaryDesign(**base), patients=patients, seed=kw.pop("seed", 1), schedule=[],
                          backend="numpy")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 3), days=st.integers(2, 4), prompts=st.integers(1, 5),
       missing=st.sampled_from([0.0, 0.3]), jitter=st.sampled_from([0.0, 2.0]))
def test_table_shape_and_ids(linear, n: int, days: int, prompts: int, missing: float, jitter: float) -> None:
    df = _diary(linear, patients=n, days=days, prompts=prompts, missing=missing, jitter=jitter)
    assert tuple(df.columns) == COLUMNS
    assert len(df) == n * days * prompts * len(MEASURES)
    assert sorted(df["patient"].unique()) == list(range(n))
    assert set(df["day"]) == set(range(days)) and set(df["prompt"]) == set(range(1, prompts + 1))
    assert not df.duplicated(["patient", "day", "prompt", "measure"]).any()
    # prompts lie in the waking window of their day and in order
    hour = (df["time"] - df["day"]) * 24
    assert hour.between(8 - 1e-6, 22 + 1e-6).all()
    t = df[df["measure"] == "pain_nrs"].sort_values(["patient", "day", "prompt"])
    assert (t.groupby("patient")["time"].diff().dropna() > 0).all()
    # a missed prompt loses every measure; without missingness nothing is missed
    per_prompt = df.groupby(["patient", "day", "prompt"])["value"].apply(lambda v: v.isna().sum())
    assert set(per_prompt.unique()) <= {0, len(MEASURES)}
    if missing == 0:
        assert df["value"].notna().all()


def test_patient_is_the_same_alone_and_in_a_group(linear) -> None:
    group = _diary(linear, patients=5, jitter=1.5, missing=0.2)
    alone = simulate_diary(linear, DiaryDesign(days=3, prompts=4, measures=MEASURES, nightly=(), burn_in=1.0,
                                               jitter=1.5, missing=0.2),
                           patients=[3], seed=1, schedule=[], backend="numpy")
    pd.testing.assert_frame_equal(group[group["patient"] == 3].reset_index(drop=True), alone,
                                  check_categorical=False)


def test_state_dependent_missingness_hides_bad_moments(linear) -> None:
    kw = dict(patients=30, days=6, prompts=5, missing=0.2)
    mcar = _diary(linear, **kw)
    mnar = _diary(linear, missing_slope=1.0, **kw)
    # same patients, same measurement noise: only which prompts are missed differs
    full = _diary(linear, **{**kw, "missing": 0.0})
    pain = full[full["measure"] == "pain_nrs"].set_index(["patient", "day", "prompt"])["value"]
    seen = mnar[mnar["measure"] == "pain_nrs"].set_index(["patient", "day", "prompt"])["value"].notna()
    assert pain[seen].mean() < pain[~seen].mean() - 0.5  # bad moments go missing (about 1 NRS point)
    p_mcar = mcar.loc[mcar["measure"] == "pain_nrs", "value"].isna().mean()
    assert 0.12 < p_mcar < 0.28  # 300 prompts at 0.2: +-2.7 sd


def test_prompt_hours_morning_and_evening() -> None:
    d = DiaryDesign(days=2, prompt_hours=(8, 20))
    t = prompt_times(d, np.arange(2), seed=0)
    assert t.shape == (2, 2, 2)
    np.testing.assert_allclose((t - np.arange(2)[None, :, None]) * 24, [[[8, 20], [8, 20]]] * 2)
    assert DiaryDesign(prompts=1).hours() == (22.0,)


def test_nightly_measures_and_directions() -> None:
    m = compile_model(load_model_text(LINEAR.replace("name: linear_link", "name: with_sleep")
                                      .replace("nodes:\n", "nodes:\n  sleep_disturbance: {tau: 1.0, baseline: -1}\n")))
    df = simulate_diary(m, DiaryDesign(days=3, prompts=2, measures=MEASURES, nightly=("psqi",), burn_in=1.0,
                                       missing_night=0.0), patients=2, seed=0, schedule=[], backend="numpy")
    night = df[df["prompt"] == 0]
    assert set(night["measure"]) == {"psqi"} and len(night) == 2 * 3 and night["value"].notna().all()
    np.testing.assert_allclose((night["time"] - night["day"]) * 24, 3.0)
    w = wide(df)
    assert list(w.columns) == ["patient", "day", "prompt", "pain_nrs", "distress_scale", "psqi"]
    assert measure_direction(m, "psqi") == {"sleep_disturbance": 1}


def test_bad_designs_and_measures(linear) -> None:
    with pytest.raises(DataError, match="days must be a whole number >= 2"):
        DiaryDesign(days=1)
    with pytest.raises(DataError, match="night_hour"):
        DiaryDesign(prompt_hours=(2, 9))
    with pytest.raises(DataError, match="missing must be a probability"):
        DiaryDesign(missing=1.5)
    with pytest.raises(DataError, match="unknown diary measure 'pain_nsr'.*Did you mean 'pain_nrs'"):
        _diary(linear, measures=("pain_nsr",))
    with pytest.raises(DataError, match="'hrv_rmssd' is not expressible"):
        _diary(linear, nightly=("hrv_rmssd",))
    with pytest.raises(DataError, match="state-dependent missingness reads 'pain_nrs'"):
        _diary(linear, measures=("distress_scale",), missing_slope=1.0)


def test_prelude_acts_in_the_burn_in_only() -> None:
    from test_study_design import WITH_EDGE

    m = compile_model(load_model_text(WITH_EDGE))
    # a stress step through the last 2 burn-in days: distress starts the diary high, then settles
    prelude = ({"input": "psychosocial_stress", "kind": "pulse", "start": 8.0, "duration": 2.0, "level": 3.0},)
    kw = dict(days=4, prompts=2, nightly=(), missing=0.0, noise=False, burn_in=10.0)
    calm = simulate_diary(m, DiaryDesign(**kw), patients=10, seed=4, schedule=[], backend="numpy")
    tipped = simulate_diary(m, DiaryDesign(**kw, prelude=prelude), patients=10, seed=4, schedule=[], backend="numpy")

    def distress(df: pd.DataFrame, day: int) -> float:
        return df[(df["measure"] == "distress_scale") & (df["day"] == day) & (df["prompt"] == 1)]["value"].mean()

    assert distress(tipped, 0) > distress(calm, 0) + 10  # HADS points, the morning after the step
    assert abs(distress(tipped, 3) - distress(calm, 3)) < 2  # tau 0.5 d: gone within days
