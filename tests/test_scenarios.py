"""Virtual patients through scenarios as experiments (fitts.analysis.scenarios): design columns for
parameters, stressor levels and interventions; outcomes at a day, recovery, thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fitts
from fitts.analysis.scenarios import patient_experiments
from fitts.errors import ModelError

OUTCOMES = ["ill", "ever_ill", "nrs@100", "recovered", "recovery_days", "pain"]


@pytest.fixture(scope="module")
def theory() -> fitts.CompiledModel:
    return fitts.compile_model(fitts.load_model("fitts"))


@pytest.fixture(scope="module")
def levels(theory):
    """A predisposed and an unpredisposed patient at stressor levels 0-3 (rows 0-3 and 4-7)."""
    design = pd.DataFrame({"early_adversity": [1.0] * 4 + [0.0] * 4,
                           "input:psychosocial_stress.level": [0.0, 1.0, 2.0, 3.0] * 2})
    return patient_experiments(theory, design, OUTCOMES, days=400.0, dt=0.1)


def test_stronger_stressors_make_more_patients_ill(levels) -> None:
    t = levels.table
    assert list(t.columns) == ["early_adversity", "input:psychosocial_stress.level", *OUTCOMES]
    assert (t.loc[t["input:psychosocial_stress.level"] == 0, "ever_ill"] == 0).all()  # no stressor, no illness
    for pre in (0.0, 1.0):
        ever = t.loc[t["early_adversity"] == pre, "ever_ill"].to_numpy()
        assert (np.diff(ever) >= 0).all()  # monotone in the level
    assert t["ever_ill"].sum() >= 2
    # a patient ill at the end was ill at some point; `ill` is the NRS cut at 4 of the end state
    assert (t["ill"] <= t["ever_ill"]).all()
    assert ((t["nrs@100"] >= 4) <= (t["ever_ill"] == 1)).all()


def test_recovery_outcomes_agree_with_each_other(levels) -> None:
    t = levels.table
    ill_at_stop = t["recovered"].notna()
    assert (t.loc[~ill_at_stop, "recovery_days"].isna()).all()
    rec = t["recovered"] == 1
    assert (t.loc[rec, "recovery_days"] >= 0).all() and (t.loc[rec, "ill"] == 0).all()
    assert (t.loc[t["recovered"] == 0, "ill"] == 1).all()


def test_rows_do_not_depend_on_their_blocks_or_neighbours(theory, levels) -> None:
    design = levels.design
    small = patient_experiments(theory, design, OUTCOMES, days=400.0, dt=0.1, block_rows=3)
    pd.testing.assert_frame_equal(small.outcomes, levels.outcomes)
    # row 5 computed with other rows before it keeps its patient id, so its outcomes
    alone = patient_experiments(theory, design, ["pain"], days=400.0, dt=0.1, block_rows=1)
    assert alone.outcomes["pain"].equals(levels.outcomes["pain"])


def test_an_intervention_column_starts_it(theory) -> None:
    design = pd.DataFrame({"early_adversity": [1.0, 1.0], "intervention:sleep": [np.nan, 0.0]})
    res = patient_experiments(theory, design, ["state:sleep_quality"] if "sleep_quality" in theory.state_index
                              else ["pain"], days=60.0, dt=0.1, schedule=())
    v = res.outcomes.iloc[:, 0].to_numpy()
    assert v[0] != v[1]


def test_instruments_are_outcomes(theory) -> None:
    design = pd.DataFrame({"early_adversity": [1.0, 1.0, 0.0], "input:psychosocial_stress.level": [3.0, 0.0, 0.0]})
    res = patient_experiments(theory, design, ["nrs@200", "measure:pain_nrs@200", "measure:fiqr@200"], days=200.0,
                              dt=0.1)
    o = res.outcomes
    assert o["nrs@200"].equals(o["measure:pain_nrs@200"])  # the same noise-free reading
    assert o["measure:fiqr@200"].between(0, 100).all()
    assert o.loc[0, "measure:fiqr@200"] > o.loc[2, "measure:fiqr@200"]  # a stressed patient scores worse
    with pytest.raises(ModelError, match="unknown instrument"):
        patient_experiments(theory, design, ["measure:fiq"], days=10.0)


def test_design_and_outcome_errors(theory) -> None:
    d = pd.DataFrame({"early_adversity": [1.0]})
    with pytest.raises(ModelError, match="not a parameter"):
        patient_experiments(theory, d.assign(nonsense=1.0), ["ill"], days=10.0)
    with pytest.raises(ModelError, match="input:NAME.FIELD"):
        patient_experiments(theory, d.assign(**{"input:psychosocial_stress.height": 1.0}), ["ill"], days=10.0)
    with pytest.raises(ModelError, match="unknown intervention"):
        patient_experiments(theory, d.assign(**{"intervention:surgery": 1.0}), ["ill"], days=10.0)
    with pytest.raises(ModelError, match="unknown outcome 'state:nope'"):
        patient_experiments(theory, d, ["state:nope"], days=10.0)
    with pytest.raises(ModelError, match="after the end of the scenario"):
        patient_experiments(theory, d, ["ill@20"], days=10.0)
    with pytest.raises(ModelError, match="need a stressor that ends"):
        patient_experiments(theory, d, ["recovered"], days=10.0, schedule=())


def test_the_command_writes_inputs_and_outcomes(tmp_path: Path, capsys, levels) -> None:
    from tests.test_cli_patient import run

    levels.design.to_csv(tmp_path / "design.csv", index=False)
    code, out, err = run(capsys, "experiments", "fitts", "--design", tmp_path / "design.csv", "--outcome", "ill",
                         "--outcome", "ever_ill", "--days", "400", "--dt", "0.1", "--out", tmp_path / "t.parquet")
    assert code == 0, err
    t = pd.read_parquet(tmp_path / "t.parquet")
    assert list(t.columns) == ["row", "early_adversity", "input:psychosocial_stress.level", "ill", "ever_ill"]
    np.testing.assert_array_equal(t["ever_ill"], levels.outcomes["ever_ill"])  # the same patients as the API's
    assert not (tmp_path / "t.parquet.runs").exists()
    code, out, err = run(capsys, "experiments", "fitts", "--design", tmp_path / "design.csv", "--outcome", "nope",
                         "--out", tmp_path / "u.csv")
    assert code == 2 and "unknown outcome 'nope'" in err
