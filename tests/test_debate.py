"""The demo's debate (fitts.run.debate, fitts.plot.debate): one theory's case, computed for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from fitts.plot.debate import debate_page, hysteresis_figure, shares_figure, story_figure
from fitts.run.debate import Stressor, debate, packaged_scorecard, scorecards_side_by_side, summary_table, theory_case


@pytest.fixture(scope="module")
def case():
    return theory_case("sympathetic_drg", stressor=Stressor(start=30, duration=120, level=2.0), days=300,
                       cohort=12)


def test_the_predisposed_patient_falls_ill_and_stays_ill(case) -> None:
    stressor = Stressor(start=30, duration=120, level=2.0)
    phases = case.phase_means(stressor)
    at_end = case.pain()[case.time.searchsorted(stressor.end) - 1]
    assert phases["before"] < 0.2 and phases["during"] > phases["before"] + 0.3 and at_end > 0.6
    th = case.thresholds
    assert th.onset is not None and th.recovery is not None and th.recovery < th.onset
    # the story agrees with the hysteresis curve: an ill state that outlives the stressor
    # exists only when the recovery threshold lies below zero stress
    assert (phases["long after"] > 0.5) == (th.recovery < 0)
    row = summary_table([case], stressor).iloc[0]
    assert row["theory"] == "sympathetic_drg" and row["persists without stress"] == (th.recovery < 0)


def test_scorecards_come_from_the_packaged_calibration_and_say_when_stale(case) -> None:
    card, note = packaged_scorecard(case.model)
    assert card and "packaged calibration" in note
    table = scorecards_side_by_side([case])
    assert list(table.columns) == ["sympathetic_drg"] and set(table.index) == set(card)


def test_figures_and_page(case) -> None:
    stressor = Stressor(start=30, duration=120, level=2.0)
    story = story_figure([case], stressor)
    ax = story.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["stressor (level 2)", "pain"] and len(labels) == 5
    assert ax.get_xlabel() == "time (days)" and ax.get_ylabel() == "activation (0-1)"
    hyst = hysteresis_figure([case])
    assert "onset" in hyst.axes[0].get_title() and "recovery" in hyst.axes[0].get_title()
    shares = shares_figure([case])
    assert shares.axes[0].get_ylabel() == "share of ill patients (fraction)"
    page = debate_page([case], stressor, summary_table([case], stressor), scorecards_side_by_side([case]),
                       {"story": story, "hysteresis": hyst, "shares": shares})
    assert page.startswith("<!doctype html>") and page.count("data:image/png;base64,") == 3


def test_a_story_must_outlast_its_stressor(tmp_path: Path) -> None:
    from fitts.errors import DataError

    with pytest.raises(DataError, match="after"):
        debate(["fitts"], stressor=Stressor(start=60, duration=180), days=200)
