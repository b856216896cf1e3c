"""Trial files and patient-parameter tables: values and files the schema let through.

Issue 18, items 8, 10, 11, 15.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write

from fitts.errors import DataError, ModelError
from fitts.io.params import read_patient_params
from fitts.trials.spec import load_trial

HEAD = "format: fitts-trial/1\nname: t\ntheory: fitts\npatients: 10\n"
ARMS = "arms: [{name: a}, {name: b}]\n"


@pytest.mark.parametrize("text", [
    "duration_days: .inf\n", "duration_days: 1e308\n", "duration_days: 1.0e+999\n", "duration_days: 1e999\n",
    "duration_days: 7\nfollow_up_days: .inf\n", "duration_days: 7\nfollow_up_days: 1.0e+308\n",
    "duration_days: 7\nassess_every_days: 1e-300\n", "duration_days: .nan\n",
    "duration_days: 7\npopulation: {run_in_days: .inf}\n",
    "duration_days: 7\narms: [{name: a, interventions: [{name: x, start: 1e308}]}, {name: b}]\n",
])
def test_trial_numbers_out_of_range_are_model_errors(tmp_path: Path, text: str) -> None:
    body = HEAD + text + ("" if "arms:" in text else ARMS)
    p = write(tmp_path, "t.yaml", body)
    with pytest.raises(ModelError) as e:
        load_trial(p)
    assert "t.yaml:" in str(e.value)


@pytest.mark.parametrize("everyday", ["/etc/passwd", "nope.yaml", ".", "t.yaml", "a\\0b"])
def test_everyday_must_name_a_protocol_file(tmp_path: Path, everyday: str) -> None:
    p = write(tmp_path, "t.yaml", HEAD + f'duration_days: 7\npopulation: {{everyday: "{everyday}"}}\n' + ARMS)
    with pytest.raises(ModelError, match="everyday") as e:
        load_trial(p)
    assert "t.yaml:6" in str(e.value)


def test_theory_control_characters_are_escaped(tmp_path: Path) -> None:
    p = write(tmp_path, "t.yaml", HEAD.replace("theory: fitts", 'theory: "\\e]0;x\\a"') + "duration_days: 7\n" + ARMS)
    with pytest.raises(ModelError) as e:
        load_trial(p)
    assert "\x1b" not in str(e.value) and "\\x1b" in str(e.value)


def test_headerless_csv_keeps_its_first_row(tmp_path: Path) -> None:
    p = write(tmp_path, "p.csv", "k,1.5\nm,2\n")
    assert read_patient_params(p, ["k", "m"]) == {"k": 1.5, "m": 2.0}
    q = write(tmp_path, "q.csv", "parameter,value\nk,1.5\n")
    assert read_patient_params(q, ["k", "m"]) == {"k": 1.5}


@pytest.mark.parametrize("bad", ["k,nan\n", "k,inf\n", "parameter,value\nk\n"])
def test_csv_bad_rows(tmp_path: Path, bad: str) -> None:
    p = write(tmp_path, "p.csv", bad)
    with pytest.raises(DataError, match="p.csv"):
        read_patient_params(p, ["k"])


def test_params_file_that_is_not_regular(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        read_patient_params(tmp_path / ("x" * 300 + ".csv"), ["k"])
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(DataError, match="folder"):
        read_patient_params(tmp_path / "d.csv", ["k"])
