"""Loop table: polarity, gating, theory containment by (source, target, sign), loop gains."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import fitts
from fitts.analysis.loops import loop_table

# Known answer: 4 loops.
#   K0 a -> a          (-)      balancing, length 1
#   K1 a -> b -> a     (+ -)    balancing, length 2
#   K2 b -> c -> b     (+ +)    reinforcing, length 2
#   K3 a -> c -> b -> a, where a gates u -> c: (+ + -) balancing, length 3, has_gating
KNOWN = """
name: known
nodes:
  a: {tau: 1.0}
  b: {tau: 2.0}
  c: {tau: 1.0}
inputs:
  u: {units: a.u.}
edges:
  - {from: a, to: a, sign: '-', weight: -1.0}
  - {from: a, to: b, sign: '+', weight: 2.0}
  - {from: b, to: a, sign: '-', weight: -1.0}
  - {from: b, to: c, sign: '+', weight: 1.0}
  - {from: c, to: b, sign: '+', weight: 1.0}
  - {from: u, to: c, sign: '+', weight: 1.0, mode: gating, gate: a}
"""

# Another theory with different edge ids: has b -> c (+) and c -> b (+) under other names,
# and a -> b with the opposite sign.
OTHER = """
name: other
nodes:
  a: {tau: 1.0}
  b: {tau: 1.0}
  c: {tau: 1.0}
edges:
  - {name: forward, from: b, to: c, sign: '+', weight: 1.0}
  - {name: back, from: c, to: b, sign: '+', weight: 3.0}
  - {name: flipped, from: a, to: b, sign: '-', weight: -2.0}
  - {from: b, to: a, sign: '-', weight: -1.0}
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "known.yaml").write_text(KNOWN)
    (tmp_path / "other.yaml").write_text(OTHER)
    return tmp_path / "known.yaml", tmp_path / "other.yaml"


def test_known_cycles_polarity_length_and_gating(files) -> None:
    spec = fitts.load_model(files[0])
    df = loop_table(spec, theories=())
    got = {(row.nodes, row.polarity, row.length, row.has_gating) for row in df.itertuples()}
    assert got == {
        ("a -> a", "balancing", 1, False),
        ("a -> b -> a", "balancing", 2, False),
        ("b -> c -> b", "reinforcing", 2, False),
        ("a -> c -> b -> a", "balancing", 3, True),
    }
    assert list(df["loop"]) == list(range(4))
    assert df.loc[df.nodes == "a -> c -> b -> a", "edges"].item() == \
        "u -> c [gate a]; c -> b; b -> a"


def test_containment_compares_links_not_ids(files) -> None:
    spec = fitts.load_model(files[0])
    df = loop_table(spec, theories=[str(files[0]), str(files[1])]).set_index("nodes")
    k, o = str(files[0]), str(files[1])
    assert df.loc["b -> c -> b", "theories"] == f"{k},{o}"          # same links, other ids
    assert df.loc["a -> b -> a", "theories"] == k                    # a -> b has the other sign
    assert df.loc["a -> c -> b -> a", "theories"] == k               # other has no gate link
    assert df.loc["a -> a", "theories"] == k


def test_builtin_theories_contain_their_own_loops() -> None:
    df = loop_table(fitts.load_model("sympathetic_drg"))
    assert len(df) == 35
    assert (df["polarity"] == "balancing").sum() == 3
    assert df["theories"].str.contains("sympathetic_drg").all()
    assert df["theories"].str.contains("integrated").all()
    # six loops (pain and sleep, pain and descending inhibition, activity and fatigue, and
    # three through descending inhibition) are shared with FITTS
    assert df["theories"].str.contains("fitts").sum() == 6


def test_loop_gain_at_an_operating_point(files) -> None:
    spec = fitts.load_model(files[0])
    df = loop_table(spec, theories=(), point={"a": 0.0, "b": 0.0, "c": 0.0}).set_index("nodes")
    # baselines 0: sigmoid'(0) = 1/4 at every node (drive 0); link gain = w * 1/4 / tau_target
    assert df.loc["a -> a", "gain"] == pytest.approx(-1 * 0.25 / 1.0)
    assert df.loc["b -> c -> b", "gain"] == pytest.approx((1 * 0.25 / 1.0) * (1 * 0.25 / 2.0))
    assert df.loc["a -> b -> a", "gain"] == pytest.approx((2 * 0.25 / 2.0) * (-1 * 0.25 / 1.0))
    # the gate link a -> c carries w * u with the input u at its default 0
    assert df.loc["a -> c -> b -> a", "gain"] == 0.0
    with pytest.raises(fitts.ModelError, match="neither a state nor a parameter"):
        loop_table(spec, theories=(), point={"zz": 1.0})
    assert math.isfinite(df["gain"].sum())
