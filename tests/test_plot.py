"""Figures: causal loop diagrams and trajectory plots, tested through the returned Figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.figure
import pytest
import xarray as xr

import fitts
from fitts.analysis.graph import elementary_loops
from fitts.errors import DataError
from fitts.plot import draw_diagram, plot_trajectories

MODEL = """
name: plot_toy
nodes:
  a: {tau: 1.0, baseline: -1.0, noise: 0.05, group: first}
  b: {tau: 2.0, baseline: 0.0, group: second}
  c: {tau: 2.0, baseline: 0.0, group: second}
inputs:
  stress: {units: a.u.}
edges:
  - {from: a, to: b, sign: '+', weight: 2.0}
  - {from: b, to: a, sign: '-', weight: {dist: normal, mean: -1, sd: 0.2, bounds: [-.inf, 0]}}
  - {from: stress, to: a, sign: '+', weight: 1.5}
  - {from: stress, to: c, sign: '+', weight: 1.0, mode: gating, gate: b}
  - {from: c, to: a, sign: '+', weight: 1.0}
"""


@pytest.fixture(scope="module")
def spec() -> fitts.Spec:
    return fitts.load_model_text(MODEL, "plot_toy.yaml")


@pytest.fixture(scope="module")
def result(spec: fitts.Spec) -> xr.Dataset:
    return fitts.simulate(spec, patients=8, days=5, seed=2, backend="numpy",
                          schedule=[{"input": "stress", "kind": "step", "start": 1, "level": 1.0}])


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_diagram_writes_a_figure(spec: fitts.Spec, tmp_path: Path, suffix: str) -> None:
    loop = elementary_loops(spec)[0]
    path = tmp_path / f"diagram{suffix}"
    fig = draw_diagram(spec, path, highlight=loop.edges)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert path.stat().st_size > 1000
    if suffix == ".svg":
        assert path.read_text().lstrip().startswith("<?xml")
    else:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.part"))


def test_diagram_rejects_unknown_edge_and_suffix(spec: fitts.Spec, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown edge 'a -> c'"):
        draw_diagram(spec, tmp_path / "d.svg", highlight=["a -> c"])
    with pytest.raises(DataError, match=r"\.svg, \.png or \.pdf"):
        draw_diagram(spec, tmp_path / "d.txt")


def test_trajectories_write_a_figure(result: xr.Dataset, tmp_path: Path) -> None:
    plot_trajectories(result, tmp_path / "traj.png", states=["a", "b"], max_lines=3)
    assert (tmp_path / "traj.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_trajectories(result, tmp_path / "traj.svg", patients=[0, 1])
    assert (tmp_path / "traj.svg").stat().st_size > 1000


def test_trajectories_unknown_state(result: xr.Dataset, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no state 'bb'\. Did you mean 'b'\?"):
        plot_trajectories(result, tmp_path / "x.png", states=["a", "bb"])
    assert not (tmp_path / "x.png").exists()


def test_trajectories_need_a_grid(spec: fitts.Spec, tmp_path: Path) -> None:
    summary = fitts.simulate(spec, patients=2, days=2, backend="numpy", record="summary")
    with pytest.raises(DataError, match="summaries only"):
        plot_trajectories(summary, tmp_path / "x.png")


def test_trajectories_unknown_patient(result: xr.Dataset, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no patient\(s\) \[99\]"):
        plot_trajectories(result, tmp_path / "x.png", patients=[0, 99])
