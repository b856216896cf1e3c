"""Whole cohorts as experiments (fitts.run.cohorts): a scorecard per knob setting, a trial per row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitts.errors import ModelError
from fitts.run.cohorts import ScorecardExperiment, TrialExperiment
from fitts.run.experiments import perform_experiments
from tests.trial_helpers import small_trial


def test_trial_effects_per_replicate(tmp_path: Path) -> None:
    ev = TrialExperiment.of(small_trial(tmp_path, patients=24), backend="numpy")
    design = pd.DataFrame({"patients": [24, 24, 24], "seed": [3, 3, 4]})
    res = perform_experiments(ev, design, seed=0)
    t = res.table
    assert set(t["row"]) == {0, 1, 2} and set(t["arm"]) == {"snri", "gaba"}
    assert (t["patients"] == 24).all() and (t["randomised"] == 24).all()
    first = t[t["row"] == 0].drop(columns="row").reset_index(drop=True)
    same = t[t["row"] == 1].drop(columns="row").reset_index(drop=True)
    other = t[t["row"] == 2].drop(columns="row").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, same)  # a row is a function of its values (and seed) only
    assert not np.allclose(first["value"], other["value"], equal_nan=True)  # another replicate, other patients


@pytest.mark.slow
def test_scorecard_statistics_per_knob_setting() -> None:
    ev = ScorecardExperiment.of("fitts", patients=40)
    res = perform_experiments(ev, pd.DataFrame({"prior:threat_bias.mean": [0.0, 0.0, 1.5]}), seed=0)
    o = res.outcomes
    assert {"loss", "passes"} <= set(o.columns) and all(f"value:{q}" in o.columns for q in ev.quantities)
    pd.testing.assert_series_equal(o.iloc[0], o.iloc[1], check_names=False)  # common random numbers
    assert o.loc[0, "loss"] != o.loc[2, "loss"]
    with pytest.raises(ModelError, match="is not a knob"):
        perform_experiments(ev, pd.DataFrame({"threat_bias": [0.0]}))
