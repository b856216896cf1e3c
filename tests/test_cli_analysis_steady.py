"""`fitts steady`, `fitts bifurcate` and `fitts mobile`, run as the real command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.test_cli import fitts_cmd
from tests.test_steady import SWITCH


@pytest.fixture
def switch(tmp_path: Path) -> Path:
    (tmp_path / "switch.yaml").write_text(SWITCH)
    return tmp_path / "switch.yaml"


def test_steady_prints_and_writes_table(switch: Path) -> None:
    r = fitts_cmd("steady", "switch.yaml", "--out", "st.csv", "--starts", "16", cwd=switch.parent)
    assert r.returncode == 0, r.stderr
    assert "3 steady states of switch" in r.stdout and "saddle" in r.stdout
    df = pd.read_csv(switch.parent / "st.csv")
    assert list(df["stability"]) == ["stable node", "stable node", "saddle"]


def test_patient_params_file_errors_name_file_line_and_entry(switch: Path) -> None:
    (switch.parent / "p.yaml").write_text("w: 8.0\n'baseline.aa': 2\n")
    r = fitts_cmd("steady", "switch.yaml", "--patient-params", "p.yaml", cwd=switch.parent)
    assert r.returncode == 2
    assert "p.yaml:2: entry 'baseline.aa': unknown parameter. Did you mean 'baseline.a'" in r.stderr
    (switch.parent / "p.csv").write_text("parameter,value\nw,lots\n")
    r = fitts_cmd("steady", "switch.yaml", "--patient-params", "p.csv", cwd=switch.parent)
    assert r.returncode == 2 and "p.csv:2: entry 'w': value 'lots' is not a finite number" in r.stderr
    r = fitts_cmd("steady", "switch.yaml", "--input", "push", cwd=switch.parent)  # malformed NAME=LEVEL
    assert r.returncode == 2 and "NAME=LEVEL" in r.stderr


def test_patient_params_change_the_answer(switch: Path) -> None:
    """With weak mutual inhibition (w = 2 < 4) the switch has one symmetric state."""
    (switch.parent / "weak.csv").write_text("parameter,value\nw,2\nbaseline.a,1\nbaseline.b,1\n")
    r = fitts_cmd("steady", "switch.yaml", "--patient-params", "weak.csv", "--starts", "16", cwd=switch.parent)
    assert r.returncode == 0, r.stderr
    assert "1 steady states" in r.stdout


def test_bifurcate_writes_diagram_and_table(switch: Path) -> None:
    r = fitts_cmd("bifurcate", "switch.yaml", "--param", "push", "--range", "-6", "6", "--out", "b.svg",
                  "--table", "b.parquet", cwd=switch.parent)
    assert r.returncode == 0, r.stderr
    assert "2 folds of switch in push" in r.stdout
    assert "-1.96523" in r.stdout and "1.96523" in r.stdout
    assert (switch.parent / "b.svg").read_text().lstrip().startswith("<?xml")
    tab = pd.read_parquet(switch.parent / "b.parquet")
    assert {"branch", "value", "stable", "a", "b"} <= set(tab.columns)


def test_mobile_writes_heatmap_and_table(switch: Path) -> None:
    r = fitts_cmd("mobile", "switch.yaml", "--input", "push=0.5", "--out", "m.png", "--table", "m.csv",
                  cwd=switch.parent)
    assert r.returncode == 0, r.stderr
    assert "attractor 0" in r.stdout and "attractor 1" in r.stdout
    assert (switch.parent / "m.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(switch.parent / "m.csv")) == 2 * 2 * 2
