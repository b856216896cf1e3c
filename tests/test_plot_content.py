"""Figures fit for a paper: axis labels with units, labels that fit, legends, colour scales.

Every plot is checked through the Figure it returns (titles, tick labels, legend entries,
colour limits), not only by a file being written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import fitts
from fitts.analysis.continuation import continuation
from fitts.plot import (
    draw_diagram,
    forest_plot,
    plot_bifurcation,
    plot_designs,
    plot_mobile,
    plot_recovery,
    plot_subtypes,
    plot_trajectories,
    plot_trial,
)
from fitts.plot.figures import new_figure
from tests.test_plot import MODEL
from tests.test_steady import SWITCH


def _labels(ax: Axes, axis: str = "y") -> list[str]:
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks]


def _legend(ax: Axes) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg is not None else []


def _renderer(fig: Figure):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_importing_the_plots_chooses_no_backend() -> None:
    code = ("import matplotlib; matplotlib.use('svg'); import fitts, fitts.plot, fitts.cli; "
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"


def test_diagram_labels_fit_their_nodes_and_the_legend_fits_the_saved_figure(tmp_path: Path) -> None:
    spec = fitts.load_model("fitts")
    fig = draw_diagram(spec)
    ax = fig.axes[0]
    renderer = _renderer(fig)
    sizes = [c.get_sizes() for c in ax.collections if len(c.get_sizes())]
    diameter_px = float(np.sqrt(max(s.max() for s in sizes))) * fig.dpi / 72
    labels = [t for t in ax.texts if t.get_text()]
    assert len(labels) >= len(spec.nodes)
    for t in labels:
        box = t.get_window_extent(renderer)
        assert np.hypot(box.width, box.height) <= diameter_px + 1, t.get_text()
    entries = _legend(ax)
    assert {"excitatory (+)", "inhibitory (-)"} <= set(entries)
    assert len(entries) >= 4  # the modules are listed too
    path = tmp_path / "d.png"
    draw_diagram(spec, path)
    # the legend's right edge is inside the saved image: savefig keeps the tight bounding box
    box = ax.get_legend().get_window_extent(renderer)
    tight = fig.get_tightbbox(renderer)
    assert box.x1 <= tight.x1 * fig.dpi + 1


def test_diagram_draws_into_a_given_axes() -> None:
    spec = fitts.load_model_text(MODEL, "plot_toy.yaml")
    fig = new_figure((8, 4))
    left, right = fig.subplots(1, 2)
    out = draw_diagram(spec, ax=right, title="variant")
    assert out is fig and right.get_title() == "variant" and left.get_title() == ""


def test_trajectories_have_units_and_a_legend() -> None:
    spec = fitts.load_model_text(MODEL, "plot_toy.yaml")
    ds = fitts.simulate(spec, patients=5, days=3, seed=1, backend="numpy")
    fig = plot_trajectories(ds, states=["a", "b"])
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["a", "b"]
    assert all(a.get_ylabel().startswith("activation") for a in axes)
    assert all(a.get_xlabel() == "time (days)" for a in axes)
    assert _legend(axes[0]) == ["10%-90% of patients", "median"]
    one = plot_trajectories(ds, patients=[3], states=["a"])
    assert _legend(one.axes[0]) == ["patient 3"]


def _mobile() -> xr.Dataset:
    names = ["pain", "sleep", "threat"]
    s = np.array([[[5.0, 0.2, -0.3], [0.1, 4.0, 0.05], [0.4, -0.1, 6.0]],
                  [[3.0, 0.5, 0.6], [0.2, 2.0, 0.1], [-0.2, 0.3, 9.0]]])
    return xr.Dataset({"sensitivity": (("attractor", "response", "push"), s, {"units": "activation"})},
                      coords={"attractor": ["healthy", "ill"], "response": names, "push": names},
                      attrs={"model_name": "toy"})


def test_mobile_keeps_row_labels_on_every_panel_and_masks_the_diagonal() -> None:
    fig = plot_mobile(_mobile())
    panels = [a for a in fig.axes if a.get_title().endswith("attractor")]
    assert [a.get_title() for a in panels] == ["healthy attractor", "ill attractor"]
    for ax in panels:
        assert _labels(ax, "y") == ["pain", "sleep", "threat"]
        assert _labels(ax, "x") == ["pain", "sleep", "threat"]
        image = ax.get_images()[0]
        data = image.get_array()
        assert np.ma.getmaskarray(data).diagonal().all()
        # the colour scale is set by the largest transmitted (off-diagonal) effect
        assert image.norm.vmax == pytest.approx(0.6)
    colourbar = [a for a in fig.axes if a not in panels][0]
    assert "diagonal (self) masked" in colourbar.get_ylabel()
    full = plot_mobile(_mobile(), mask_diagonal=False)
    assert full.axes[0].get_images()[0].norm.vmax == pytest.approx(9.0)


def _scorecard() -> pd.DataFrame:
    long = "A very long title of a published finding that certainly does not fit on one line of a label"
    return pd.DataFrame({
        "id": ["B01", "B07", "B21"], "title": ["Prevalence", long, "Effect"],
        "accept": ["[0.02, 0.08]", "[0.15, 0.5]", "> 0.3"],
        "published": [0.05, 0.3, 0.5], "simulated": [0.06, 0.62, np.nan],
        "mc_low": [0.05, 0.55, np.nan], "mc_high": [0.07, 0.7, np.nan],
        "status": ["pass", "fail", "not expressible"]})


def test_forest_puts_labels_beside_the_intervals_and_has_an_axis_with_units() -> None:
    fig = forest_plot(_scorecard(), title="toy: 1 of 3")
    ax = fig.axes[0]
    labels = _labels(ax, "y")
    assert labels[0] == "B01  Prevalence" and labels[2] == "B21  Effect"  # top to bottom
    wrapped = labels[1]
    assert wrapped.startswith("B07  A very long title") and "\n" in wrapped
    assert all(len(line) <= 46 for line in wrapped.split("\n"))
    assert "accept band" in ax.get_xlabel() and "low edge" in ax.get_xlabel()
    assert _legend(ax) == ["published", "simulated, pass", "simulated, fail"]
    assert ax.get_title(loc="left") == "toy: 1 of 3"
    # no label is drawn inside the data area (they are tick labels, left of the axes)
    assert not any(t.get_text().startswith("B0") for t in ax.texts)


def test_bifurcation_marks_its_folds_and_has_a_legend(tmp_path: Path) -> None:
    p = tmp_path / "switch.yaml"
    p.write_text(SWITCH)
    cont = continuation(fitts.compile_model(fitts.load_model(p)), "push", (-6.0, 6.0))
    fig = plot_bifurcation(cont, tmp_path / "b.svg")
    ax = fig.axes[0]
    assert ax.get_title() == "switch: a against push"
    # each fold is annotated with its λ
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{f.value:.3g}" for f in cont.folds)
    assert len(cont.folds) == 2
    assert _legend(ax) == ["stable", "unstable", "fold"]
    assert ax.get_xlabel().startswith("push") and "steady state" in ax.get_ylabel()
    assert (tmp_path / "b.svg").exists()


def test_trial_recovery_design_and_subtype_figures_label_their_axes() -> None:
    tc = pd.DataFrame({"arm": ["drug"] * 3 + ["placebo"] * 3, "day": [0, 28, 56] * 2,
                       "pain_nrs_mean": [6.5, 5.5, 5.0, 6.5, 6.0, 5.9],
                       "fiqr_mean": [55, 48, 45, 55, 52, 51]})
    fig = plot_trial(tc, title="trial", treatment_days=56)
    assert [a.get_ylabel() for a in fig.axes] == ["mean pain NRS (0-10)", "mean FIQR (0-100)"]
    assert _legend(fig.axes[0]) == ["drug", "placebo", "treatment period"]
    rec = pd.DataFrame({"level": "within", "method": "mlm", "cause": "sleep", "effect": "pain",
                        "days": 14, "prompts": 5, "patients": [20, 40, 80], "recovery": [0.3, 0.6, 0.9]})
    fig = plot_recovery(rec)
    assert fig.axes[0].get_ylabel() == "recovery (fraction of studies)"
    assert fig.axes[0].get_xlabel() == "patients (number)"
    designs = pd.DataFrame({"rank": [1, 2], "challenge": ["sleep loss", "cold"], "measures": ["pain", "hrv"],
                            "patients": [40, 80], "days": [14, 7], "prompts": [5, 3],
                            "cost": [560, 560], "power": [0.9, 0.5]})
    fig = plot_designs(designs)
    assert fig.axes[0].get_xlabel() == "cost (participant-days)"
    assert _labels(fig.axes[1], "y")[-1].startswith("#1 sleep loss")
    fig = plot_subtypes(pd.Series([0.6, 0.4], index=["central", "peripheral"]), title="toy")
    assert _labels(fig.axes[0], "x") == ["central", "peripheral"]
    assert "fraction" in fig.axes[0].get_ylabel()


def test_a_saved_figure_is_written_atomically_and_a_bad_suffix_fails_first(tmp_path: Path) -> None:
    from fitts.errors import DataError

    with pytest.raises(DataError, match=r"\.svg, \.png or \.pdf"):
        forest_plot(_scorecard(), tmp_path / "f.txt")
    forest_plot(_scorecard(), tmp_path / "f.pdf")
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    assert not list(tmp_path.glob("*.part"))


def _dot_x(ax: Axes, y: float) -> float:
    """x of the simulated dot drawn on row y."""
    xs = [line.get_xdata()[0] for line in ax.lines if line.get_marker() == "o" and len(line.get_xdata()) == 1
          and line.get_ydata()[0] == y]
    assert len(xs) == 1
    return float(xs[0])


def test_forest_draws_each_quantity_against_its_own_band(tmp_path) -> None:
    from fitts.evaluate.scorecard import Scorecard
    from tests.test_scorecard import FORWARD, REVERSE, _outcomes

    outs = _outcomes(tmp_path, "{reverse: [-0.05, 0.05], forward: [0.1, 0.3]}", "{reverse: [-0.05, 0.05]}",
                     "{forward_min: 0.1}", '"forward larger than reverse"')
    fig = forest_plot(Scorecard("toy", outs).table)
    ax = fig.axes[0]
    # row 0 (top, y 3): forward 0.20 in its own band [0.1, 0.3] is half way, not 2.5 widths past reverse's band
    assert _dot_x(ax, 3) == pytest.approx((FORWARD.value - 0.1) / 0.2)
    # row 1: reverse drawn in its band; the published forward value is not put on reverse's scale
    assert _dot_x(ax, 2) == pytest.approx((REVERSE.value + 0.05) / 0.1)
    diamonds = [line.get_ydata()[0] for line in ax.lines if line.get_marker() == "D" and len(line.get_xdata())]
    assert 2 not in diamonds and 3 in diamonds
    # row 2: a lower bound sits at 0 and its size is the unit; row 3: a rule is its difference against 0
    assert _dot_x(ax, 1) == pytest.approx((FORWARD.value - 0.1) / 0.1)
    assert _dot_x(ax, 0) > 0
    # the shaded pass region of each row is its own: [0, 1] for bands, open to the right for lower bounds
    spans = sorted((round(float(p.get_paths()[0].vertices[:, 1].mean())),
                    float(p.get_paths()[0].vertices[:, 0].min()), float(p.get_paths()[0].vertices[:, 0].max()))
                   for p in ax.collections)
    assert spans == [(0, 0.0, 2.4), (1, 0.0, 2.4), (2, 0.0, 1.0), (3, 0.0, 1.0)]
    labels = [t.get_text() for t in ax.texts]
    assert "reverse" in labels and "forward larger than reverse" in labels
