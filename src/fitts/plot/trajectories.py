"""Trajectory figures: one panel per state, median and 10-90 % band over patients."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure, SubFigure

from fitts.errors import DataError, did_you_mean
from fitts.plot.figures import figure_format, finish, panel_figure

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


def plot_trajectories(ds: xr.Dataset, path: str | Path | None = None, *, states: Sequence[str] | None = None,
                      patients: Sequence[int] | None = None, max_lines: int = 20,
                      fig: Figure | SubFigure | None = None) -> Figure:
    """Plot simulated trajectories, one panel per state; save the figure when `path` is given.

    Each panel shows the median over patients, the 10-90 % band, and up to `max_lines`
    individual patients as thin lines (one patient: its line alone). Failed patients (NaN)
    are left out. Axes: time in days; the state in its units (``units`` attribute of the
    result's ``state`` coordinate when present, else activation 0-1).

    Parameters
    ----------
    ds
        A result of :func:`fitts.simulate` recorded on a grid (``record='grid'``).
    path
        Output file, .png, .svg or .pdf; written atomically. None: not saved.
    states
        States to show (default: all, in model order).
    patients
        Patient ids to include (default: all).
    max_lines
        At most this many individual trajectories per panel (0: none).
    fig
        Figure or sub-figure to draw the panels into (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        The dataset holds summaries only, a state or patient does not exist, or the
        suffix of `path` is not a figure format.
    """
    if path is not None:
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
    fig = panel_figure(fig, (3.6 * ncols, 2.7 * nrows + 0.4))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False))
    units = _state_units(ds)
    n_pat = traj.sizes["patient"]
    for ax, name in zip(axes.flat, names, strict=False):
        y = np.asarray(traj.sel(state=name).values, dtype=float)  # (patient, time)
        y = y[np.isfinite(y).all(axis=1)]
        if len(y) == 1:
            ax.plot(t, y[0], color=LINE_COLOUR, lw=1.6, label=f"patient {int(traj.patient.values[0])}")
        elif len(y):
            for row in y[:max_lines]:
                ax.plot(t, row, color="#777777", lw=0.4, alpha=0.5)
            lo, med, hi = quantile_band(y)
            ax.fill_between(t, lo, hi, color=LINE_COLOUR, alpha=0.25, lw=0,
                            label=f"{BAND[0]:.0%}-{BAND[1]:.0%} of patients")
            ax.plot(t, med, color=LINE_COLOUR, lw=1.6, label="median")
        else:
            ax.text(0.5, 0.5, "no finite trajectories", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_ylabel(units.get(name, "activation (0-1)"), fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for i, ax in enumerate(axes.flat[:n]):
        if i + ncols >= n:  # lowest visible panel of its column
            ax.set_xlabel("time (days)")
            ax.xaxis.set_tick_params(labelbottom=True)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{ds.attrs.get('model_name', 'model')}: {n_pat} patient(s), seed "
                 f"{ds.attrs.get('seed', '?')}", fontsize=11)
    return finish(fig, path)


def _state_units(ds: xr.Dataset) -> dict[str, str]:
    """Units of each state, from a ``units`` coordinate or attribute when the result has one."""
    if "units" in ds.coords and "state" in ds["units"].dims:
        return {str(s): str(u) for s, u in zip(ds["state"].values, ds["units"].values, strict=True)}
    units = ds["trajectory"].attrs.get("units")
    return {str(s): str(units) for s in ds["state"].values} if isinstance(units, str) else {}
