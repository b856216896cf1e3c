"""Figures of a global sensitivity analysis (:mod:`fitts.analysis.sensitivity`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from fitts.analysis.sensitivity import Sensitivity
from fitts.plot.figures import figure_format, finish, new_figure

LABELS = {"S1": "first order S1", "ST": "total order ST", "mu_star": "mean |elementary effect| (mu*)",
          "sigma": "sd of elementary effects (sigma)", "delta": "delta (moment-independent)"}


def plot_sensitivity(res: Sensitivity, path: str | Path | None = None, *, top: int = 20) -> Figure:
    """Indices with 95 % intervals (bars), the convergence of the main index and, for Sobol,
    the second-order interactions (heatmap of the `top` parameters).

    Returns the Figure; saved when `path` is given.
    """
    if path is not None:
        figure_format(path)
    table = res.indices.head(top)
    names = [str(n) for n in table.index][::-1]
    panels = 3 if res.second_order is not None else 2
    fig = new_figure((5.2 * panels, max(3.5, 0.3 * len(names) + 1.6)))
    axes = fig.subplots(1, panels)
    ax = axes[0]
    y = np.arange(len(names))
    cols = {"sobol": ("S1", "ST"), "morris": ("mu_star",), "delta": ("delta", "S1")}[res.method]
    height = 0.8 / len(cols)
    for i, col in enumerate(cols):
        values = table[col].to_numpy()[::-1]
        conf = table[f"{col}_conf"].to_numpy()[::-1] if f"{col}_conf" in table else None
        ax.barh(y + (i - (len(cols) - 1) / 2) * height, values, height, xerr=conf, capsize=2,
                label=LABELS[col])
    ax.set_yticks(y, names, fontsize=7)
    ax.set_xlabel("index (share of outcome variance)" if res.method == "sobol" else
                  "index (outcome units)" if res.method == "morris" else "index (0-1)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{res.method}: {res.outcome} ({res.runs} runs)", fontsize=9)
    conv = axes[1]
    main = res.main_index
    for name in [str(n) for n in res.indices.index[: min(top, 8)]]:
        conv.plot(res.convergence["runs"], res.convergence[name], marker="o", ms=3, label=name)
    conv.set_xscale("log")
    conv.set_xlabel("simulator runs (nested subsets of the sample)")
    conv.set_ylabel(f"{LABELS.get(main, main)}")
    conv.set_title("convergence", fontsize=9)
    conv.legend(fontsize=6)
    if res.second_order is not None:
        keep = [str(n) for n in table.index]
        S2 = res.second_order.loc[keep, keep].to_numpy(dtype=float)
        S2 = np.where(np.isfinite(S2), S2, np.nan)
        heat = axes[2]
        vmax = float(np.nanmax(np.abs(S2))) if np.isfinite(S2).any() else 1.0
        image = heat.imshow(np.ma.masked_invalid(S2), cmap=mpl.colormaps["RdBu_r"].with_extremes(bad="#eeeeee"),
                            vmin=-vmax, vmax=vmax)
        heat.set_xticks(range(len(keep)), keep, rotation=90, fontsize=7)
        heat.set_yticks(range(len(keep)), keep, fontsize=7)
        heat.set_title("second-order interactions S2", fontsize=9)
        fig.colorbar(image, ax=heat, shrink=0.8, label="S2 (share of variance)")
    fig.suptitle(f"{res.settings.get('model', '')}: which parameters move `{res.outcome}`", fontsize=10)
    return finish(fig, path)
