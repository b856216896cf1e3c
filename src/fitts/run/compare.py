"""Two or more theories (or variants) side by side: edges, loops, thresholds, scorecards.

:func:`compare` answers "what is different, and what difference does it make" for a set
of models:

- **edges**: every causal link in any of the models, with its sign and weight prior in
  each (blank where a model lacks it), marked when the models differ;
- **loops**: the number of reinforcing and balancing feedback loops, and the loops (as
  node cycles with polarity) that only some of the models have;
- **thresholds**: the steady states of one patient per model (by default the
  predisposed patient: prior medians with every predisposition present) and the onset
  and recovery thresholds in sustained psychosocial stress;
- **scorecards**: the scorecard stored with each model's packaged calibration (a
  variant shows its parent's, marked as such), or none.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fitts.analysis.continuation import continuation
from fitts.analysis.graph import elementary_loops
from fitts.analysis.patients import choose_patient
from fitts.analysis.steady import steady_states
from fitts.compile.compiled import CompiledModel, compile_model
from fitts.spec.load import load_model
from fitts.spec.model import Spec

STRESS = "psychosocial_stress"


@dataclass
class Comparison:
    """Side-by-side tables of several models (columns named by model).

    Attributes
    ----------
    names
        Model names, in the order given (made unique when two share a name).
    edges
        One row per edge id: ``edge``, per model ``sign weight`` text (blank: absent),
        ``differs`` (bool).
    loops
        One row per model: ``model``, ``total``, ``reinforcing``, ``balancing``.
    loop_differences
        One row per loop (node cycle and polarity) that not every model has: ``loop``,
        ``polarity`` and per model True/False.
    thresholds
        One row per model: ``model``, ``patient``, ``steady states`` (labels),
        ``onset threshold``, ``recovery threshold``.
    scorecards
        Targets (rows) by models (columns): ``status (simulated)`` of the stored scorecard.
    notes
        Where each scorecard came from.
    """

    names: list[str]
    edges: pd.DataFrame
    loops: pd.DataFrame
    loop_differences: pd.DataFrame
    thresholds: pd.DataFrame
    scorecards: pd.DataFrame
    notes: dict[str, str]

    def long_table(self) -> pd.DataFrame:
        """Every comparison in one long table (section, item, model, value) for a CSV file."""
        rows = []
        for r in self.edges.itertuples(index=False):
            d = r._asdict()
            for i, n in enumerate(self.names):
                rows.append(("edge", d["edge"], n, str(list(d.values())[1 + i])))
        for r in self.loops.to_dict("records"):
            for k in ("total", "reinforcing", "balancing"):
                rows.append(("loops", k, r["model"], str(r[k])))
        for r in self.loop_differences.to_dict("records"):
            for n in self.names:
                rows.append(("loop only in some", f"{r['polarity']}: {r['loop']}", n, str(r[n])))
        for r in self.thresholds.to_dict("records"):
            for k in ("patient", "steady states", "onset threshold", "recovery threshold"):
                rows.append(("thresholds", k, r["model"], str(r[k])))
        for target, r in self.scorecards.iterrows():
            for n in self.names:
                rows.append(("scorecard", str(target), n, str(r.get(n, ""))))
        return pd.DataFrame(rows, columns=["section", "item", "model", "value"])


def _weight_text(spec: Spec, eid: str) -> str:
    e = spec.edges[eid]
    w = e.weight
    if hasattr(w, "model_dump"):
        d = w.model_dump(exclude_none=True)
        w = " ".join(f"{k}={v}" for k, v in d.items() if k != "bounds")
    return f"{e.sign} {w}"


def _loop_key(nodes: tuple[str, ...], polarity: str) -> tuple[str, str]:
    return " -> ".join((*nodes, nodes[0])), polarity


def compare(models: Sequence[str | Path], *, patient: str = "predisposed", seed: int = 0,
            span: tuple[float, float] = (-2.0, 4.0), progress: Callable[[str], None] | None = None) -> Comparison:
    """Compare models given as built-in theory names or model files (see the module docstring).

    Parameters
    ----------
    models
        Two or more theory names or model file paths.
    patient
        Which patient's steady states and thresholds are compared (see
        :func:`fitts.analysis.patients.choose_patient`); ``typical-ill`` searches each
        model's population once (cached).
    span
        Range of sustained psychosocial stress searched for the thresholds (input units).
    progress
        Called with each model's name when it is done.
    """
    from fitts.errors import ModelError
    from fitts.run.debate import packaged_scorecard

    if len(models) < 2:
        raise ModelError("compare needs two or more theories or model files")
    specs = [load_model(m) for m in models]
    names: list[str] = []
    for s in specs:
        name = s.name
        while name in names:
            name += "'"
        names.append(name)
    # edges
    ids = list(dict.fromkeys(e for s in specs for e in s.edges))
    edge_rows = []
    for eid in ids:
        cells = [_weight_text(s, eid) if eid in s.edges else "" for s in specs]
        edge_rows.append({"edge": eid, **dict(zip(names, cells, strict=True)), "differs": len(set(cells)) > 1})
    edges = pd.DataFrame(edge_rows)
    # loops
    loop_rows, have = [], []
    for n, s in zip(names, specs, strict=True):
        loops = elementary_loops(s)
        keys = {_loop_key(lp.nodes, lp.polarity) for lp in loops}
        have.append(keys)
        reinforcing = sum(lp.polarity == "reinforcing" for lp in loops)
        loop_rows.append({"model": n, "total": len(loops), "reinforcing": reinforcing,
                          "balancing": len(loops) - reinforcing})
    every = set.intersection(*have)
    some = sorted(set.union(*have) - every)
    diffs = pd.DataFrame([{"loop": k[0], "polarity": k[1], **{n: k in h for n, h in zip(names, have, strict=True)}}
                          for k in some], columns=["loop", "polarity", *names])
    # thresholds and scorecards
    th_rows, cards, notes = [], {}, {}
    for n, s in zip(names, specs, strict=True):
        model: CompiledModel = compile_model(s)
        chosen = choose_patient(model, patient, seed=seed)
        row = {"model": n, "patient": chosen.description, "steady states": "", "onset threshold": None,
               "recovery threshold": None}
        if STRESS in model.inputs:
            st = steady_states(model, chosen.params, {}, starts=64)
            row["steady states"] = ", ".join(f"{lab or stab}" for lab, stab in zip(st["label"], st["stability"],
                                                                                     strict=True))
            th = continuation(model, STRESS, span, params=chosen.params, ds_max=0.1).thresholds()
            row["onset threshold"], row["recovery threshold"] = th.onset, th.recovery
        th_rows.append(row)
        card, note = packaged_scorecard(model)
        cards[n] = card
        notes[n] = note
        if progress is not None:
            progress(n)
    targets = sorted({t for c in cards.values() for t in c})
    scorecards = pd.DataFrame({n: [_cell(cards[n].get(t)) for t in targets] for n in names},
                              index=pd.Index(targets, name="target"))
    return Comparison(names, edges, pd.DataFrame(loop_rows), diffs, pd.DataFrame(th_rows), scorecards, notes)


def _cell(value: tuple[str, float] | None) -> str:
    if value is None:
        return ""
    status, simulated = value
    return status if simulated != simulated else f"{status} ({simulated:.3g})"


def comparison_page(c: Comparison) -> str:
    """A self-contained HTML page of a comparison."""
    edges = c.edges[c.edges["differs"]].drop(columns="differs")
    style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}")
    notes = "".join(f"<li>{html.escape(n)}: {html.escape(t)}</li>" for n, t in c.notes.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fitts compare: {html.escape(' vs '.join(c.names))}</title>
<style>{style}</style></head><body>
<h1>{html.escape(' vs '.join(c.names))}</h1>
<h2>Edges that differ ({len(edges)} of {len(c.edges)})</h2>{edges.to_html(index=False)}
<h2>Feedback loops</h2>{c.loops.to_html(index=False)}
<h3>Loops only some models have ({len(c.loop_differences)})</h3>{c.loop_differences.head(200).to_html(index=False)}
<h2>Steady states and thresholds</h2>{c.thresholds.to_html(index=False, na_rep="none in range")}
<h2>Scorecards</h2><ul>{notes}</ul>{c.scorecards.to_html()}
</body></html>
"""


def write_comparison(c: Comparison, out_dir: str | Path) -> list[Path]:
    """Write ``comparison.csv`` (long table), ``edges.csv`` and ``index.html`` to `out_dir`, atomically."""
    from fitts.io.results import atomic_path, save_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [save_table(c.long_table(), out / "comparison.csv"), save_table(c.edges, out / "edges.csv")]
    with atomic_path(out / "index.html") as tmp:
        Path(tmp).write_text(comparison_page(c), encoding="utf-8")
    return [out / "index.html", *paths]
