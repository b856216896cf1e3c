"""Figures of the steady-state analyses: bifurcation diagrams and hanging-mobile heatmaps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from fitts.analysis.continuation import Continuation  # noqa: E402
from fitts.errors import DataError, did_you_mean  # noqa: E402
from fitts.plot.diagram import figure_format, save_figure  # noqa: E402


def plot_bifurcation(cont: Continuation, path: str | Path, *, state: str | None = None) -> Path:
    """Draw a bifurcation diagram: `state` against λ, stable solid, unstable dashed, folds marked.

    Parameters
    ----------
    cont
        A result of :func:`fitts.analysis.continuation.continuation`.
    path
        Output figure (.png, .svg or .pdf), written atomically.
    state
        State on the vertical axis (default ``pain`` when the model has it, else the first).
    """
    figure_format(path)
    m = cont.model
    state = state or ("pain" if "pain" in m.state_index else m.states[0])
    if state not in m.state_index:
        raise DataError(f"unknown state {state!r}." + did_you_mean(state, m.states)
                        + " States: " + ", ".join(m.states))
    i = m.state_index[state]
    fig, ax = plt.subplots(figsize=(7, 4.5))
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
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_mobile(ds: xr.Dataset, path: str | Path) -> Path:
    """Heatmaps of the sensitivity matrices, one panel per attractor (rows respond, columns pushed).

    Parameters
    ----------
    ds
        A result of :func:`fitts.analysis.mobile.mobile`.
    path
        Output figure (.png, .svg or .pdf), written atomically.
    """
    figure_format(path)
    S = ds["sensitivity"]
    n_att = S.sizes["attractor"]
    n = S.sizes["response"]
    vmax = float(np.nanmax(np.abs(S.values))) or 1.0
    fig, axes = plt.subplots(1, n_att, figsize=(0.4 * n * n_att + 3.5, 0.4 * n + 2.2), squeeze=False,
                             sharey=True, layout="constrained")
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    im = None
    for a, ax in enumerate(axes[0]):
        im = ax.imshow(S.values[a], cmap="RdBu_r", norm=norm)
        ax.set_xticks(range(n), [str(v) for v in S.push.values], rotation=90, fontsize=7)
        ax.set_yticks(range(n), [str(v) for v in S.response.values] if a == 0 else [], fontsize=7)
        ax.set_xlabel("pushed node (sustained +1 on its drive)", fontsize=8)
        if a == 0:
            ax.set_ylabel("steady-state response", fontsize=8)
        ax.set_title(f"{S.attractor.values[a]} attractor", fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=S.attrs.get("units", ""))
    fig.suptitle(f"{ds.attrs.get('model_name', '')}: hanging mobile", fontsize=10)
    return save_figure(fig, path, dpi=120)
