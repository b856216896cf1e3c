"""The `fitts loops`, `fitts dominance` and `fitts attribute` commands, run for real."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from test_attribution import TWO_ENGINES
from test_cli import fitts_cmd


def test_loops_table_theories_out_and_draw(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(TWO_ENGINES)
    r = fitts_cmd("loops", "m.yaml", "--theories", "--out", "l.csv", "--draw", "1",
                  "--figure", "l.svg", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "nociception -> pain -> nociception" in r.stdout and "theories" in r.stdout
    df = pd.read_csv(tmp_path / "l.csv")
    assert list(df.columns) == ["loop", "polarity", "length", "nodes", "edges", "has_gating", "theories"]
    assert len(df) == 2 and df["theories"].isna().all()   # in no built-in theory
    assert "<svg" in (tmp_path / "l.svg").read_text()
    r = fitts_cmd("loops", "m.yaml", "--draw", "7", "--figure", "l.svg", cwd=tmp_path)
    assert r.returncode == 2 and "no loop 7" in r.stderr
    r = fitts_cmd("loops", "m.yaml", "--draw", "0", cwd=tmp_path)
    assert r.returncode == 2 and "--figure" in r.stderr
    r = fitts_cmd("loops", "m.yaml", "--out", "l.txt", cwd=tmp_path)
    assert r.returncode == 2 and ".csv or .parquet" in r.stderr


def test_attribute_writes_tables_and_figure(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(TWO_ENGINES)
    r = fitts_cmd("attribute", "m.yaml", "--patients", "8", "--seed", "3", "--backend", "numpy",
                  "--out", "a.parquet", "--figure", "a.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "8 of 8 patients ill" in r.stdout and "central-dominant" in r.stdout
    df = pd.read_parquet(tmp_path / "a.parquet")
    assert len(df) == 8 and set(df["subtype"]) <= {"central-dominant", "peripheral-dominant"}
    assert len(pd.read_parquet(tmp_path / "a_loops.parquet")) == 2
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    r = fitts_cmd("attribute", "m.yaml", "--patients", "2", "--figure", "a.gif", cwd=tmp_path)
    assert r.returncode == 2 and "suffix" in r.stderr


def test_dominance_figure_and_table(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(TWO_ENGINES)
    r = fitts_cmd("dominance", "m.yaml", "--out", "d.png", "--table", "d.csv", "--backend", "numpy",
                  cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    df = pd.read_csv(tmp_path / "d.csv")
    assert {"time", "loop", "dominance", "elasticity", "gain"} <= set(df.columns)
    assert df["time"].max() == 500
    r = fitts_cmd("dominance", "m.yaml", "--out", "d.png", "--behaviour", "pian", cwd=tmp_path)
    assert r.returncode == 2 and "Did you mean 'pain'" in r.stderr
