"""Figure of a trial: mean pain NRS and FIQR over time, one line per arm (observed cases)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from fitts.plot.diagram import save_figure  # noqa: E402

PANELS = (("pain_nrs_mean", "pain NRS (0-10)"), ("fiqr_mean", "FIQR (0-100)"))


def plot_trial(timecourse: pd.DataFrame, path: str | Path, title: str | None = None,
               treatment_days: float | None = None) -> Path:
    """Draw a trial's time course (arm, day, ``pain_nrs_mean``, ``fiqr_mean``) to `path`.

    Means are over the patients observed at each visit (dropouts leave the mean); the
    treatment period (days 0 .. `treatment_days`) is shaded.
    """
    fig, axes = plt.subplots(1, len(PANELS), figsize=(10, 4), sharex=True)
    for ax, (col, label) in zip(axes, PANELS, strict=True):
        for arm, df in timecourse.groupby("arm", sort=False):
            ax.plot(df["day"], df[col], marker="o", markersize=3, label=str(arm))
        if treatment_days:
            ax.axvspan(0, treatment_days, color="#eeeeee", zorder=0, label="_treatment")
        ax.set_xlabel("days since randomisation")
        ax.set_ylabel(f"mean {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
