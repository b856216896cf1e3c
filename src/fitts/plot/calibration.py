"""Figures of a history-matching calibration: the space left, and the targets in tension.

* :func:`nroy_figure` draws the non-implausible space in 2-D projections, as hmer's
  ``plot_lattice`` does: below the diagonal the *optical depth* (in each cell of a pair of
  knobs, the fraction of a uniform sample of the other knobs that is still
  non-implausible), above it the simulator runs coloured by wave, on the diagonal the
  one-knob optical depth.
* :func:`tension_figure` draws, for every pair of targets, the fraction of the knob
  space where both are non-implausible; a cross marks a pair no setting meets together.

Both return the matplotlib ``Figure`` (built without pyplot, so importing this module
chooses no backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from scipy.stats import qmc


def _short(name: str, width: int = 22) -> str:
    """A knob's name without its kind prefix, shortened from the left for axis labels."""
    s = name.split(":", 1)[-1].replace("weight.", "").replace(".median", " (median)")
    return s if len(s) <= width else "…" + s[-(width - 1):]


def constrained_knobs(hm: Any, top: int) -> np.ndarray:
    """Axes of the `top` knobs the targets constrain most, most constrained first.

    A knob is constrained when the non-implausible points of the last wave span little of its
    range: ranked by the width of their central 90 % along it (the runs' when no points are
    left). With `top` or fewer knobs, all of them in their own order.
    """
    d = hm.d
    if d <= top:
        return np.arange(d)
    pts = hm.waves[-1].points if hm.waves and hm.waves[-1].points is not None else None
    if pts is None or len(pts) < 2:
        pts = np.array([r.x for r in hm.runs]) if hm.runs else np.random.default_rng(0).random((2, d))
    width = np.quantile(pts, 0.95, axis=0) - np.quantile(pts, 0.05, axis=0)
    return np.argsort(width, kind="stable")[:top]


def nroy_figure(hm: Any, knob_names: Sequence[str], *, samples: int = 4096, bins: int = 12,
                top: int = 8, title: str | None = None) -> Figure:
    """The non-implausible space after the last wave in 2-D projections (unit-cube axes).

    Parameters
    ----------
    hm
        A :class:`fitts.evaluate.history_matching.HistoryMatch` with at least one wave.
    knob_names
        Knob names in the order of the cube's axes.
    samples
        Uniform points evaluated for the optical depth.
    top
        Knobs shown at most: the ones the targets constrain most (:func:`constrained_knobs`).
        A lattice of every pair of 40 knobs has 1600 panels, takes minutes to draw and
        cannot be read; ``calibration.yaml`` and ``runs.csv`` hold every knob.
    """
    shown = constrained_knobs(hm, top)
    x_all = qmc.Sobol(d=hm.d, scramble=True, seed=hm.settings.seed + 99).random(samples)
    ok = hm.impl_through(x_all)[1][-1] if hm.waves else np.ones(samples, dtype=bool)
    x = x_all[:, shown]
    knob_names = [knob_names[k] for k in shown]
    d = len(shown)
    size = max(2.0, min(1.6 * d, 16.0))
    fig = Figure(figsize=(size + 1.2, size))
    axes = fig.subplots(d, d, squeeze=False)
    edges = np.linspace(0, 1, bins + 1)
    runs = np.array([r.x for r in hm.runs])[:, shown] if hm.runs else np.empty((0, d))
    waves = np.array([int(r.stage.split()[1]) if r.stage.startswith("wave") else 0 for r in hm.runs])
    image = None
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            ax.set_xlim(0, 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == j:
                hit, _ = np.histogram(x[ok, j], edges)
                tot, _ = np.histogram(x[:, j], edges)
                ax.bar(edges[:-1], np.divide(hit, np.maximum(tot, 1)), width=1 / bins, align="edge",
                       color="#2f6f9f")
                ax.set_ylim(0, 1)
            elif i > j:  # optical depth of knob j (x axis) against knob i (y axis)
                hit, _, _ = np.histogram2d(x[ok, j], x[ok, i], [edges, edges])
                tot, _, _ = np.histogram2d(x[:, j], x[:, i], [edges, edges])
                depth = np.divide(hit, np.maximum(tot, 1)).T
                image = ax.imshow(np.where(depth > 0, depth, np.nan), origin="lower", extent=(0, 1, 0, 1),
                                  aspect="auto", cmap="viridis", norm=LogNorm(1e-3, 1))
                ax.set_facecolor("#f2f2f2")
                ax.set_ylim(0, 1)
            else:  # runs, coloured by wave
                if len(runs):
                    ax.scatter(runs[:, j], runs[:, i], c=waves, s=5, cmap="plasma", vmin=0,
                               vmax=max(1, waves.max()))
                ax.set_ylim(0, 1)
            width = 40 if d <= 4 else 24  # room per panel shrinks with the number of knobs
            if i == d - 1:
                ax.set_xlabel(_short(knob_names[j], width), fontsize=7, rotation=30, ha="right")
            if j == 0:
                ax.set_ylabel(_short(knob_names[i], width), fontsize=7, rotation=0, ha="right", va="center")
    if image is not None:
        cax = fig.add_axes((0.93, 0.15, 0.015, 0.7))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label("optical depth: fraction of the other knobs non-implausible", fontsize=8)
    left = "empty" if not hm.waves or hm.waves[-1].points is None or not len(hm.waves[-1].points) else \
        f"{hm.waves[-1].fraction:.3g} of the knob space left"
    which = "" if d == hm.d else f"; the {d} of {hm.d} knobs it constrains most"
    fig.suptitle(title or f"Non-implausible space after wave {len(hm.waves)} ({left}{which}); axes: each "
                 "knob's range scaled to 0-1; above the diagonal: runs by wave", fontsize=9)
    fig.subplots_adjust(left=0.2, bottom=0.15, right=0.91, top=0.94, wspace=0.05, hspace=0.05)
    return fig


def tension_figure(tensions: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Heat map of the fraction of knob space where each pair of targets is met together.

    Parameters
    ----------
    tensions
        Rows ``a, b, fraction, impossible`` (as :meth:`HistoryMatch.tensions` returns),
        including the diagonal (each target alone).
    """
    ids = list(dict.fromkeys([*tensions.a, *tensions.b]))
    n = len(ids)
    m = np.full((n, n), np.nan)
    bad = np.zeros((n, n), dtype=bool)
    for r in tensions.itertuples():
        i, j = ids.index(r.a), ids.index(r.b)
        m[i, j] = m[j, i] = r.fraction
        bad[i, j] = bad[j, i] = bool(r.impossible)
    fig = Figure(figsize=(2.5 + 0.5 * n, 1.5 + 0.45 * n), layout="constrained")
    ax = fig.add_subplot()
    shown = np.where(m > 0, m, np.nan)
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=max(1e-4, np.nanmin(shown) if np.isfinite(
        shown).any() else 1e-4), vmax=1))
    for i in range(n):
        for j in range(n):
            if bad[i, j]:
                ax.text(j, i, "×", ha="center", va="center", color="#cf222e", fontsize=12, fontweight="bold")
            elif m[i, j] == 0:
                ax.text(j, i, "·", ha="center", va="center", color="black", fontsize=10)
    ax.set_xticks(range(n), ids, rotation=90, fontsize=8)
    ax.set_yticks(range(n), ids, fontsize=8)
    bar = fig.colorbar(image, ax=ax, fraction=0.05)
    bar.set_label("fraction of knob space where both are non-implausible", fontsize=8)
    ax.set_title(title or "Target tensions (× = no knob setting meets both; diagonal = each target alone)",
                 fontsize=9, loc="left")
    return fig
