"""Forest-style figure of a scorecard: every target on one scale, its accept band as the unit.

Targets measure different things (proportions, odds ratios, effect sizes), so each row is
drawn relative to its accept band: the band spans 0 to 1 on the x axis (grey), the
published value is a black diamond, and the simulated statistic is a dot with its
Monte-Carlo interval, green when it passes and red when it fails. Rows a theory cannot
express are listed with the reason instead of a dot.

A target whose accept names several quantities is drawn on the quantity the scorecard row
shows (column ``quantity``), against that quantity's own band or bound (``low_edge``,
``high_edge``), never against another quantity's band. A one-sided bound (``ratio >= 3``,
or a directional rule, drawn as the difference of its sides against 0) puts the bound at
the edge 0 (a lower bound) or 1 (an upper bound), shades the open side, and takes the
bound's size (or, at a bound of 0, the size of the simulated value) as the unit.
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
    """The band of a single-band accept text ``[lo, hi]``, or None (anything else)."""
    text = accept.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    lo, hi = (float(x) for x in text[1:-1].split(","))
    return lo, hi


def row_edges(row: object) -> tuple[float, float] | None:
    """The accept edges of the quantity a row shows: (low, high), NaN on an open side; None if none.

    A scorecard table carries them in ``low_edge``/``high_edge``; a table without those
    columns is read for a single band ``[lo, hi]`` only (a named accept is not guessed).
    """
    lo, hi = getattr(row, "low_edge", None), getattr(row, "high_edge", None)
    if lo is None or hi is None:
        return _band(str(getattr(row, "accept", "")))
    lo, hi = float(lo), float(hi)
    return None if np.isnan(lo) and np.isnan(hi) else (lo, hi)


def row_scale(edges: tuple[float, float], values: list[float]) -> tuple[float, float, tuple[float, float]]:
    """Map a row's values onto band units: returns (origin, unit, shaded x range).

    x is drawn at ``(x - origin) / unit``. A band [lo, hi] maps to [0, 1]; a lower bound b to
    0 (pass region to the right), an upper bound to 1 (pass region to the left), with the
    unit |b|, or at b = 0 the largest |value| among `values` (the simulated value and its
    interval), so the estimate's distance from the bound reads in its own size.
    """
    lo, hi = edges
    if not (np.isnan(lo) or np.isnan(hi)):
        return lo, (hi - lo) or 1.0, (0.0, 1.0)
    b = hi if np.isnan(lo) else lo
    finite = [abs(v) for v in values if np.isfinite(v)]
    unit = abs(b) or max(finite, default=1.0) or 1.0
    if np.isnan(hi):  # lower bound: x >= b passes
        return b, unit, (0.0, 2.4)
    return b - unit, unit, (-1.4, 1.0)  # upper bound: x <= b passes, the bound sits at 1


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
    labels = []
    for i, r in enumerate(table.itertuples()):
        y = n - 1 - i
        labels.append(row_label(str(r.id), str(r.title)))
        edges = row_edges(r)
        if edges is None or r.status == "not expressible" or np.isnan(r.simulated):
            reason = "not expressible" if r.status == "not expressible" else "no band or bound"
            ax.text(0.5, y, reason, va="center", ha="center", fontsize=7, color=GREY, style="italic")
            continue
        origin, unit, shaded = row_scale(edges, [r.simulated, r.mc_low, r.mc_high])
        ax.fill_betweenx([y - 0.45, y + 0.45], *shaded, color="#e6e6e6", zorder=0, lw=0)

        def scale(x: float, origin: float = origin, unit: float = unit) -> float:
            return float(np.clip((x - origin) / unit, -1.4, 2.4))

        quantity = str(getattr(r, "quantity", "") or "")
        # the published value is the target's statistic: drawn only on that statistic's own scale
        if not np.isnan(r.published) and bool(getattr(r, "own", True)):
            ax.plot(scale(r.published), y, marker="D", color="black", ms=5, zorder=3)
        colour = {"pass": PASS, "inconclusive": UNDECIDED}.get(r.status, FAIL)
        if not (np.isnan(r.mc_low) or np.isnan(r.mc_high)):
            ax.plot([scale(r.mc_low), scale(r.mc_high)], [y, y], color=colour, lw=2, zorder=2)
        ax.plot(scale(r.simulated), y, marker="o", color=colour, ms=6, zorder=4)
        if quantity:
            ax.text(-1.45, y + 0.28, textwrap.shorten(quantity, 40, placeholder=" …"), va="center", ha="left",
                    fontsize=6, color=GREY)
        ax.text(2.45, y, f"{r.simulated:.3g}", va="center", ha="left", fontsize=8, color=colour)
    ax.set_xlim(-1.5, 2.9)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_yticks(np.arange(n)[::-1], labels, fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.set_xticks([-1, 0, 0.5, 1, 2])
    ax.set_xticklabels(["-1", "0\nlow edge", "0.5", "1\nhigh edge", "2"], fontsize=8)
    ax.set_xlabel("statistic relative to the target's accept band (band widths; 0 = low edge, "
                  "1 = high edge; a lower bound at 0, an upper bound at 1, its size the unit; clipped at "
                  "-1.4 and 2.4); quantity judged above a dot, simulated value on the right", fontsize=8)
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
