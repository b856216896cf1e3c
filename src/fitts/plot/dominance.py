"""Figures of loop dominance over time and of attribution subtype shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from fitts.plot.figures import figure_format, finish, panel_figure, single_axes


def plot_dominance(dom: xr.Dataset, path: str | Path | None = None, *, top: int = 6, state: str = "pain",
                   include_decay: bool = False, fig: Figure | SubFigure | None = None) -> Figure:
    """Loop dominance over time along a scenario, saved as a figure.

    Three panels: the trajectory of `state`; the summed dominance of reinforcing and of
    balancing loops (decay loops included); and the dominance of the `top` loops with the
    highest peak (decay loops left out unless `include_decay`). The stressor and the
    treatment start are shaded and marked when the dataset's attributes give them.

    Parameters
    ----------
    dom
        Output of :func:`fitts.analysis.dominance.dominance_over_time`.
    path
        Output file (.png, .svg or .pdf), written atomically; None: not saved.
    fig
        Figure or sub-figure to draw the three panels into (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if path is not None:
        figure_format(path)
    t = dom.time.values
    share = np.nan_to_num(dom["dominance"].values, nan=0.0)
    names = [str(n) for n in dom.name.values]
    decay = np.array([n.startswith("decay: ") for n in names])
    reinforcing = dom.polarity.values == "reinforcing"
    fig = panel_figure(fig, (9, 8))
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1, 2]})
    if "trajectory" in dom and state in dom.state.values:
        axes[0].plot(t, dom.trajectory.sel(state=state).values, color="#c62828")
        axes[0].set_ylabel(f"{state.replace('_', ' ')}\n(activation)")
    axes[1].stackplot(t, share[:, reinforcing].sum(axis=1), share[:, ~reinforcing].sum(axis=1),
                      labels=["reinforcing loops", "balancing loops"],
                      colors=["#c62828", "#1f5fbf"], alpha=0.6)
    axes[1].set_ylabel("dominance\n(share, 0-1)")
    axes[1].set_ylim(0, 1)
    axes[1].legend(loc="upper right", fontsize=7)
    candidates = np.flatnonzero(~decay | include_decay)
    order = candidates[np.argsort(-share[:, candidates].max(axis=0))][:top]
    for j in order:
        axes[2].plot(t, share[:, j], label=names[j][:70],
                     ls="-" if reinforcing[j] else "--")
    axes[2].set_ylabel("dominance of loop\n(share, 0-1)")
    axes[2].set_xlabel("time (days)")
    if len(order):
        axes[2].legend(loc="upper right", fontsize=6)
    end = dom.attrs.get("stressor_end")
    start = dom.attrs.get("treatment_start")
    for ax in axes:
        if end:
            ax.axvspan(float(dom.attrs.get("stressor_start", 0.0)), float(end), color="#ffcc80", alpha=0.25, lw=0)
        if start:
            ax.axvline(float(start), color="#2e7d32", lw=1, ls=":")
    axes[0].set_title(f"{dom.attrs.get('model_name', '')}: loop eigenvalue elasticity "
                      f"(weighted by the modes of {dom.attrs.get('behaviour', '')})", fontsize=9)
    return finish(fig, path)


def plot_subtypes(shares: pd.Series, path: str | Path | None = None, *, title: str = "",
                  ax: Axes | None = None) -> Figure:
    """Bar chart of subtype shares (fractions of the ill patients); saved when `path` is given."""
    if path is not None:
        figure_format(path)
    fig, ax = single_axes(ax, (7, 3.5))
    ax.bar(range(len(shares)), shares.values, color="#1f5fbf")
    ax.set_xticks(range(len(shares)), [str(i) for i in shares.index], rotation=20, fontsize=8)
    ax.set_ylabel("share of ill patients (fraction)")
    ax.set_xlabel("subtype (loop that sustains the illness)")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    return finish(fig, path)
