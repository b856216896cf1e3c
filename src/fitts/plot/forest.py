"""Forest-style figure of a scorecard: every target on one scale, its accept band as the unit.

Targets measure different things (proportions, odds ratios, effect sizes), so each row is
drawn relative to its accept band: the band spans 0 to 1 on the x axis (grey), the
published value is a black diamond, and the simulated statistic is a dot with its
Monte-Carlo interval, green when it passes and red when it fails. Rows a theory cannot
express are listed with the reason instead of a dot.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fitts.plot.figures import figure_format, finish, single_axes

PASS, FAIL, GREY = "#1a7f37", "#cf222e", "#6e7781"
UNDECIDED = "#9a6700"  # inconclusive: the Monte-Carlo interval contains a band edge
LABEL_WIDTH = 46  # characters per line of a target's label (two lines at most)


def _band(accept: str) -> tuple[float, float] | None:
    """The first [lo, hi] written in an accept text, or None (a one-sided bound only)."""
    if "[" not in accept:
        return None
    inner = accept[accept.index("[") + 1:accept.index("]")]
    lo, hi = (float(x) for x in inner.split(","))
    return lo, hi


def row_label(target_id: str, title: str) -> str:
    """A target's label: its id and title, wrapped on two lines of at most LABEL_WIDTH characters."""
    lines = textwrap.wrap(f"{target_id}  {title}", LABEL_WIDTH, max_lines=2, placeholder=" …")
    return "\n".join(lines)


def forest_plot(table: pd.DataFrame, path: str | Path | None = None, title: str | None = None, *,
                ax: Axes | None = None) -> Figure:
    """Draw a scorecard table (:attr:`fitts.evaluate.scorecard.Scorecard.table`).

    Parameters
    ----------
    table
        One row per target with ``id``, ``title``, ``accept``, ``published``, ``simulated``,
        ``mc_low``, ``mc_high`` and ``status``.
    path
        Output figure (.png, .svg or .pdf), written atomically; None: not saved.
    title
        Figure title (for example the scorecard's summary).
    ax
        Axes to draw into (default: a new figure sized to the table).

    Returns
    -------
    matplotlib.figure.Figure
        Target labels are the y tick labels, left of the axes, so they never cover an
        interval; the x axis is the position relative to each target's accept band.
    """
    if path is not None:
        figure_format(path)
    n = len(table)
    fig, ax = single_axes(ax, (10, 0.5 * n + 1.8))
    ax.axvspan(0, 1, color="#e6e6e6", zorder=0)
    labels = []
    for i, r in enumerate(table.itertuples()):
        y = n - 1 - i
        labels.append(row_label(str(r.id), str(r.title)))
        band = _band(r.accept)
        if band is None or r.status == "not expressible" or np.isnan(r.simulated):
            reason = "not expressible" if r.status == "not expressible" else "no two-sided band"
            ax.text(0.5, y, reason, va="center", ha="center", fontsize=7, color=GREY, style="italic")
            continue
        lo, hi = band
        width = (hi - lo) or 1.0

        def scale(x: float, lo: float = lo, width: float = width) -> float:
            return float(np.clip((x - lo) / width, -1.4, 2.4))

        if not np.isnan(r.published):
            ax.plot(scale(r.published), y, marker="D", color="black", ms=5, zorder=3)
        colour = {"pass": PASS, "inconclusive": UNDECIDED}.get(r.status, FAIL)
        if not (np.isnan(r.mc_low) or np.isnan(r.mc_high)):
            ax.plot([scale(r.mc_low), scale(r.mc_high)], [y, y], color=colour, lw=2, zorder=2)
        ax.plot(scale(r.simulated), y, marker="o", color=colour, ms=6, zorder=4)
        ax.text(2.45, y, f"{r.simulated:.3g}", va="center", ha="left", fontsize=8, color=colour)
    ax.set_xlim(-1.5, 2.9)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_yticks(np.arange(n)[::-1], labels, fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.set_xticks([-1, 0, 0.5, 1, 2])
    ax.set_xticklabels(["-1", "0\nlow edge", "0.5", "1\nhigh edge", "2"], fontsize=8)
    ax.set_xlabel("statistic relative to the target's accept band (band widths; 0 = low edge, "
                  "1 = high edge; clipped at -1.4 and 2.4); simulated value on the right", fontsize=8)
    ax.spines[["left", "right", "top"]].set_visible(False)
    ax.plot([], [], "D", color="black", label="published")
    ax.plot([], [], "o", color=PASS, label="simulated, pass")
    ax.plot([], [], "o", color=FAIL, label="simulated, fail")
    if (table.status == "inconclusive").any():
        ax.plot([], [], "o", color=UNDECIDED, label="inconclusive")
    ax.legend(loc="lower right", fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0), ncol=4)
    if title:
        ax.set_title(title, fontsize=10, loc="left", pad=18)
    return finish(fig, path)
