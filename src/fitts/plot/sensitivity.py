"""Figures of global sensitivity (:mod:`fitts.analysis.sensitivity`) and scenario discovery
(:mod:`fitts.analysis.discovery`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from fitts.analysis.discovery import Discovery
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


def plot_discovery(d: Discovery, path: str | Path | None = None) -> Figure:
    """The peeling trajectory (coverage against density, coloured by the number of restricted
    parameters, the chosen box circled) and the chosen box's limits within each prior range."""
    if path is not None:
        figure_format(path)
    fig = new_figure((11, 4.2))
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.2])
    traj = d.trajectory
    points = left.scatter(traj["coverage"], traj["density"], c=traj["res dim"], cmap="viridis", s=18)
    left.plot([d.coverage], [d.density], "o", ms=12, mfc="none", mec="#c62828", mew=2, label="chosen box")
    left.axhline(d.base_rate, color="grey", lw=0.8, ls=":", label=f"base rate {d.base_rate:.0%}")
    left.set_xlabel("coverage (share of all cases inside the box)")
    left.set_ylabel("density (share of cases inside the box)")
    left.set_xlim(0, 1.02)
    left.set_ylim(0, 1.02)
    left.legend(fontsize=7, loc="lower left")
    fig.colorbar(points, ax=left, label="restricted parameters")
    left.set_title("peeling trajectory", fontsize=9)
    names = list(d.box["parameter"])
    for i, r in enumerate(d.box.itertuples(index=False)):
        span = (r.prior_high - r.prior_low) or 1.0
        lo = (r.min - r.prior_low) / span
        hi = (r.max - r.prior_low) / span
        right.barh(i, 1.0, color="#e6e6e6")
        right.barh(i, hi - lo, left=lo, color="#1f5fbf")
        right.text(1.02, i, f"{r.min:.3g} .. {r.max:.3g}", va="center", fontsize=7)
    right.set_yticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=8)
    right.set_xlim(0, 1.35)
    right.set_xticks([0, 0.5, 1], ["prior low", "middle", "prior high"])
    right.set_xlabel("position within the sampled range of each parameter")
    right.set_title(f"the box: coverage {d.coverage:.0%}, density {d.density:.0%}, mass {d.mass:.0%}",
                    fontsize=9)
    fig.suptitle(f"{d.settings.get('model', '')}: where patients are `{d.outcome}` ({d.patients} patients)",
                 fontsize=10)
    return finish(fig, path)
