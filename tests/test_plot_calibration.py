"""Figures of a history-matching calibration, checked through their content."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitts.evaluate.history_matching import HistoryMatch, Settings, band_quantity
from fitts.plot.calibration import nroy_figure, tension_figure


def _hm() -> HistoryMatch:
    rng = np.random.default_rng(0)
    qs = [band_quantity("A", "A", (0.4, 0.6), 0.5), band_quantity("B", "B", (0.1, 0.3), 0.2)]
    hm = HistoryMatch(qs, 2, Settings(wave_size=12, max_waves=1, samples=1024))

    def sim(x, stage):
        return [{"A": (p[0] + rng.normal(0, 0.01), 1e-4), "B": (p[1] ** 2 + rng.normal(0, 0.01), 1e-4)} for p in x]

    hm.run(sim)
    return hm


def test_nroy_lattice_labels_every_knob_and_shows_depth_and_runs() -> None:
    hm = _hm()
    fig = nroy_figure(hm, ["prior:weight.pain -> threat.median", "protocol:everyday.1.rate_per_year"])
    axes = fig.axes
    assert len(axes) == 5  # 2 x 2 panels and the colour bar
    labels = [ax.get_xlabel() for ax in axes[:4]] + [ax.get_ylabel() for ax in axes[:4]]
    assert "pain -> threat (median)" in labels and "everyday.1.rate_per_year" in labels
    assert "optical depth" in axes[-1].get_ylabel()
    assert len(axes[2].images) == 1  # below the diagonal: the optical depth
    assert len(axes[1].collections) == 1  # above: the runs
    assert "Non-implausible space after wave 1" in fig._suptitle.get_text()


def test_many_knobs_show_the_ones_the_targets_constrain() -> None:
    """Ten knobs, of which the targets read only knobs 7 and 3: the lattice shows those first."""
    rng = np.random.default_rng(1)
    qs = [band_quantity("A", "A", (0.45, 0.55), 0.5), band_quantity("B", "B", (0.1, 0.2), 0.15)]
    hm = HistoryMatch(qs, 10, Settings(wave_size=40, max_waves=1, samples=2048))
    hm.run(lambda x, stage: [{"A": (p[7] + rng.normal(0, 0.005), 2.5e-5),
                              "B": (p[3] ** 2 + rng.normal(0, 0.005), 2.5e-5)} for p in x])
    names = [f"prior:knob{k}.mean" for k in range(10)]
    fig = nroy_figure(hm, names, top=4)
    assert len(fig.axes) == 4 * 4 + 1
    shown = [ax.get_ylabel() for ax in fig.axes[: 16 : 4]]
    assert set(shown[:2]) == {"knob7.mean", "knob3.mean"}, shown
    assert "the 4 of 10 knobs it constrains most" in fig._suptitle.get_text()


def test_tension_matrix_marks_impossible_pairs() -> None:
    t = pd.DataFrame([{"a": "B01", "b": "B01", "fraction": 0.3, "impossible": False},
                      {"a": "B01", "b": "B09", "fraction": 0.0, "impossible": True},
                      {"a": "B09", "b": "B09", "fraction": 0.1, "impossible": False}])
    fig = tension_figure(t)
    ax = fig.axes[0]
    assert [x.get_text() for x in ax.get_xticklabels()] == ["B01", "B09"]
    assert sum(x.get_text() == "×" for x in ax.texts) == 2  # both cells of the pair
    assert "Target tensions" in ax.get_title(loc="left")
