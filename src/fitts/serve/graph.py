"""Causal loop diagrams as Cytoscape.js elements, feedback loops, and the differences of two theories.

The layout is the one `fitts diagram` draws (modules on a circle, inputs on an outer
ring), so the browser and the figure files agree; Cytoscape draws each module as a
compound node around its states.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import networkx as nx

from fitts.analysis.graph import Loop, elementary_loops, gate_edge_id, signed_graph
from fitts.spec.model import Spec

#: a DOI inside a citation, e.g. "... doi:10.1038/s41584-022-00873-0"
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s;,\"']+[^\s;,.\"')\]])")
#: pixels per layout unit
_SCALE = 330.0
#: inputs sit on a ring 1.75 layout units out in `fitts diagram`; here at 1.75 * this
_INPUT_RING = 0.86


def doi_url(source: str | None) -> str | None:
    """The https://doi.org/ address of the first DOI in a citation, or None."""
    m = _DOI.search(source or "")
    return f"https://doi.org/{m.group(1)}" if m else None


def _describe(value: Any) -> str:
    """A number, an expression or a prior as short text: ``lognormal(median=2, sigma=0.2)``."""
    if value is None:
        return ""
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | float):
        return f"{value:g}"
    fields = value.model_dump(exclude_none=True)
    dist = fields.pop("dist", "?")
    parts = []
    for k, v in fields.items():
        if isinstance(v, list | tuple):
            v = "[" + ", ".join(f"{x:g}" for x in v) + "]"
        elif isinstance(v, int | float):
            v = f"{v:g}"
        parts.append(f"{k}={v}")
    return f"{dist}({', '.join(parts)})"


def edge_key(spec: Spec, eid: str) -> tuple[str, str, str, str]:
    """(from, to, sign, mode) of an edge: what two theories are compared by."""
    e = spec.edges[eid]
    return (e.from_, e.to, e.sign, e.mode)


def differing_edges(a: Spec, b: Spec) -> dict[str, set[str]]:
    """Edge ids of `a` that `b` lacks, whose sign differs, or whose weight prior differs.

    Returns
    -------
    dict
        ``{"missing": ids of a with no link from->to in b, "sign": ids of a whose link
        has the other sign in b, "weight": ids of a with the same link and sign but
        another weight prior}``.
    """
    in_b: dict[tuple[str, str, str], list[Any]] = {}
    for e in b.edges.values():
        in_b.setdefault((e.from_, e.to, e.mode), []).append(e)
    out: dict[str, set[str]] = {"missing": set(), "sign": set(), "weight": set()}
    for eid, e in a.edges.items():
        same = in_b.get((e.from_, e.to, e.mode), [])
        if not same:
            out["missing"].add(eid)
        elif all(o.sign != e.sign for o in same):
            out["sign"].add(eid)
        elif all(_describe(o.weight) != _describe(e.weight) for o in same if o.sign == e.sign):
            out["weight"].add(eid)
    return out


def _group_layout(g: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """The arrangement `fitts diagram` draws (layout units): modules on a circle, each module's
    states on a small circle around its place, inputs on an outer ring facing the states they drive.

    Written here rather than imported, because importing :mod:`fitts.plot` loads matplotlib and
    every figure module, which would delay the workbench's first page by seconds.
    """
    states = [n for n, k in g.nodes(data="kind") if k == "state"]
    inputs = [n for n, k in g.nodes(data="kind") if k == "input"]
    groups: dict[str | None, list[str]] = {}
    for n in states:
        groups.setdefault(g.nodes[n]["group"], []).append(n)
    pos: dict[str, tuple[float, float]] = {}
    if len(groups) <= 1:
        for i, n in enumerate(states):
            a = 2 * math.pi * i / max(len(states), 1) + math.pi / 2
            pos[n] = (math.cos(a), math.sin(a))
    else:
        k = len(groups)
        for gi, members in enumerate(groups.values()):
            a = 2 * math.pi * gi / k + math.pi / 2
            r = 0.0 if len(members) == 1 else min(0.12 + 0.045 * len(members), math.pi / k * 0.8)
            for j, n in enumerate(members):
                b = a + math.pi / 2 + 2 * math.pi * j / len(members)
                pos[n] = (math.cos(a) + r * math.cos(b), math.sin(a) + r * math.sin(b))
    angles = []
    for n in inputs:
        xs = [pos[v] for _, v in g.out_edges(n) if v in pos]
        vx, vy = sum(p[0] for p in xs), sum(p[1] for p in xs)
        angles.append(math.atan2(vy, vx) if (vx or vy) else 0.0)
    min_gap = 2 * math.pi / max(len(inputs), 1) * 0.6 if inputs else 0.0
    placed: list[float] = []
    for idx in sorted(range(len(inputs)), key=lambda i: angles[i]):
        a = angles[idx]
        if placed and a - placed[-1] < min_gap:
            a = placed[-1] + min_gap
        placed.append(a)
        pos[inputs[idx]] = (1.75 * math.cos(a), 1.75 * math.sin(a))
    return pos


def layout(specs: Iterable[Spec]) -> dict[str, tuple[float, float]]:
    """Positions (pixels) of every node of the given theories, on their union graph."""
    g = nx.MultiDiGraph()
    for s in specs:
        g = nx.compose(g, signed_graph(s))
    out = {}
    for n, (x, y) in _group_layout(g).items():
        pull = _INPUT_RING if g.nodes[n].get("kind") == "input" else 1.0  # inputs closer in: a tighter picture
        out[n] = (x * _SCALE * pull, -y * _SCALE * pull)
    return out


def elements(spec: Spec, positions: dict[str, tuple[float, float]] | None = None,
             differs: dict[str, set[str]] | None = None) -> list[dict[str, Any]]:
    """Cytoscape.js elements of a theory: modules (compound), states, inputs, signed edges.

    Parameters
    ----------
    positions
        Node positions in pixels (default: :func:`layout` of this theory alone).
    differs
        Output of :func:`differing_edges` against another theory; those edges get the
        class ``differs`` and a ``differs`` field saying how.

    Returns
    -------
    list of dict
        Cytoscape elements (``group`` nodes/edges, ``data``, ``classes``, ``position``).
    """
    pos = positions or layout([spec])
    els: list[dict[str, Any]] = []
    groups: list[str] = []
    for node in spec.nodes.values():
        if node.group and node.group not in groups:
            groups.append(node.group)
    for grp in groups:
        els.append({"group": "nodes", "data": {"id": f"module:{grp}", "label": grp, "kind": "module"},
                    "classes": "module"})
    for name, node in spec.nodes.items():
        data = {"id": name, "label": (node.label or name).replace("_", " "), "kind": "state",
                "module": node.group or "", "source": node.source or "", "doi": doi_url(node.source) or ""}
        if node.group:
            data["parent"] = f"module:{node.group}"
        x, y = pos.get(name, (0.0, 0.0))
        els.append({"group": "nodes", "data": data, "classes": "state", "position": {"x": x, "y": y}})
    for name, inp in spec.inputs.items():
        x, y = pos.get(name, (0.0, 0.0))
        els.append({"group": "nodes", "data": {"id": name, "label": (inp.label or name).replace("_", " "),
                                               "kind": "input", "units": inp.units},
                    "classes": "input", "position": {"x": x, "y": y}})
    how = {}
    for kind, ids in (differs or {}).items():
        for eid in ids:
            how[eid] = kind
    for eid, e in spec.edges.items():
        data = {"id": eid, "source": e.from_, "target": e.to, "sign": e.sign, "mode": e.mode,
                "label": e.label or f"{e.from_} {'raises' if e.sign == '+' else 'lowers'} {e.to}",
                "weight": _describe(e.weight), "citation": e.source or "", "doi": doi_url(e.source) or "",
                "grade": e.grade or "", "note": e.note or ""}
        classes = ["plus" if e.sign == "+" else "minus"]
        if eid in how:
            data["differs"] = how[eid]
            classes.append("differs")
        els.append({"group": "edges", "data": data, "classes": " ".join(classes)})
        if e.mode == "gating" and e.gate:
            gid = gate_edge_id(eid, e.gate)
            els.append({"group": "edges", "data": {**data, "id": gid, "source": e.gate,
                                                   "label": f"{e.gate} gates {eid}"},
                        "classes": " ".join([*classes, "gate"])})
    return els


def loop_rows(spec: Spec, loops: list[Loop] | None = None) -> list[dict[str, Any]]:
    """The feedback loops of a theory as rows: index K (as in `fitts loops`), polarity, path, edges."""
    rows = []
    for k, lp in enumerate(loops if loops is not None else elementary_loops(spec)):
        rows.append({"k": k, "polarity": lp.polarity, "mark": "R" if lp.polarity == "reinforcing" else "B",
                     "length": lp.length, "path": " → ".join((*lp.nodes, lp.nodes[0])),
                     "nodes": list(lp.nodes), "edges": list(lp.edges)})
    return rows


def edge_diff_rows(a: Spec, b: Spec) -> list[dict[str, str]]:
    """Links that differ between two theories: only in one, other sign, or other weight prior."""
    rows = []
    da, db = differing_edges(a, b), differing_edges(b, a)
    for spec, other, diff, side in ((a, b, da, a.name), (b, a, db, b.name)):
        for eid in spec.edges:
            e = spec.edges[eid]
            if eid in diff["missing"]:
                rows.append({"link": eid, "how": f"only in {side}", "sign": e.sign,
                             "weight": _describe(e.weight), "grade": e.grade or ""})
            elif eid in diff["sign"] and spec is a:
                rows.append({"link": eid, "how": f"sign {e.sign} in {a.name}, other sign in {b.name}",
                             "sign": e.sign, "weight": _describe(e.weight), "grade": e.grade or ""})
            elif eid in diff["weight"] and spec is a:
                o = [x for x in other.edges.values() if (x.from_, x.to, x.mode, x.sign) ==
                     (e.from_, e.to, e.mode, e.sign)]
                rows.append({"link": eid, "how": "weight prior differs", "sign": e.sign,
                             "weight": f"{_describe(e.weight)} vs {_describe(o[0].weight)}" if o else "",
                             "grade": e.grade or ""})
    return rows
