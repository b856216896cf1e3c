"""A table of a model's feedback loops: polarity, length, nodes, edges, gating, theories, gain.

A loop of one model is *contained* in another theory when that theory has every link of
the loop as a ``(source, target, sign)`` triple (edges are compared by the states they
join and their sign, never by their ids, which differ between files). A gate link
``g -> t`` counts as present when the theory has a gating edge into ``t`` gated by ``g``
with that sign.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from fitts.analysis.graph import Loop, elementary_loops, signed_graph
from fitts.compile.compiled import CompiledModel
from fitts.spec.load import builtin_theories
from fitts.spec.model import Spec

#: the built-in theories
THEORIES: tuple[str, ...] = tuple(builtin_theories())


def _triples(spec: Spec) -> dict[str, tuple[str, str, int]]:
    """Link id -> (source, target, sign) over the signed graph (model edges and gate links)."""
    g = signed_graph(spec)
    return {key: (u, v, int(d["sign"])) for u, v, key, d in g.edges(keys=True, data=True)}


def loop_table(spec: Spec, *, theories: Iterable[str] | None = None,
               point: Mapping[str, float] | None = None, model: CompiledModel | None = None
               ) -> pd.DataFrame:
    """One row per elementary loop of a model.

    Parameters
    ----------
    spec
        A loaded model.
    theories
        Names (or paths) of theories to check containment against; default: the built-in
        theories (:data:`THEORIES`). Pass ``()`` for none.
    point
        Optional operating point: state values and parameter values by name (missing
        parameters at their typical value, missing states at their initial value, inputs at
        their defaults). Adds the column ``gain`` (product of the link gains, (1/day)**length).
    model
        The compiled `spec` (compiled here when needed and not given).

    Returns
    -------
    pandas.DataFrame
        Columns ``loop`` (index, as in ``fitts loops``), ``polarity``, ``length``, ``nodes``
        and ``edges`` (`` -> `` and ``; `` joined text), ``has_gating`` (bool), ``theories``
        (comma-joined names of the theories containing the loop), optional ``gain``.
    """
    from fitts.spec.load import load_model

    loops = elementary_loops(spec)
    links = _triples(spec)
    names = list(THEORIES if theories is None else theories)
    others = {}
    for name in names:
        other = spec if name == spec.name else load_model(name)
        others[name] = set(_triples(other).values())
    rows = []
    for k, lp in enumerate(loops):
        trip = [links[e] for e in lp.edges]
        rows.append({
            "loop": k, "polarity": lp.polarity, "length": lp.length,
            "nodes": " -> ".join((*lp.nodes, lp.nodes[0])), "edges": "; ".join(lp.edges),
            "has_gating": any(e.endswith("]") and " [gate " in e for e in lp.edges),
            "theories": ",".join(n for n, have in others.items() if all(t in have for t in trip)),
        })
    df = pd.DataFrame(rows, columns=["loop", "polarity", "length", "nodes", "edges", "has_gating",
                                     "theories"])
    if point is not None:
        df["gain"] = loop_gains(model or _compile(spec), loops, point)
    return df


def _compile(spec: Spec) -> CompiledModel:
    from fitts.compile.compiled import compile_model

    return compile_model(spec)


def loop_gains(model: CompiledModel, loops: list[Loop], point: Mapping[str, Any]) -> np.ndarray:
    """Loop gains (products of link gains ∂f_target/∂x_source) at one operating point.

    Parameters
    ----------
    point
        State and parameter values by name; see :func:`loop_table`.

    Returns
    -------
    numpy.ndarray
        Shape (n_loops,), (1/day)**length.
    """
    from fitts.analysis.dominance import _link_gains
    from fitts.analysis.steady import parameter_vector
    from fitts.errors import ModelError, did_you_mean

    for name in point:
        if name not in model.state_index and name not in model.param_index:
            raise ModelError(f"operating point: {name!r} is neither a state nor a parameter."
                             + did_you_mean(name, [*model.states, *model.param_index]))
    P = parameter_vector(model, {k: float(v) for k, v in point.items() if k in model.param_index})[:, None]
    X = np.array([[float(point.get(s, P[model.param_index[f"initial.{s}"], 0]))]
                  for s in model.states])
    U = model.input_defaults[:, None]
    lg = _link_gains(model)
    G, _ = lg.func(X, U, P, np.zeros(1))
    idx = lg.index
    return np.array([float(np.prod([G[idx[e], 0] for e in lp.edges])) for lp in loops])
