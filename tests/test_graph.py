"""Signed causal graph and feedback loops against a model with known loops."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import pytest

import fitts
from fitts.analysis.graph import (
    Loop,
    elementary_loops,
    gate_edge_id,
    loop_count,
    signed_graph,
)
from fitts.spec.load import models_dir

# Known answer (6 loops, 3 reinforcing, 3 balancing):
#   c -> c                      (-)          balancing, length 1
#   a -> b -> a                 (+ -)        balancing, length 2
#   c -> d -> c via c_d_up      (+ +)        reinforcing, length 2
#   c -> d -> c via c_d_down    (- +)        balancing, length 2
#   a -> b -> c -> a            (+ + +)      reinforcing, length 3
#   a -> d -> c -> a, a gating d (+ + +)     reinforcing, length 3 (through the gate)
# The input u drives a and d and lies on no loop.
KNOWN = """
name: known_loops
nodes:
  a: {tau: 1.0, group: g1}
  b: {tau: 1.0, group: g1}
  c: {tau: 1.0, group: g2}
  d: {tau: 1.0, group: g2}
inputs:
  u: {units: a.u.}
edges:
  - {from: a, to: b, sign: '+', weight: 1.0}
  - {from: b, to: a, sign: '-', weight: -1.0}
  - {from: b, to: c, sign: '+', weight: 1.0}
  - {from: c, to: a, sign: '+', weight: 1.0}
  - {from: c, to: c, sign: '-', weight: -0.5}
  - {name: c_d_up, from: c, to: d, sign: '+', weight: 1.0}
  - {name: c_d_down, from: c, to: d, sign: '-', weight: -1.0}
  - {from: d, to: c, sign: '+', weight: 1.0}
  - {from: u, to: a, sign: '+', weight: 1.0}
  - {from: u, to: d, sign: '+', weight: 1.0, mode: gating, gate: a}
"""


@pytest.fixture(scope="module")
def spec() -> fitts.Spec:
    return fitts.load_model_text(KNOWN, "known.yaml")


def test_signed_graph_nodes_and_edges(spec: fitts.Spec) -> None:
    g = signed_graph(spec)
    assert isinstance(g, nx.MultiDiGraph)
    assert dict(g.nodes(data="kind")) == {"a": "state", "b": "state", "c": "state",
                                          "d": "state", "u": "input"}
    assert g.nodes["c"]["group"] == "g2"
    # 10 model edges + 1 structural gate edge
    assert g.number_of_edges() == 11
    assert g["b"]["a"]["b -> a"]["sign"] == -1
    assert set(g["c"]["d"]) == {"c_d_up", "c_d_down"}
    gate = g["a"]["d"][gate_edge_id("u -> d", "a")]
    assert gate["gating"] is True and gate["sign"] == 1 and gate["mode"] == "gating"
    assert g["u"]["d"]["u -> d"]["gating"] is False


def test_known_loops_and_polarities(spec: fitts.Spec) -> None:
    loops = elementary_loops(spec)
    found = Counter((lp.nodes, lp.polarity) for lp in loops)
    assert found == Counter({
        (("c",), "balancing"): 1,
        (("a", "b"), "balancing"): 1,
        (("c", "d"), "reinforcing"): 1,
        (("c", "d"), "balancing"): 1,
        (("a", "b", "c"), "reinforcing"): 1,
        (("a", "d", "c"), "reinforcing"): 1,
    })
    assert all(lp.length == len(lp.nodes) == len(lp.edges) for lp in loops)
    assert not any("u" in lp.nodes for lp in loops)


def test_parallel_edges_give_distinct_loops(spec: fitts.Spec) -> None:
    cd = {lp.edges: lp.polarity for lp in elementary_loops(spec) if lp.nodes == ("c", "d")}
    assert cd == {("c_d_up", "d -> c"): "reinforcing", ("c_d_down", "d -> c"): "balancing"}


def test_loop_through_gate_names_the_gate_edge(spec: fitts.Spec) -> None:
    (gated,) = [lp for lp in elementary_loops(spec) if lp.nodes == ("a", "d", "c")]
    assert gated.edges == (gate_edge_id("u -> d", "a"), "d -> c", "c -> a")
    assert str(gated) == "R3: a -> d -> c -> a"


def test_loop_order_is_stable(spec: fitts.Spec) -> None:
    loops = elementary_loops(spec)
    assert [lp.length for lp in loops] == sorted(lp.length for lp in loops)
    assert loops == elementary_loops(fitts.load_model_text(KNOWN, "known.yaml"))
    assert loops[0] == Loop(nodes=("c",), edges=("c -> c",), polarity="balancing", length=1)


def test_loop_count(spec: fitts.Spec) -> None:
    assert loop_count(spec) == {"total": 6, "reinforcing": 3, "balancing": 3}


def test_acyclic_model_has_no_loops() -> None:
    spec = fitts.load_model_text(
        "nodes:\n  a: {tau: 1.0}\n  b: {tau: 1.0}\n"
        "edges:\n  - {from: a, to: b, sign: '+', weight: 1.0}\n", "chain.yaml")
    assert elementary_loops(spec) == []
    assert loop_count(spec) == {"total": 0, "reinforcing": 0, "balancing": 0}


def test_demo_model_loops_are_consistent() -> None:
    spec = fitts.load_model(models_dir() / "examples" / "mobile16.yaml")
    g = signed_graph(spec)
    counts = loop_count(spec)
    assert counts["total"] == counts["reinforcing"] + counts["balancing"] > 0
    for lp in elementary_loops(spec)[:50]:
        sign = 1
        for u, v, eid in zip(lp.nodes, lp.nodes[1:] + lp.nodes[:1], lp.edges, strict=True):
            sign *= g[u][v][eid]["sign"]
        assert (sign > 0) == (lp.polarity == "reinforcing")
