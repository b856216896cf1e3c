"""The words of a target are read completely or the target is not expressible."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitts.evaluate.phrases import NotExpressible, read_at, read_duration, read_of
from fitts.evaluate.targets import Target, load_targets

BASE = {"id": "X", "title": "t", "grade": "B", "source": "s", "protocol": "p", "accept": [0, 1]}


def target(design: str = "prevalence", population: str = "general", **measure) -> Target:
    m = {"observation": "acr2016_case", "statistic": "proportion", **measure}
    return Target.model_validate({**BASE, "design": design, "population": population, "measure": m})


def unread(t: Target) -> str:
    with pytest.raises(NotExpressible) as exc:
        read_of(t)
    return str(exc.value)


# ------------------------------------------------------------------ the defect: never the nearest statistic
def test_a_series_of_visits_is_not_one_visit() -> None:
    msg = unread(target("follow_up", "fm", of="criteria-positive at each of 4 yearly visits"))
    assert "at each of 4 yearly visits" in msg


def test_a_horizon_of_decades_is_not_the_default_follow_up() -> None:
    with pytest.raises(NotExpressible, match="after two decades of illness"):
        read_at("after two decades of illness")
    msg = unread(target("follow_up", "fm", of="criteria-negative decades after diagnosis"))
    assert "decades" in msg
    # said plainly, a horizon of decades is read as such
    assert read_at("2 decades").last == pytest.approx(2 * 3652.5)
    assert read_of(target("follow_up", "fm", of="criteria-negative 20 years later")).horizon == (7305.0, 7305.0)


def test_an_episode_is_not_a_threshold() -> None:
    t = target("prevalence", "fm", observation="pain_nrs", of="at least one flare")
    with pytest.raises(NotExpressible, match="at least one flare"):
        read_of(t).honour(t, {"event"})
    assert "what is counted about flares" in unread(target("prevalence", "fm", observation="pain_nrs",
                                                          of="flares of pain >= 1"))
    assert "definition" in unread(target("diary", "fm", observation="pain_nrs", of="at least one flare"))


def test_a_subgroup_share_among_cases_is_not_the_prevalence() -> None:
    assert "population is 'general'" in unread(target("prevalence", "general", of="women among cases"))
    assert "women" in unread(target("prevalence", "general", of="women who are cases"))
    assert "population is 'general'" in unread(target("prevalence", "general", of="positive among cases"))
    assert "share of cases" in unread(target("prevalence", "general", of="share of cases with pathology",
                                             observation="ienfd_pathology"))


def test_an_odds_ratio_of_responders_needs_the_response_said() -> None:
    t = target("trial", "fm", observation="pain_nrs", statistic="odds_ratio", of="responders, drug vs placebo")
    assert "responders" in unread(t)
    ok = read_of(target("trial", "fm", observation="pain_nrs", statistic="odds_ratio",
                        of=">= 30 % pain reduction, drug vs placebo"))
    assert ok.responder == pytest.approx(0.3) and not ok.reversed


def test_two_statements_in_one_target_are_refused() -> None:
    msg = unread(target("prevalence", "fm", observation="psqi", of="PSQI > 5 and PSQI < 10"))
    assert "'> 5' and '< 10'" in msg
    assert "or" in unread(target("prevalence", "fm", observation="psqi", of="PSQI > 5 or PSQI < 2"))


def test_words_naming_another_instrument_are_refused() -> None:
    msg = unread(target("case_control", "fm", observation="cpm_effect", statistic="hedges_g", of="lower PPT in FM"))
    assert "pressure_pain_threshold" in msg and "cpm_effect" in msg


def test_a_phrase_in_the_wrong_design_is_refused() -> None:
    assert "follow_up" in unread(target("prevalence", "fm", of="criteria-negative 1-2 y after diagnosis"))
    assert "trials" in unread(target("follow_up", "fm", observation="pain_nrs", of=">= 50 % pain reduction"))


def test_unreadable_times_are_not_the_default() -> None:
    for bad in ("about a year", "12 months or so", "baseline"):
        with pytest.raises(NotExpressible, match="cannot read the time"):
            read_duration(bad, "measure.at", 365.25)
    assert read_duration("1 night (total deprivation)", "challenge.for") == 1.0
    assert read_duration("two weeks", "x") == 14.0
    assert read_duration(None, "x", 28.0) == 28.0


# ------------------------------------------------------------------ what is read
def test_every_packaged_calibration_target_reads_completely() -> None:
    for t in load_targets():
        r = read_of(t)
        read_at(t.measure.at)
        assert all(kind != "unread" for kind, _ in r.read), t.id


@pytest.mark.parametrize(("of", "design", "field", "value"), [
    ("less inhibition in FM, magnitude", "case_control", "flip", True),
    ("placebo minus drug", "trial", "reversed", True),
    ("drug minus placebo", "trial", "reversed", False),
    ("control pressure / FM pressure", "case_control", "reversed", True),
    ("PSQI > 5", "prevalence", "event", (">", 5.0)),
    ("IENFD below the 5th percentile of controls", "case_control", "percentile", (True, 5.0)),
    ("at least one visit negative", "follow_up", "visits", "any"),
    ("positive at every visit", "follow_up", "visits", "all"),
    ("share of visits positive", "follow_up", "visits", "share"),
    ("symptom-free during the last 5 years", "follow_up", "last_years", 5.0),
    ("criteria-negative 1-2 y after diagnosis", "follow_up", "horizon", (365.25, 730.5)),
    ("ever case by mid-life, exposed vs unexposed", "case_control", "by_end", True),
])
def test_phrases_read(of: str, design: str, field: str, value: object) -> None:
    obs = {"case_control": "cpm_effect" if "inhibition" in of else "ienfd" if "IENFD" in of else
           "pressure_for_equal_pain" if "pressure" in of else "acr2016_case",
           "prevalence": "psqi" if "PSQI" in of else "acr2016_case", "trial": "pain_nrs"}.get(design, "acr2016_case")
    r = read_of(target(design, "fm" if "FM" in of else "general", observation=obs, of=of))
    assert getattr(r, field) == value


def test_visit_schedules_and_time_courses() -> None:
    w = read_at("every 6 months for 3 years")
    assert w.schedule and len(w.times) == 6 and w.times[0] == pytest.approx(182.625)
    w = read_at([0, "6 months", "12 months"])
    assert not w.schedule and w.times == (0.0, 182.625, 365.25)
    with pytest.raises(NotExpressible, match="no visit"):
        read_at("every 2 years for 1 year")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=60).filter(lambda s: s.strip()))
def test_any_text_is_read_or_refused_with_a_reason(text: str) -> None:
    """Arbitrary words never crash the reader and never pass unread."""
    t = target("follow_up", "fm", of=text)
    try:
        r = read_of(t)
    except NotExpressible as exc:
        assert str(exc)
        return
    assert r.read  # something was read: nothing passes with words left over


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["y", "years", "months", "weeks", "days", "decades", "nights"]),
       st.integers(min_value=0, max_value=500))
def test_durations_in_words(unit: str, n: int) -> None:
    days = read_duration(f"{n} {unit}", "x")
    assert days is not None and days >= 0
