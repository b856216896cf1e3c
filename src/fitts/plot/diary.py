"""Figures of diary-study planning: recovery (power) curves and ranked discriminating designs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure, SubFigure

from fitts.plot.figures import figure_format, finish, panel_figure


def plot_recovery(table: pd.DataFrame, path: str | Path | None = None, title: str | None = None, *,
                  fig: Figure | SubFigure | None = None) -> Figure:
    """Recovery curves of :func:`fitts.analysis.power.recovery_curves`.

    Recovery (y, fraction of replicate studies) against patients (x); one panel per level,
    method and true link, one line per (days, prompts a day). Saved as .png, .svg or .pdf
    when `path` is given; drawn into `fig` when given. Returns the figure.
    """
    if path is not None:
        figure_format(path)
    panels = list(table.groupby(["level", "method", "cause", "effect"], sort=False))
    ncol = max(1, min(3, len(panels)))
    nrow = max(1, int(np.ceil(len(panels) / ncol)))
    fig = panel_figure(fig, (4.2 * ncol, 3.2 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False, sharey=True)
    for ax, ((level, method, cause, effect), sub) in zip(axes.flat, panels, strict=False):
        for (d, p), line in sub.groupby(["days", "prompts"]):
            ax.plot(line["patients"], line["recovery"], marker="o", label=f"{d} d x {p}/day")
        ax.set_title(f"{cause} -> {effect}\n{method}, {level} level", fontsize=9)
        ax.set_ylim(-0.03, 1.03)
        ax.axhline(0.8, color="grey", lw=0.6, ls=":")
        ax.set_xlabel("patients (number)")
    for ax in axes[:, 0]:
        ax.set_ylabel("recovery (fraction of studies)")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if panels:
        axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return finish(fig, path)


def plot_designs(table: pd.DataFrame, path: str | Path | None = None, title: str | None = None,
                 top: int = 20, *, fig: Figure | SubFigure | None = None) -> Figure:
    """Ranked designs of :func:`fitts.analysis.study_design.discriminating_designs`.

    Left: power against cost (participant-days) of every design, coloured by challenge.
    Right: the `top` designs as horizontal bars of power, labelled with their settings.
    Saved when `path` is given; drawn into `fig` when given. Returns the figure.
    """
    if path is not None:
        figure_format(path)
    fig = panel_figure(fig, (13, max(3.5, 0.28 * min(top, len(table)) + 1.5)))
    ax0, ax1 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    for name, sub in table.groupby("challenge", sort=False):
        ax0.scatter(sub["cost"], sub["power"], s=18, alpha=0.7, label=name)
    ax0.axhline(0.8, color="grey", lw=0.6, ls=":")
    ax0.set_xlabel("cost (participant-days)")
    ax0.set_ylabel("power to tell the theories apart (fraction)")
    ax0.set_ylim(-0.03, 1.03)
    ax0.legend(fontsize=7)
    head = table.head(top).iloc[::-1]
    labels = [f"#{r.rank} {r.challenge}, {r.measures}, N={r.patients}, {r.days} d x {r.prompts}/day"
              for r in head.itertuples()]
    ax1.barh(np.arange(len(head)), head["power"], color="#1565c0")
    ax1.set_yticks(np.arange(len(head)), labels, fontsize=7)
    ax1.set_xlim(0, 1)
    ax1.set_xlabel("power (fraction of simulated studies)")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
