"""The `fitts diary`, `fitts within`, `fitts power` and `fitts design` commands, run for real."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_cli import fitts_cmd
from test_diary import LINEAR
from test_study_design import WITH_EDGE, WITHOUT_EDGE


def test_diary_writes_a_long_table(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(LINEAR)
    r = fitts_cmd("diary", "m.yaml", "--patients", "4", "--days", "3", "--prompts", "2", "--measures",
                  "pain_nrs,distress_scale", "--nightly", "none", "--burn-in", "1", "--missing", "0.2",
                  "--seed", "5", "--backend", "numpy", "--out", "d.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "4 patients x 3 days x 2 prompts" in r.stdout and "wrote d.csv" in r.stdout
    df = pd.read_csv(tmp_path / "d.csv")
    assert list(df.columns) == ["patient", "day", "prompt", "time", "measure", "value"]
    assert len(df) == 4 * 3 * 2 * 2 and set(df["measure"]) == {"pain_nrs", "distress_scale"}
    r = fitts_cmd("diary", "m.yaml", "--out", "d.txt", cwd=tmp_path)
    assert r.returncode == 2 and ".csv or .parquet" in r.stderr
    r = fitts_cmd("diary", "m.yaml", "--measures", "pain_nsr", "--out", "d.csv", "--backend", "numpy",
                  cwd=tmp_path)
    assert r.returncode == 2 and "Did you mean 'pain_nrs'" in r.stderr and "Traceback" not in r.stderr


def test_within_on_a_data_file(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(LINEAR)
    r = fitts_cmd("diary", "m.yaml", "--patients", "25", "--days", "7", "--prompts", "5", "--measures",
                  "pain_nrs,distress_scale", "--nightly", "none", "--burn-in", "2", "--backend", "numpy",
                  "--out", "d.parquet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = fitts_cmd("within", "m.yaml", "--data", "d.parquet", "--level", "prompt", "--out", "w.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    w = pd.read_csv(tmp_path / "w.csv").set_index(["method", "cause", "effect"])
    assert w.loc[("mlm", "distress_scale", "pain_nrs"), "status"] == "recovered"
    assert w.loc[("pcmci", "distress_scale", "pain_nrs"), "status"] == "recovered"
    assert "recovered 1" in r.stdout
    r = fitts_cmd("within", "m.yaml", "--data", "missing.csv", cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr


@pytest.mark.slow  # minutes on 2 cores: `make test-slow` / `make check` (CI)
def test_power_and_design(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(LINEAR)
    r = fitts_cmd("power", "m.yaml", "--patients", "5,15", "--days", "4", "--prompts", "5", "--replicates", "2",
                  "--levels", "prompt", "--methods", "mlm", "--backend", "numpy", "--out", "p.csv",
                  "--figure", "p.svg", cwd=tmp_path)
    # the default measures of this model are pain and distress; no nightly measure is expressible
    assert r.returncode == 0, r.stderr
    p = pd.read_csv(tmp_path / "p.csv")
    assert list(p["patients"]) == [5, 15] and p["recovery"].between(0, 1).all()
    assert "<svg" in (tmp_path / "p.svg").read_text()
    (tmp_path / "a.yaml").write_text(WITH_EDGE)
    (tmp_path / "b.yaml").write_text(WITHOUT_EDGE)
    r = fitts_cmd("design", "a.yaml", "b.yaml", "--budget", "100", "--patients", "6,12", "--days", "7",
                  "--prompts", "2", "--replicates", "4", "--backend", "numpy", "--out", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "out" / "designs.csv")
    assert t["rank"].tolist() == list(range(1, len(t) + 1)) and (t["cost"] <= 100).all()
    assert set(t["challenge"]) == {"none", "pulse:psychosocial_stress"}
    assert (tmp_path / "out" / "designs.png").read_bytes()[:4] == b"\x89PNG"
    r = fitts_cmd("design", "a.yaml", "b.yaml", "--budget", "10", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2 and "below the cheapest design" in r.stderr
