"""`fitts report drivers` (fitts.run.drivers): the top parameters for becoming and staying ill and
the responders' box, per theory, at a tiny size."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import fitts
from fitts.evaluate.calibrate import builtin_calibration, calibrated_theory, load_calibration
from tests.test_cli_patient import run
from tests.test_discovery import _response_trial


def test_the_calibrated_theory_has_the_knob_values_as_priors() -> None:
    m = fitts.compile_model(fitts.load_model("fitts"))
    path = builtin_calibration("fitts")
    assert path is not None
    cm = calibrated_theory(m, path)[0]
    checked = 0
    for name, value in load_calibration(path).values().items():
        kind, where = name.split(":", 1)
        pname, fld = where.rsplit(".", 1)
        if kind == "prior":
            assert getattr(cm.params[cm.param_index[pname]].prior, fld) == pytest.approx(value)
            checked += 1
    assert checked == len(cm.calibration) > 0
    assert calibrated_theory(m, None)[0].calibration == ()


@pytest.mark.slow
def test_the_command_writes_the_readme_section(tmp_path: Path, capsys) -> None:
    trial = _response_trial(tmp_path)
    code, out, err = run(capsys, "report", "drivers", "fitts", "--trajectories", "2", "--candidates", "80",
                         "--trial", trial, "--days", "300", "--backend", "numpy", "--out", tmp_path / "d")
    assert code == 0, err
    md = (tmp_path / "d" / "drivers.md").read_text()
    assert "#### fitts" in md and "| 5 |" in md
    # fewer than 20 of the 80 recruits respond: too few to peel a box around, and the section says so
    assert re.search(r"Who responds: only 1?\d of 80 recruits respond: too few for a box", md), md
    table = pd.read_csv(tmp_path / "d" / "drivers.csv")
    assert set(table["question"]) <= {"becoming ill", "staying ill"} and table["rank"].max() <= 5
    assert len(table) >= 1 and (table["mu_star"] > 0).all()  # only parameters with an effect are listed
    assert (table.groupby("question")["mu_star"].apply(lambda s: s.is_monotonic_decreasing)).all()
    costs = pd.read_csv(tmp_path / "d" / "costs.csv")
    k = len([p for p in fitts.compile_model(fitts.load_model("fitts")).params if p.kind == "prior"])
    assert costs["runs"].tolist() == [2 * (k + 1), 80]
    for name in ("becoming.png", "staying.png"):
        assert (tmp_path / "d" / "fitts" / name).stat().st_size > 0
    assert not (tmp_path / "d" / "fitts" / "response-box.csv").exists()
    assert not (tmp_path / "d" / "runs").exists()


def test_an_unknown_theory_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "report", "drivers", "fits", "--out", tmp_path / "d")
    assert code == 2 and "fits" in err
