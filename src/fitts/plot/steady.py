"""Figures of the steady-state analyses: bifurcation diagrams and hanging-mobile heatmaps."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure, SubFigure

from fitts.analysis.continuation import Continuation
from fitts.errors import DataError, did_you_mean
from fitts.plot.figures import figure_format, finish, panel_figure, single_axes


def plot_bifurcation(cont: Continuation, path: str | Path | None = None, *, state: str | None = None,
                     ax: Axes | None = None) -> Figure:
    """Draw a bifurcation diagram: `state` against λ, stable solid, unstable dashed, folds marked.

    Parameters
    ----------
    cont
        A result of :func:`fitts.analysis.continuation.continuation`.
    path
        Output figure (.png, .svg or .pdf), written atomically; None: not saved.
    state
        State on the vertical axis (default ``pain`` when the model has it, else the first).
    ax
        Axes to draw into (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
        Title with the onset and recovery thresholds; legend: stable, unstable, fold.
    """
    if path is not None:
        figure_format(path)
    m = cont.model
    state = state or ("pain" if "pain" in m.state_index else m.states[0])
    if state not in m.state_index:
        raise DataError(f"unknown state {state!r}." + did_you_mean(state, m.states)
                        + " States: " + ", ".join(m.states))
    i = m.state_index[state]
    fig, ax = single_axes(ax, (7, 4.5))
    for br in cont.branches:
        stable = br.stable
        cuts = np.flatnonzero(np.diff(stable.astype(int))) + 1
        for seg in np.split(np.arange(len(stable)), cuts):
            if len(seg) == 0:
                continue
            seg = np.append(seg, seg[-1] + 1) if seg[-1] + 1 < len(stable) else seg  # join the pieces
            st = bool(stable[seg[0]])
            ax.plot(br.values[seg], br.states[seg, i], color="#1f5fbf" if st else "#c62828",
                    ls="-" if st else "--", lw=1.8 if st else 1.3)
    for f in cont.folds:
        ax.plot([f.value], [f.x[i]], "o", ms=7, mfc="white", mec="black", zorder=5)
        ax.annotate(f"{f.value:.3g}", (f.value, f.x[i]), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.plot([], [], color="#1f5fbf", lw=1.8, label="stable")
    ax.plot([], [], color="#c62828", ls="--", lw=1.3, label="unstable")
    ax.plot([], [], "o", mfc="white", mec="black", label="fold")
    th = cont.thresholds()
    parts = []
    if th.onset is not None:
        parts.append(f"onset {th.onset:.3g}")
    if th.recovery is not None:
        parts.append(f"recovery {th.recovery:.3g}")
    ax.set_title(f"{m.spec.name}: {state} against {cont.name}" + (f" ({', '.join(parts)})" if parts else ""),
                 fontsize=10)
    ax.set_xlabel(f"{cont.name} ({'sustained input level' if cont.kind == 'input' else 'parameter'})")
    ax.set_ylabel(f"{state} at steady state (activation)")
    ax.set_xlim(*cont.span)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return finish(fig, path)


def plot_mobile(ds: xr.Dataset, path: str | Path | None = None, *, fig: Figure | SubFigure | None = None,
                mask_diagonal: bool = True) -> Figure:
    """Heatmaps of the sensitivity matrices, one panel per attractor (rows respond, columns pushed).

    The diagonal (a node's response to a push on its own drive) is larger than any
    transmitted effect and would set the colour scale, so it is masked (grey) by default and
    the scale is set by the off-diagonal entries, which are what the hanging mobile is about.
    Every panel carries its own row labels.

    Parameters
    ----------
    ds
        A result of :func:`fitts.analysis.mobile.mobile`.
    path
        Output figure (.png, .svg or .pdf), written atomically; None: not saved.
    fig
        Figure or sub-figure to draw into (default: a new figure).
    mask_diagonal
        Grey out the self-responses and leave them out of the colour scale.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if path is not None:
        figure_format(path)
    S = ds["sensitivity"]
    n_att = S.sizes["attractor"]
    n = S.sizes["response"]
    pushes = [str(v) for v in S.push.values]
    responses = [str(v) for v in S.response.values]
    values = np.array(S.values, dtype=float)  # (attractor, response, push)
    if mask_diagonal:
        col = {p: j for j, p in enumerate(pushes)}
        for i, r in enumerate(responses):
            if r in col:
                values[:, i, col[r]] = np.nan
    finite = np.abs(values[np.isfinite(values)])
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    fig = panel_figure(fig, (0.36 * n * n_att + 2.6 * n_att + 1.5, 0.36 * n + 2.6))
    axes = np.atleast_1d(fig.subplots(1, n_att, squeeze=False))[0]
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="#d0d0d0")
    im = None
    for a, ax in enumerate(axes):
        im = ax.imshow(np.ma.masked_invalid(values[a]), cmap=cmap, norm=norm)
        ax.set_xticks(range(len(pushes)), [p.replace("_", " ") for p in pushes], rotation=90, fontsize=7)
        ax.set_yticks(range(n), [r.replace("_", " ") for r in responses], fontsize=7)
        ax.set_xlabel("pushed node (sustained +1 on its drive)", fontsize=8)
        ax.set_ylabel("steady-state response", fontsize=8)
        ax.set_title(f"{S.attractor.values[a]} attractor", fontsize=9)
    units = S.attrs.get("units", "")
    label = "change of the response per unit push" + (f" ({units})" if units else "")
    if mask_diagonal:
        label += "; diagonal (self) masked"
    fig.colorbar(im, ax=list(axes), shrink=0.8, label=label)
    fig.suptitle(f"{ds.attrs.get('model_name', '')}: hanging mobile", fontsize=10)
    return finish(fig, path)
