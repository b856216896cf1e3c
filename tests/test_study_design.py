"""Discriminating study designs: two theories differing in one edge are told apart by the top
design; two identical theories are not."""

from __future__ import annotations

import pandas as pd
import pytest

from fitts import DataError, compile_model, load_model_text
from fitts.analysis.study_design import (
    Challenge,
    DesignSpace,
    candidate_challenges,
    discriminating_designs,
    patient_features,
)
from fitts.observe.diary import DiaryDesign, simulate_diary

#: stress -> distress -> pain; theory B is the same without the edge distress -> pain
WITH_EDGE = """
name: with_edge
inputs:
  psychosocial_stress: {units: a.u.}
parameters:
  w: {prior: {dist: lognormal, median: 2.0, sigma: 0.2}, source: test}
nodes:
  distress: {tau: 0.5, baseline: {dist: normal, mean: -1.5, sd: 0.3}, noise: 0.1}
  pain: {tau: 0.25, baseline: {dist: normal, mean: -1.5, sd: 0.3}, noise: 0.1}
edges:
  - {from: psychosocial_stress, to: distress, sign: '+', weight: 1.5}
  - {from: distress, to: pain, sign: '+', weight: w}
"""
WITHOUT_EDGE = WITH_EDGE.replace("name: with_edge", "name: without_edge").replace(
    "  - {from: distress, to: pain, sign: '+', weight: w}\n", "")
TEMPLATE = DiaryDesign(burn_in=3.0, missing=0.1, nightly=())
SPACE = DesignSpace(patients=(8, 20), days=(7,), prompts=(1, 3), budget=200)


@pytest.fixture(scope="module")
def models():
    return compile_model(load_model_text(WITH_EDGE)), compile_model(load_model_text(WITHOUT_EDGE))


def _search(a, b, space=SPACE, replicates=12, seed=0):
    return discriminating_designs(a, b, space, replicates=replicates, seed=seed, diary=TEMPLATE, backend="numpy")


def _confirm(a, b, row: pd.Series, seed: int):
    """Re-estimate one design's power on fresh seeds with 40 replicates (no winner's curse)."""
    ch = next(c for c in candidate_challenges(a, b) if c.name == row["challenge"])
    space = DesignSpace(patients=(int(row["patients"]),), days=(int(row["days"]),), prompts=(int(row["prompts"]),),
                        challenges=(ch,), measure_sets=(tuple(row["measures"].split("+")),))
    return _search(a, b, space, replicates=40, seed=seed).table.iloc[0]


@pytest.mark.slow
def test_one_edge_apart_is_told_apart_by_the_top_design(models) -> None:
    a, b = models
    res = _search(a, b)
    t = res.table
    assert list(t["rank"]) == list(range(1, len(t) + 1))
    assert (t["cost"] <= 200).all() and (t["cost"] == t["patients"] * t["days"]).all()
    assert t["power"].is_monotonic_decreasing
    top = res.top
    assert top["power"] >= 0.8
    # the cheapest of the most powerful designs comes first
    assert top["cost"] == t.loc[t["power"] == top["power"], "cost"].min()
    # distress alone carries no trace of the missing edge: its designs stay near alpha
    assert t.loc[t["measures"] == "distress_scale", "power"].max() <= 0.25
    confirmed = _confirm(a, b, top, seed=100)
    assert confirmed["power"] >= 0.8


@pytest.mark.slow
def test_identical_theories_are_not_told_apart(models) -> None:
    a, _ = models
    same = compile_model(load_model_text(WITH_EDGE))
    top = _search(a, same).top
    # Re-estimated on fresh seeds (40 replicate studies, both directions: 80 tests, each of
    # size <= alpha = 0.05 by Bonferroni). Even if the two directions were perfectly
    # correlated, P(Binomial(40, 0.05) >= 6) = 0.014, so power > 0.15 would be a real fault.
    confirmed = _confirm(a, same, top, seed=200)
    assert confirmed["power"] <= 0.15


def test_features_and_challenges(models) -> None:
    a, b = models
    # a 3-day pulse: the pain NRS reads low pain through its shifted-logit readout, so a
    # 2-day pulse moves it by less than half a point even through the edge
    chs = candidate_challenges(a, b, level=2.0, duration=3.0)
    assert [c.name for c in chs] == ["none", "pulse:psychosocial_stress"]
    ch = chs[1]
    comps, _ = ch.timed(3.0)
    design = DiaryDesign(days=7, prompts=3, burn_in=3.0, nightly=(), missing=0.0)
    fa, fb = (patient_features(simulate_diary(m, design, patients=15, seed=0, challenge=comps, backend="numpy"),
                               challenge_start=3.0, response_days=4.0) for m in (a, b))
    assert len(fa) == 15
    assert {"mean:pain_nrs", "sd:pain_nrs", "response:pain_nrs", "slope:distress_scale->pain_nrs"} <= set(fa.columns)
    # a stress pulse of 2 raises distress in both theories, and pain only through the edge
    assert fa["response:distress_scale"].mean() > 5 and fb["response:distress_scale"].mean() > 5
    assert fa["response:pain_nrs"].mean() > 0.5 > abs(fb["response:pain_nrs"].mean()) * 2
    with pytest.raises(DataError, match="not an input of both models"):
        candidate_challenges(a, b, inputs=["infection"])
    with pytest.raises(DataError, match="below the cheapest design"):
        DesignSpace(patients=(10,), days=(14,), budget=50)
    with pytest.raises(DataError, match="replicates must be >= 3"):
        discriminating_designs(a, b, SPACE, replicates=2)
    assert Challenge("none").timed(5.0) == ([], [])


def test_the_top_design_names_what_tells_the_theories_apart(models) -> None:
    """The missing edge shows in the pain response to a stress pulse; two theories apart only
    in their pain baseline are told apart by a level, and reported as such."""
    a, b = models
    top = _search(a, b).top
    assert top["top_feature"] == "response:pain_nrs" and top["separates_by"] == "challenge response"
    assert top["power_beyond_levels"] >= 0.8  # not a difference in level
    pain = "pain: {tau: 0.25, baseline: {dist: normal, mean: "
    higher = compile_model(load_model_text(WITHOUT_EDGE.replace("name: without_edge", "name: higher_pain").replace(
        pain + "-1.5", pain + "0.5")))
    t = _search(b, higher).table
    assert t.iloc[0]["power"] == 1.0
    assert (t.loc[t["measures"] == "pain_nrs", "separates_by"] == "baseline level").all()
