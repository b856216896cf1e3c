"""Scenario discovery (fitts.analysis.discovery, `fitts discover`) on a known box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fitts
from fitts.analysis.discovery import discover, find_box
from fitts.errors import ModelError
from tests.test_cli_patient import run

#: the outcome is 1 exactly when a > 0.6 and b < 0.3 (c plays no part)
BOXED = """
fitts: 1
name: boxed
parameters:
  a: {prior: {dist: uniform, low: 0, high: 1}}
  b: {prior: {dist: uniform, low: 0, high: 1}}
  c: {prior: {dist: normal, mean: 0, sd: 1}}
nodes:
  y: {tau: 1.0, baseline: 0.0, noise: 0.0, initial: 0.0, bounds: [-.inf, .inf],
      rate: "1 if (a > 0.6 and b < 0.3) else 0"}
"""


def test_prim_recovers_a_known_box() -> None:
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.random(3000), "b": rng.random(3000), "c": rng.normal(size=3000)})
    y = ((x.a > 0.6) & (x.b < 0.3)).to_numpy()
    limits, stats, traj = find_box(x, y)
    box = limits.set_index("parameter")
    assert box.loc["a", "min"] == pytest.approx(0.6, abs=0.03)
    assert box.loc["b", "max"] == pytest.approx(0.3, abs=0.03)
    assert stats["density"] > 0.9 and stats["coverage"] > 0.8
    assert {"coverage", "density", "mass"} <= set(traj.columns)


def test_discovery_through_a_model_finds_the_box_of_its_rate(tmp_path: Path) -> None:
    (tmp_path / "boxed.yaml").write_text(BOXED)
    m = fitts.compile_model(fitts.load_model(tmp_path / "boxed.yaml"))
    d = discover(m, outcome="state:y", threshold=0.5, patients=3000, days=1.0, dt=1.0, backend="numpy")
    box = d.box.set_index("parameter")
    assert set(box.index) == {"a", "b"}  # c plays no part, so it is not restricted
    assert box.loc["a", "min"] == pytest.approx(0.6, abs=0.03)
    assert box.loc["b", "max"] == pytest.approx(0.3, abs=0.03)
    assert d.base_rate == pytest.approx(0.4 * 0.3, abs=0.03)
    assert d.density > 0.9 and d.coverage > 0.8


def test_errors(tmp_path: Path) -> None:
    (tmp_path / "boxed.yaml").write_text(BOXED)
    m = fitts.compile_model(fitts.load_model(tmp_path / "boxed.yaml"))
    with pytest.raises(ModelError, match="continuous: give a threshold"):
        discover(m, outcome="state:y", patients=50, days=1.0, dt=1.0, backend="numpy")
    with pytest.raises(ModelError, match="same outcome"):
        discover(m, outcome="state:y", threshold=5.0, patients=50, days=1.0, dt=1.0, backend="numpy")


def test_the_command_writes_box_trajectory_and_figure(tmp_path: Path, capsys) -> None:
    (tmp_path / "boxed.yaml").write_text(BOXED)
    code, out, err = run(capsys, "discover", tmp_path / "boxed.yaml", "--outcome", "state:y", "--threshold", "0.5",
                         "--patients", "2000", "--days", "1", "--dt", "1", "--backend", "numpy",
                         "--out", tmp_path / "d")
    assert code == 0, err
    assert "coverage" in out
    box = pd.read_csv(tmp_path / "d" / "box.csv")
    assert set(box["parameter"]) == {"a", "b"}
    assert (tmp_path / "d" / "discovery.png").stat().st_size > 0
