"""Model loading: composition, and every error naming file, line, entry and remedy."""

from __future__ import annotations

from pathlib import Path

import pytest

from fitts import ModelError, load_model, load_model_text
from fitts.spec.load import models_dir
from tests.helpers import TWO_NODE, write


def test_loads_and_hash_is_content_only(tmp_path: Path) -> None:
    a = load_model(write(tmp_path, "a.yaml", TWO_NODE))
    b = load_model(write(tmp_path, "b.yaml", "# a comment\n" + TWO_NODE))
    assert list(a.nodes) == ["a", "b"]
    assert set(a.edges) == {"a -> b", "b -> a", "stress -> a"}
    assert a.content_hash == b.content_hash
    c = load_model_text(TWO_NODE.replace("baseline: -1.0", "baseline: -1.5"))
    assert c.content_hash != a.content_hash


def test_spec_is_read_only(tmp_path: Path) -> None:
    spec = load_model(write(tmp_path, "a.yaml", TWO_NODE))
    with pytest.raises(TypeError, match="does not support item assignment"):
        spec.nodes["c"] = spec.nodes["a"]  # type: ignore[index]


def test_include_exclude_override(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", TWO_NODE)
    top = write(tmp_path, "top.yaml", """
includes:
  - path: base.yaml
    exclude: {edges: ['b -> a']}
    override: {nodes: {a: {tau: 3.0}}, edges: {'a -> b': {weight: 1.0}}}
nodes:
  c: {tau: 1.0}
edges:
  - {from: c, to: a, sign: '+', weight: 0.5}
""")
    spec = load_model(top)
    assert set(spec.nodes) == {"a", "b", "c"}
    assert "b -> a" not in spec.edges
    assert spec.nodes["a"].tau == 3.0
    assert spec.edges["a -> b"].weight == 1.0
    assert spec.nodes["b"].tau == "2*k"


def test_exclude_node_removes_its_edges(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", TWO_NODE)
    spec = load_model(write(tmp_path, "top.yaml",
                            "includes: [{path: base.yaml, exclude: {nodes: [b], interventions: [cut]}}]\n"))
    assert set(spec.edges) == {"stress -> a"}


def test_diamond_include_is_not_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", TWO_NODE)
    write(tmp_path, "l.yaml", "includes: [{path: base.yaml}]\n")
    write(tmp_path, "r.yaml", "includes: [{path: base.yaml}]\n")
    spec = load_model(write(tmp_path, "top.yaml", "includes: [{path: l.yaml}, {path: r.yaml}]\n"))
    assert len(spec.nodes) == 2


BAD = [
    ("yaml syntax", "nodes:\n  a: {tau: 1\n", r"bad\.yaml:\d+.*YAML syntax error"),
    ("lone minus", "nodes:\n  a: {}\nedges:\n  - from: a\n    to: a\n    sign: -\n    weight: -1\n",
     r"(?s)bad\.yaml:6: YAML syntax error.*quote it"),
    ("unknown node", TWO_NODE.replace("edges:\n", "edges:\n  - {from: a, to: bb, sign: '+', weight: 1}\n"),
     r"bad\.yaml:\d+, edge 'a -> bb': unknown node 'bb'\. Did you mean 'b'"),
    ("duplicate node", "nodes:\n  a: {}\n  a: {tau: 2}\n", r"bad\.yaml:3.*duplicate name 'a'"),
    ("duplicate across sections", "nodes:\n  a: {}\nparameters:\n  a: {value: 1}\n",
     r"duplicate name 'a'"),
    ("duplicate edge", "nodes:\n  a: {}\n  b: {}\nedges:\n"
     "  - {from: a, to: b, sign: '+', weight: 1}\n  - {from: a, to: b, sign: '+', weight: 2}\n",
     r"bad\.yaml:6, edge 'a -> b': duplicate edge"),
    ("tau zero", "nodes:\n  a: {tau: 0}\n", r"node 'a': tau: time constant tau must be > 0"),
    ("tau prior negative", "nodes:\n  a: {tau: {dist: normal, mean: 1, sd: 0.5}}\n",
     r"tau must be > 0 days, but can be -inf"),
    ("sign contradiction", "nodes:\n  a: {}\n  b: {}\nedges:\n"
     "  - {from: a, to: b, sign: '-', weight: {dist: lognormal, median: 1, sigma: 0.2}}\n",
     r"bad\.yaml:5, edge 'a -> b': weight prior contradicts the declared sign '-'"),
    ("prior outside bounds", "nodes:\n  a: {}\nparameters:\n"
     "  k: {prior: {dist: uniform, low: 0, high: 2}, bounds: [0, 1]}\n",
     r"parameter 'k'.*prior must lie in \[0, 1\] but can be \[0, 2\]"),
    ("bad prior parameter", "nodes:\n  a: {}\nparameters:\n  k: {prior: {dist: normal, mean: 0, sd: -1}}\n",
     r"parameter 'k': prior.*sd.*greater than 0"),
    ("unknown prior", "nodes:\n  a: {}\nparameters:\n  k: {prior: {dist: cauchy, loc: 0}}\n",
     r"(?s)parameter 'k': prior: Input tag 'cauchy'.*dist: fixed\|uniform"),
    ("unknown field", "nodes:\n  a: {tua: 1}\n", r"unknown field 'tua'\. Did you mean 'tau'"),
    ("bad expression", "nodes:\n  a: {rate: 'a ^ 2'}\n", r"(?s)node 'a'\.rate: operator BitXor.*use \*\* for powers"),
    ("injection", "nodes:\n  a: {rate: \"__import__('os').system('echo hi')\"}\n",
     r"node 'a'\.rate"),
    ("attribute", "nodes:\n  a: {rate: 'a.__class__'}\n", r"(?s)node 'a'\.rate: Attribute syntax.*attribute access"),
    ("lambda", "nodes:\n  a: {rate: '(lambda: 1)()'}\n", r"node 'a'\.rate"),
    ("comprehension", "nodes:\n  a: {rate: '[x for x in range(3)]'}\n", r"node 'a'\.rate"),
    ("unknown name in rate", "nodes:\n  a: {rate: '-aa'}\n", r"unknown name 'aa'.*Did you mean 'a'"),
    ("param cycle", "nodes:\n  a: {}\nparameters:\n  p: {value: 'q + 1'}\n  q: {value: '2*p'}\n",
     r"cycle: (p -> q -> p|q -> p -> q)"),
    ("reserved name", "nodes:\n  exp: {}\n", r"'exp' is reserved"),
    ("rate ignores edges", "nodes:\n  a: {}\n  b: {rate: '-b'}\nedges:\n"
     "  - {from: a, to: b, sign: '+', weight: 1}\n", r"use `drive`"),
    ("gating without gate", "nodes:\n  a: {}\n  b: {}\nedges:\n"
     "  - {from: a, to: b, sign: '+', weight: 1, mode: gating}\n", r"needs `gate: NODE`"),
    ("unknown gate", "nodes:\n  a: {}\n  b: {}\nedges:\n"
     "  - {from: a, to: b, sign: '+', weight: 1, mode: gating, gate: c}\n", r"unknown node 'c'"),
    ("clamp unknown", "nodes:\n  a: {}\ninterventions:\n  x: {actions: [{clamp: b, value: 1}]}\n",
     r"intervention 'x': unknown node 'b'"),
    ("shift unknown", "nodes:\n  a: {}\ninterventions:\n  x: {actions: [{shift: tau.b, by: 1}]}\n",
     r"unknown parameter 'tau\.b'\. Did you mean 'tau\.a'"),
    ("not a mapping", "- a\n- b\n", r"must be a mapping"),
    ("empty", "name: x\n", r"no nodes"),
]


@pytest.mark.parametrize(("case", "text", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_models_raise_model_error(tmp_path: Path, case: str, text: str, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        load_model(write(tmp_path, "bad.yaml", text))


def test_missing_include(tmp_path: Path) -> None:
    p = write(tmp_path, "top.yaml", "includes: [{path: bsae.yaml}]\n")
    write(tmp_path, "base.yaml", TWO_NODE)
    with pytest.raises(ModelError, match=r"top\.yaml:1, includes #1: include: file 'bsae\.yaml' "
                                         r"does not exist.*Did you mean 'base\.yaml'"):
        load_model(p)


def test_include_cycle_names_the_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "includes: [{path: b.yaml}]\nnodes: {x: {}}\n")
    write(tmp_path, "b.yaml", "includes: [{path: a.yaml}]\n")
    with pytest.raises(ModelError, match=r"include cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_model(tmp_path / "a.yaml")


def test_override_unknown_entry(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", TWO_NODE)
    p = write(tmp_path, "top.yaml", "includes: [{path: base.yaml, override: {nodes: {c: {tau: 1}}}}]\n")
    with pytest.raises(ModelError, match=r"override: the included module has no node 'c'"):
        load_model(p)


def test_redefining_included_entry_suggests_override(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", TWO_NODE)
    p = write(tmp_path, "top.yaml", "includes: [{path: base.yaml}]\nnodes:\n  a: {tau: 2}\n")
    with pytest.raises(ModelError, match=r"duplicate node 'a'.*\n.*use `override:`"):
        load_model(p)


def test_missing_file_and_builtin_names() -> None:
    with pytest.raises(ModelError, match=r"no model file or built-in theory named 'nope\.yaml'"):
        load_model("nope.yaml")


def test_example_model_loads() -> None:
    spec = load_model(models_dir() / "examples" / "mobile16.yaml")
    assert len(spec.nodes) == 16
    assert len(spec.edges) >= 40
    assert all(e.source and e.grade for e in spec.edges.values())
