"""Score a theory against a target file: one row per target, written as CSV, Markdown and HTML.

:func:`evaluate` simulates the protocol's general cohort once, runs every target's
protocol on it (:mod:`fitts.evaluate.protocols`) and returns a :class:`Scorecard`: the
published value and accept band, the simulated statistic with its Monte-Carlo interval,
and pass, fail or *not expressible* with the reason. Nothing is skipped silently.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.compile.compiled import CompiledModel
from fitts.io.results import atomic_path, save_table

from .cohort import Cohort
from .protocol import Protocol, load_protocol
from .protocols import Outcome, relation_check, run_target
from .statistics import Estimate
from .targets import Target, TargetSet, load_targets

COLUMNS = ("id", "title", "design", "grade", "statistic", "published", "published_interval", "accept",
           "quantity", "own", "simulated", "mc_low", "mc_high", "low_edge", "high_edge", "status", "n", "note")


def _accept_text(t: Target) -> str:
    a = t.accept
    if not a.named:
        lo, hi = a.band  # type: ignore[misc]
        return f"[{lo:g}, {hi:g}]"
    parts = [f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in a.bands.items()]
    parts += [f"{k[:-4]} {'>=' if k.endswith('_min') else '<='} {v:g}" for k, v in a.bounds.items()]
    parts += list(a.holds)
    return "; ".join(parts)


def drawn_quantity(o: Outcome) -> tuple[str, bool, Estimate | None, float, float]:
    """The quantity a scorecard row shows, and the accept edges that judge it.

    A single band judges the target's statistic. In a named accept, the row shows the
    statistic's own quantity when the accept has a band or bound on it (for a
    cross-lagged target ``forward``; for responders ``treated``, ...); otherwise the first
    quantity the accept bands or bounds, and for an accept of rules only the first rule as
    the difference of its two sides (which must lie above or below 0).

    Returns
    -------
    (name, own, estimate, low_edge, high_edge)
        ``name`` is "" for a single band and the rule's text for a rule; ``own`` says
        whether the shown quantity is the target's statistic (so the published value
        belongs on its scale); an open side of a one-sided bound is NaN.
    """
    acc = o.target.accept
    if not acc.named:
        lo, hi = acc.band  # type: ignore[misc]
        return "", True, o.estimate, lo, hi
    own = [k for k, e in o.quantities.items() if e is o.estimate and k != "value"] or ["value"]
    bounded = list(dict.fromkeys(k[:-4] for k in acc.bounds))
    checked = list(acc.bands) + [k for k in bounded if k not in acc.bands]
    mine = [k for k in own if k in checked]
    name = mine[0] if mine else (checked[0] if checked else None)
    if name is not None:
        if name in acc.bands:
            lo, hi = acc.bands[name]
        else:
            lo, hi = acc.bounds.get(f"{name}_min", np.nan), acc.bounds.get(f"{name}_max", np.nan)
        return name, bool(mine), o.quantities.get(name), lo, hi
    rel = acc.relations()[0]
    if not all(q in o.quantities for q in rel.names()):
        return rel.text, False, None, np.nan, np.nan
    _, diff, _, (kind, edge) = relation_check(rel, o.quantities)  # type: ignore[misc]
    return rel.text, False, diff, (edge if kind == "min" else np.nan), (edge if kind == "max" else np.nan)


def _row(o: Outcome) -> dict[str, Any]:
    t = o.target
    quantity, own, est, low_edge, high_edge = drawn_quantity(o)
    note = o.note
    if o.quantities and t.accept.named:
        extra = ", ".join(f"{k} {e}" for k, e in o.quantities.items() if k not in (quantity, "value"))
        note = f"{note}; {extra}" if note else extra
    return {
        "id": t.id, "title": t.title, "design": t.design, "grade": t.grade, "statistic": t.measure.statistic,
        "published": np.nan if t.value is None else t.value,
        "published_interval": "" if t.interval is None else f"[{t.interval[0]:g}, {t.interval[1]:g}]",
        "accept": _accept_text(t), "quantity": quantity, "own": own,
        "simulated": np.nan if est is None else est.value,
        "mc_low": np.nan if est is None else est.low,
        "mc_high": np.nan if est is None else est.high,
        "low_edge": low_edge, "high_edge": high_edge, "status": o.status, "n": o.n, "note": note,
    }


def simulated_text(r: Any) -> str:
    """A row's simulated value with its interval, named when the accept names quantities."""
    text = f"{r.simulated:.3g} [{r.mc_low:.3g}, {r.mc_high:.3g}]"
    return f"{r.quantity}: {text}" if r.quantity else text


@dataclass
class Scorecard:
    """A theory's score against a target file."""

    theory: str
    outcomes: list[Outcome]
    meta: dict[str, Any] = field(default_factory=dict)
    #: statements of targets the calibration found no knob setting to meet together
    tensions: list[str] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([_row(o) for o in self.outcomes], columns=list(COLUMNS))

    @property
    def passes(self) -> int:
        return sum(o.status == "pass" for o in self.outcomes)

    @property
    def expressible(self) -> int:
        return sum(o.status != "not expressible" for o in self.outcomes)

    def count(self, status: str) -> int:
        """Targets with this status (pass, fail, inconclusive, not expressible)."""
        return sum(o.status == status for o in self.outcomes)

    def summary(self) -> str:
        return (f"{self.theory}: {self.passes} of {len(self.outcomes)} targets pass "
                f"({self.count('fail')} fail, {self.count('inconclusive')} inconclusive, "
                f"{len(self.outcomes) - self.expressible} not expressible)")

    # ------------------------------------------------------------------ reports
    def markdown(self) -> str:
        """The scorecard as a Markdown table (for READMEs and reports)."""
        head = ["target", "published", "accept", "simulated [MC 95%]", "result"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.table.itertuples():
            sim = "" if np.isnan(r.simulated) else simulated_text(r)
            pub = "" if np.isnan(r.published) else f"{r.published:g}"
            result = {"pass": "pass", "fail": "**fail**", "inconclusive": f"*inconclusive*: {r.note}"}.get(
                r.status, f"not expressible: {r.note}")
            lines.append(f"| {r.id} {r.title} | {pub} | {r.accept} | {sim} | {result} |")
        if self.tensions:
            lines += ["", "Target tensions found by the calibration:", *(f"- {t}" for t in self.tensions)]
        return "\n".join([f"**{self.summary()}**", "", *lines, ""])

    def html(self, figure: str | None = None) -> str:
        """A standalone HTML report; `figure` is a file name of the forest plot beside it."""
        rows = []
        colour = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700", "not expressible": "#6e7781"}
        for r in self.table.itertuples():
            sim = "" if np.isnan(r.simulated) else simulated_text(r)
            pub = "" if np.isnan(r.published) else f"{r.published:g} {r.published_interval}"
            cells = [f"<b>{r.id}</b> {html.escape(r.title)}", html.escape(r.design), pub, html.escape(r.accept),
                     html.escape(sim), f"<span style='color:{colour[r.status]}'>{r.status}</span>", html.escape(r.n),
                     html.escape(r.note)]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        head = "".join(f"<th>{h}</th>" for h in ("target", "design", "published", "accept",
                                                  "simulated [MC 95%]", "result", "n", "note"))
        meta = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in self.meta.items())
        img = f"<img src='{html.escape(figure)}' style='max-width:100%'>" if figure else ""
        tensions = ("<h2>Target tensions found by the calibration</h2><ul>"
                    + "".join(f"<li>{html.escape(t)}</li>" for t in self.tensions) + "</ul>") if self.tensions else ""
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>fitts scorecard: {self.theory}</title>"
                "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:90%}</style></head>"
                f"<body><h1>Scorecard: {html.escape(self.theory)}</h1><p>{html.escape(self.summary())}</p>"
                f"{img}<table><tr>{head}</tr>{''.join(rows)}</table>{tensions}<ul>{meta}</ul></body></html>")

    def save(self, out: str | Path, *, figure: str | None = None) -> dict[str, Path]:
        """Write ``scorecard.csv``, ``scorecard.md`` and ``scorecard.html`` into `out` (atomically).

        `figure` names a figure file in `out` (the forest plot, see
        :func:`fitts.plot.forest.forest_plot`) that the HTML report shows.
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"csv": out / "scorecard.csv", "markdown": out / "scorecard.md", "html": out / "scorecard.html"}
        save_table(self.table, paths["csv"])
        with atomic_path(paths["markdown"]) as tmp:
            Path(tmp).write_text(self.markdown())
        with atomic_path(paths["html"]) as tmp:
            Path(tmp).write_text(self.html(figure))
        return paths


def evaluate(model: CompiledModel, targets: TargetSet | str | Path | None = None, *,
             protocol: Protocol | str | Path | None = None, patients: int | None = None, seed: int = 0,
             params: Mapping[str, np.ndarray] | None = None, cohort: Cohort | None = None,
             progress: Callable[[float], None] | None = None,
             on_target: Callable[[Outcome], None] | None = None) -> Scorecard:
    """Score `model` against `targets` (default: the packaged calibration targets).

    Parameters
    ----------
    patients
        Size of the general cohort (default: the protocol's ``cohort.patients``).
    params
        Per-patient parameter values replacing sampled rows (a calibration's priors).
    cohort
        A cohort already simulated (reused, e.g. across several target files).
    progress
        Called with patient-days simulated in the general cohort.
    """
    t_start = time.perf_counter()
    ts = targets if isinstance(targets, TargetSet) else load_targets(targets)
    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    if cohort is None:
        cohort = Cohort.simulate(model, proto, seed=seed, patients=patients, params=params, progress=progress)
    outcomes = []
    for t in ts:
        o = run_target(t, cohort, seed=seed)
        outcomes.append(o)
        if on_target is not None:
            on_target(o)
    meta = {"theory": model.spec.name, "model_hash": model.model_hash, "targets": ts.path or "(packaged)",
            "protocol": proto.source, "patients": len(cohort.ids), "seed": seed,
            "years": proto.cohort.years, "dt": proto.cohort.dt,
            "cases_at_t0": int(cohort.group("fm").sum()), "failed_patients": int((~cohort.ok).sum()),
            "seconds": round(time.perf_counter() - t_start, 1)}
    return Scorecard(model.spec.name, outcomes, meta)
