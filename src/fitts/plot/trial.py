"""Figure of a trial: mean pain NRS and FIQR over time, one line per arm (observed cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure, SubFigure

from fitts.plot.figures import figure_format, finish, panel_figure

PANELS = (("pain_nrs_mean", "pain NRS (0-10)"), ("fiqr_mean", "FIQR (0-100)"))


def plot_trial(timecourse: pd.DataFrame, path: str | Path | None = None, title: str | None = None,
               treatment_days: float | None = None, *, fig: Figure | SubFigure | None = None) -> Figure:
    """Draw a trial's time course (arm, day, ``pain_nrs_mean``, ``fiqr_mean``).

    Means are over the patients observed at each visit (dropouts leave the mean); the
    treatment period (days 0 .. `treatment_days`) is shaded. Saved to `path` when given;
    drawn into `fig` (a figure or sub-figure) when given. Returns the figure.
    """
    if path is not None:
        figure_format(path)
    fig = panel_figure(fig, (10, 4))
    axes = np.atleast_1d(fig.subplots(1, len(PANELS), sharex=True))
    for ax, (col, label) in zip(axes, PANELS, strict=True):
        for arm, df in timecourse.groupby("arm", sort=False):
            ax.plot(df["day"], df[col], marker="o", markersize=3, label=str(arm))
        if treatment_days:
            ax.axvspan(0, treatment_days, color="#eeeeee", zorder=0, label="treatment period")
        ax.set_xlabel("days since randomisation")
        ax.set_ylabel(f"mean {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return finish(fig, path)
