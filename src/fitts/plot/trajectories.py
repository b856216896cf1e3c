"""Trajectory figures: one panel per state, median and 10-90 % band over patients."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from fitts.errors import DataError, did_you_mean  # noqa: E402
from fitts.plot.diagram import figure_format, save_figure  # noqa: E402

BAND = (0.10, 0.90)
LINE_COLOUR = "#1f5fbf"


def quantile_band(values: np.ndarray, q: Sequence[float] = (BAND[0], 0.5, BAND[1]),
                  axis: int = 0) -> np.ndarray:
    """NaN-aware quantiles along `axis` (failed patients are NaN); all-NaN gives NaN quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(values, q, axis=axis)


def _check_states(ds: xr.Dataset, states: Sequence[str] | None) -> list[str]:
    available = [str(s) for s in ds["state"].values]
    if states is None:
        return available
    states = list(states)
    if not states:
        raise DataError("no states to plot; give state names such as " + ", ".join(available[:3]))
    for s in states:
        if s not in available:
            raise DataError(f"the result has no state {s!r}." + did_you_mean(s, available)
                            + " States: " + ", ".join(available))
    return states


def plot_trajectories(ds: xr.Dataset, path: str | Path, *, states: Sequence[str] | None = None,
                      patients: Sequence[int] | None = None, max_lines: int = 20) -> Path:
    """Plot simulated trajectories, one panel per state, and save the figure.

    Each panel shows the median over patients, the 10-90 % band, and up to `max_lines`
    individual patients as thin lines. Failed patients (NaN) are left out.

    Parameters
    ----------
    ds
        A result of :func:`fitts.simulate` recorded on a grid (``record='grid'``).
    path
        Output file, .png, .svg or .pdf; written atomically.
    states
        States to show (default: all, in model order).
    patients
        Patient ids to include (default: all).
    max_lines
        At most this many individual trajectories per panel (0: none).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    DataError
        The dataset holds summaries only, a state or patient does not exist, or the
        suffix of `path` is not a figure format.
    """
    figure_format(path)
    if "trajectory" not in ds:
        raise DataError("the result holds per-patient summaries only (record='summary'), no "
                        "trajectories to plot; simulate again with --record grid")
    if max_lines < 0:
        raise DataError(f"max_lines must be >= 0, got {max_lines}")
    names = _check_states(ds, states)
    traj = ds["trajectory"]
    if patients is not None:
        ids = [int(p) for p in patients]
        missing = sorted(set(ids) - {int(p) for p in ds["patient"].values})
        if missing:
            raise DataError(f"the result has no patient(s) {missing[:10]}; it holds "
                            f"{ds.sizes['patient']} patients")
        traj = traj.sel(patient=ids)
    t = np.asarray(ds["time"].values, dtype=float)

    n = len(names)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows), sharex=True,
                             squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        y = np.asarray(traj.sel(state=name).values, dtype=float)  # (patient, time)
        y = y[np.isfinite(y).all(axis=1)]
        if len(y):
            for row in y[:max_lines]:
                ax.plot(t, row, color="#777777", lw=0.4, alpha=0.5)
            lo, med, hi = quantile_band(y)
            ax.fill_between(t, lo, hi, color=LINE_COLOUR, alpha=0.25, lw=0,
                            label=f"{BAND[0]:.0%}-{BAND[1]:.0%} of patients")
            ax.plot(t, med, color=LINE_COLOUR, lw=1.6, label="median")
        else:
            ax.text(0.5, 0.5, "no finite trajectories", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for i, ax in enumerate(axes.flat[:n]):
        if i + ncols >= n:  # lowest visible panel of its column
            ax.set_xlabel("time (days)")
            ax.xaxis.set_tick_params(labelbottom=True)
    axes.flat[0].legend(fontsize=7, loc="best")
    n_pat = traj.sizes["patient"]
    fig.suptitle(f"{ds.attrs.get('model_name', 'model')}: {n_pat} patient(s), seed "
                 f"{ds.attrs.get('seed', '?')}", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
