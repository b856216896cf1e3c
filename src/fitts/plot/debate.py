"""Figures and a self-contained HTML page of the debate (:mod:`fitts.run.debate`)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fitts.io.results import atomic_path
from fitts.plot.figures import new_figure, save_figure
from fitts.plot.steady import plot_bifurcation
from fitts.run.debate import Stressor, TheoryCase

STRESSOR_COLOUR = "#ffb74d"
PAIN_COLOUR = "#c62828"


def _moved(case: TheoryCase, stressor: Stressor, k: int = 3) -> list[str]:
    """The `k` states (pain aside) that the stressor moved most, long after it ended."""
    t, X = case.time, case.trajectory
    before = X[t < stressor.start].mean(axis=0)
    after = X[t >= t[-1] - 60].mean(axis=0)
    order = np.argsort(-np.abs(after - before))
    names = [case.model.states[i] for i in order if case.model.states[i] != "pain"]
    return names[:k]


def story_figure(cases: Sequence[TheoryCase], stressor: Stressor) -> Figure:
    """One panel per theory: pain and the three states the stressor moved most, stressor shaded."""
    fig = new_figure((4.2 * len(cases), 4.0))
    axes = np.atleast_1d(fig.subplots(1, len(cases), sharey=True, squeeze=False))[0]
    for ax, case in zip(axes, cases, strict=True):
        ax.axvspan(stressor.start, stressor.end, color=STRESSOR_COLOUR, alpha=0.3, lw=0,
                   label=f"stressor (level {stressor.level:g})")
        ax.plot(case.time, case.pain(), color=PAIN_COLOUR, lw=2.2, label="pain")
        for name in _moved(case, stressor):
            ax.plot(case.time, case.trajectory[:, case.model.state_index[name]], lw=1.2,
                    label=name.replace("_", " "))
        ax.set_title(case.name.replace("_", " "), fontsize=10)
        ax.set_xlabel("time (days)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center right")
    axes[0].set_ylabel("activation (0-1)")
    fig.suptitle("The predisposed patient of each theory through one stressor (noise-free)", fontsize=11)
    return fig


def hysteresis_figure(cases: Sequence[TheoryCase]) -> Figure:
    """One panel per theory: steady-state pain against sustained psychosocial stress."""
    fig = new_figure((4.2 * len(cases), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(cases), sharey=True, squeeze=False))[0]
    for ax, case in zip(axes, cases, strict=True):
        plot_bifurcation(case.continuation, ax=ax, state="pain")
        th = case.thresholds
        ax.set_title(f"{case.name.replace('_', ' ')}\nonset {_fmt(th.onset)}, recovery {_fmt(th.recovery)}",
                     fontsize=9)
        ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    fig.suptitle("Hysteresis: onset and recovery thresholds in sustained psychosocial stress", fontsize=11)
    return fig


def shares_figure(cases: Sequence[TheoryCase]) -> Figure:
    """Grouped bars: attribution subtype shares of each theory's ill cohort members."""
    fig = new_figure((8.5, 3.6))
    ax = fig.add_subplot()
    subtypes = list(cases[0].shares.index)
    width = 0.8 / len(cases)
    x = np.arange(len(subtypes))
    for i, case in enumerate(cases):
        values = case.shares.reindex(subtypes).fillna(0.0).to_numpy()
        ax.bar(x + (i - (len(cases) - 1) / 2) * width, values, width,
               label=f"{case.name.replace('_', ' ')} ({case.n_ill} of {case.n_sampled} ill)")
    ax.set_xticks(x, [s.replace("-", "-\n") for s in subtypes], fontsize=8)
    ax.set_ylabel("share of ill patients (fraction)")
    ax.set_xlabel("subtype: which mechanisms hold the ill state when cut")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("Who is held by what: attribution of a sampled cohort tipped by a stressor", fontsize=10)
    return fig


def _fmt(v: float | None) -> str:
    return "none in range" if v is None else f"{v:.2f}"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def debate_page(cases: Sequence[TheoryCase], stressor: Stressor, summary: pd.DataFrame,
                scorecards: pd.DataFrame, figures: dict[str, Figure]) -> str:
    """A self-contained HTML page (figures embedded) telling the debate's story."""
    lines = []
    for c in cases:
        th = c.thresholds
        ph = c.phase_means(stressor)
        persists = th.recovery is not None and th.recovery < 0
        lines.append(
            f"<li><b>{html.escape(c.name)}</b>: pain {ph['before']:.2f} before, {ph['during']:.2f} during and "
            f"{ph['long after']:.2f} long after the stressor; health is lost at sustained stress "
            f"{_fmt(th.onset)}, and the ill state is lost only below {_fmt(th.recovery)}"
            + (" &mdash; it persists at any non-negative stress: removing the stressor alone does not heal"
               if persists else "") + ".</li>")
    notes = "".join(f"<li>{html.escape(c.name)}: {html.escape(c.scorecard_note)}</li>" for c in cases)
    imgs = {k: _png(f) for k, f in figures.items()}
    style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "img{max-width:100%}h2{margin-top:1.6em}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fitts demo: the debate</title>
<style>{style}</style></head><body>
<h1>Three theories of fibromyalgia, one stressor</h1>
<p>Each built-in theory's typical predisposed patient (every parameter at its prior median, every
predisposition present) meets a psychosocial stressor of level {stressor.level:g} from day
{stressor.start:g} to day {stressor.end:g}. The simulations are noise-free, so what happens is the
theory's own dynamics.</p>
<ul>{''.join(lines)}</ul>
<h2>Stories</h2><img alt="stories" src="data:image/png;base64,{imgs['story']}">
<h2>Hysteresis</h2><p>Solid: stable steady states; dashed: unstable; circles: folds. Where the ill
branch reaches below zero stress, nothing short of an intervention ends the illness.</p>
<img alt="hysteresis" src="data:image/png;base64,{imgs['hysteresis']}">
<h2>Attribution</h2><img alt="attribution shares" src="data:image/png;base64,{imgs['shares']}">
<h2>Summary</h2>{summary.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.3g}")}
<h2>Scorecards against published findings</h2><ul>{notes}</ul>
{scorecards.to_html(na_rep="")}
<p>Status per target: pass, fail, inconclusive (the Monte-Carlo interval straddles an edge of the
accept band) or not expressible; the simulated statistic in brackets.</p>
</body></html>
"""


def write_debate(cases: Sequence[TheoryCase], stressor: Stressor, out_dir: str | Path) -> list[Path]:
    """Write the debate's files to `out_dir` (atomically each) and return their paths.

    Files: ``index.html`` (self-contained), ``stories.png``, ``hysteresis.png``,
    ``attribution.png``, ``summary.csv``, ``scorecards.csv`` and ``stories.nc`` (the
    patients' trajectories, float32, zlib-compressed).
    """
    import xarray as xr

    from fitts.io.results import save_dataset, save_table
    from fitts.run.debate import scorecards_side_by_side, summary_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = {"story": story_figure(cases, stressor), "hysteresis": hysteresis_figure(cases),
               "shares": shares_figure(cases)}
    summary = summary_table(cases, stressor)
    cards = scorecards_side_by_side(cases)
    paths = [save_figure(figures["story"], out / "stories.png"),
             save_figure(figures["hysteresis"], out / "hysteresis.png"),
             save_figure(figures["shares"], out / "attribution.png"),
             save_table(summary, out / "summary.csv"),
             save_table(cards.reset_index(), out / "scorecards.csv")]
    data = {c.name: xr.DataArray(c.trajectory, dims=("time", f"state_{c.name}"),
                                 coords={"time": c.time, f"state_{c.name}": list(c.model.states)},
                                 attrs={"units": "activation", "patient": c.patient.description})
            for c in cases}
    ds = xr.Dataset(data, attrs={"stressor": f"psychosocial_stress level {stressor.level:g}, "
                                 f"days {stressor.start:g}-{stressor.end:g}"})
    paths.append(save_dataset(ds, out / "stories.nc", float32=True))
    page = debate_page(cases, stressor, summary, cards, figures)
    with atomic_path(out / "index.html") as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    paths.insert(0, out / "index.html")
    return paths
