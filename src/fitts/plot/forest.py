"""Forest-style figure of a scorecard: every target on one scale, its accept band as the unit.

Targets measure different things (proportions, odds ratios, effect sizes), so each row is
drawn relative to its accept band: the band spans 0 to 1 on the x axis (grey), the
published value is a black diamond, and the simulated statistic is a dot with its
Monte-Carlo interval, green when it passes and red when it fails. Rows a theory cannot
express are listed with the reason instead of a dot.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fitts.plot.diagram import save_figure  # noqa: E402

PASS, FAIL, GREY = "#1a7f37", "#cf222e", "#6e7781"
UNDECIDED = "#9a6700"  # inconclusive: the Monte-Carlo interval contains a band edge


def _band(accept: str) -> tuple[float, float] | None:
    """The first [lo, hi] written in an accept text, or None (a one-sided bound only)."""
    if "[" not in accept:
        return None
    inner = accept[accept.index("[") + 1:accept.index("]")]
    lo, hi = (float(x) for x in inner.split(","))
    return lo, hi


def forest_plot(table: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """Draw a scorecard table (:attr:`fitts.evaluate.scorecard.Scorecard.table`) to `path` (PNG/SVG)."""
    n = len(table)
    fig, ax = plt.subplots(figsize=(9.5, 0.45 * n + 1.4))
    ax.axvspan(0, 1, color="#e6e6e6", zorder=0)
    for i, r in enumerate(table.itertuples()):
        y = n - 1 - i
        band = _band(r.accept)
        label = f"{r.id}  {r.title[:48]}"
        ax.text(-1.55, y, label, va="center", ha="left", fontsize=8)
        if band is None or r.status == "not expressible" or np.isnan(r.simulated):
            reason = "not expressible" if r.status == "not expressible" else "no band"
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
    ax.set_xlim(-1.6, 2.8)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_yticks([])
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["accept low", "accept high"], fontsize=8)
    ax.spines[["left", "right", "top"]].set_visible(False)
    ax.plot([], [], "D", color="black", label="published")
    ax.plot([], [], "o", color=PASS, label="simulated, pass")
    ax.plot([], [], "o", color=FAIL, label="simulated, fail")
    if (table.status == "inconclusive").any():
        ax.plot([], [], "o", color=UNDECIDED, label="inconclusive")
    ax.legend(loc="lower right", fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0), ncol=3)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return save_figure(fig, path)
