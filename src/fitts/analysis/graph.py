"""The signed causal graph of a model and its feedback loops.

A model's edges form a signed directed multigraph. A *loop* (elementary cycle) is a
closed path through states that visits no state twice; its polarity is the product of
its edges' signs: *reinforcing* (+, a vicious circle) or *balancing* (-).

A gating edge ``a -> b`` gated by ``g`` adds ``w * x_a * x_g`` to the drive of ``b``; as
states are non-negative, ``g`` then acts on ``b`` with the edge's sign too. It therefore
contributes a second, structural edge ``g -> b`` (attribute ``gating=True``) whose id is
``"<edge id> [gate g]"`` (see :func:`gate_edge_id`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import networkx as nx

from fitts.spec.model import Spec

Polarity = Literal["reinforcing", "balancing"]


def gate_edge_id(edge_id: str, gate: str) -> str:
    """Id of the structural edge ``gate -> target`` contributed by a gating edge."""
    return f"{edge_id} [gate {gate}]"


@dataclass(frozen=True)
class Loop:
    """An elementary feedback loop through states.

    Attributes
    ----------
    nodes
        States in the order of the loop, starting at the one declared first in the model;
        the last node links back to the first.
    edges
        Edge ids along the loop: ``edges[i]`` goes from ``nodes[i]`` to ``nodes[i + 1]``
        (cyclically). Ids are model edge ids or gate edge ids (:func:`gate_edge_id`).
    polarity
        ``reinforcing`` when the product of the signs is +1, else ``balancing``.
    length
        Number of edges (= number of nodes).
    """

    nodes: tuple[str, ...]
    edges: tuple[str, ...]
    polarity: Polarity
    length: int

    def __str__(self) -> str:
        mark = "R" if self.polarity == "reinforcing" else "B"
        return f"{mark}{self.length}: " + " -> ".join((*self.nodes, self.nodes[0]))


def signed_graph(spec: Spec) -> nx.MultiDiGraph:
    """The model's signed causal graph.

    Parameters
    ----------
    spec
        A loaded model.

    Returns
    -------
    networkx.MultiDiGraph
        Nodes are the states (``kind='state'``) and inputs (``kind='input'``), with
        attributes ``group`` and ``label``. Every model edge is one graph edge keyed by its
        id, with attributes ``id``, ``sign`` (+1 or -1), ``mode`` and ``gating=False``; each
        gating edge also contributes ``gate -> target`` keyed by :func:`gate_edge_id`, with
        the same sign, ``mode='gating'`` and ``gating=True``. Every state or input a custom
        rate names directly is a link ``"source -> target [rate]"`` with ``mode='rate'`` and
        the sign declared in the node's ``signs:`` or derived from the rate
        (:mod:`fitts.analysis.rate_links`); the ids of those whose sign is unclear are in
        ``graph['unsigned_rate_links']``.
    """
    g = nx.MultiDiGraph(name=spec.name)
    for name, node in spec.nodes.items():
        g.add_node(name, kind="state", group=node.group, label=node.label or name)
    for name, inp in spec.inputs.items():
        g.add_node(name, kind="input", group=None, label=inp.label or name)
    for eid, edge in spec.edges.items():
        sign = 1 if edge.sign == "+" else -1
        g.add_edge(edge.from_, edge.to, key=eid, id=eid, sign=sign, mode=edge.mode, gating=False)
        if edge.mode == "gating" and edge.gate:
            gid = gate_edge_id(eid, edge.gate)
            g.add_edge(edge.gate, edge.to, key=gid, id=gid, sign=sign, mode="gating",
                       gating=True)
    if any(node.rate is not None for node in spec.nodes.values()):
        from fitts.analysis.rate_links import rate_links

        unsigned = []
        for link in rate_links(spec):
            if link.sign == 0:
                unsigned.append(link.id)
                continue
            g.add_edge(link.source, link.target, key=link.id, id=link.id, sign=link.sign, mode="rate",
                       gating=False)
        g.graph["unsigned_rate_links"] = unsigned
    return g


def _state_graph(spec: Spec) -> nx.MultiDiGraph:
    g = signed_graph(spec)
    return g.subgraph([n for n, kind in g.nodes(data="kind") if kind == "state"]).copy()


def _expand(g: nx.MultiDiGraph, cycle: list[str]) -> Iterator[tuple[tuple[str, ...], int]]:
    """Every choice of parallel edges along a node cycle: (edge ids, sign product)."""
    hops = [g[u][v] for u, v in zip(cycle, cycle[1:] + cycle[:1], strict=True)]
    for choice in itertools.product(*(sorted(h.items()) for h in hops)):
        sign = 1
        for _, data in choice:
            sign *= data["sign"]
        yield tuple(key for key, _ in choice), sign


def elementary_loops(spec: Spec) -> list[Loop]:
    """All elementary feedback loops among the states, with their polarity.

    Inputs have no incoming edges and cannot lie on a loop. Parallel edges between the
    same pair of states (for example one additive and one gating link) give distinct
    loops.

    Parameters
    ----------
    spec
        A loaded model.

    Returns
    -------
    list of Loop
        Sorted by length, then by the declaration order of their nodes, then by edge id;
        the order is stable, so an index into it names a loop (``--highlight-loop K``).
    """
    g = _state_graph(spec)
    order = {n: i for i, n in enumerate(spec.nodes)}
    loops: list[Loop] = []
    for cycle in nx.simple_cycles(nx.DiGraph(g)):
        start = min(range(len(cycle)), key=lambda i: order[cycle[i]])
        cycle = cycle[start:] + cycle[:start]
        for edges, sign in _expand(g, cycle):
            loops.append(Loop(nodes=tuple(cycle), edges=edges,
                              polarity="reinforcing" if sign > 0 else "balancing",
                              length=len(cycle)))
    loops.sort(key=lambda lp: (lp.length, [order[n] for n in lp.nodes], lp.edges))
    return loops


def loop_count(spec: Spec) -> dict[str, int]:
    """Number of elementary loops: ``{'total': ..., 'reinforcing': ..., 'balancing': ...}``."""
    loops = elementary_loops(spec)
    reinforcing = sum(lp.polarity == "reinforcing" for lp in loops)
    return {"total": len(loops), "reinforcing": reinforcing,
            "balancing": len(loops) - reinforcing}
