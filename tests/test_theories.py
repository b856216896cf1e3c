"""Built-in theories: every published claim accounted for, sources and grades, predispositions."""

from __future__ import annotations

import numpy as np
import pytest

from fitts import compile_model, load_model, sample_parameters, simulate
from fitts.spec.claims import claim_coverage, load_claims
from fitts.spec.load import builtin_modules, builtin_theories

THEORIES = ("fitts", "sympathetic_drg", "integrated")


def test_builtin_theories_and_modules_are_listed() -> None:
    assert set(THEORIES) <= set(builtin_theories())
    assert {"emotion", "autonomic", "central", "peripheral", "sleep_behaviour", "observation",
            "stressors"} <= set(builtin_modules())


@pytest.mark.parametrize("name", THEORIES)
def test_every_claim_is_an_edge_or_an_explained_omission(name: str) -> None:
    cov = claim_coverage(load_model(name))
    problems = [f"{c.claim.from_} -> {c.claim.to}: {c.status} ({c.detail})" for c in cov
                if c.status not in ("edge", "omitted")]
    assert not problems, problems
    assert all(len(c.detail) > 10 for c in cov if c.status == "omitted")


def _signed(spec) -> set[tuple[str, str, str]]:
    return {(e.from_, e.to, e.sign) for e in spec.edges.values()}


def _additions(spec, rows) -> set[tuple[str, str, str]]:
    """Edges beyond the claims table; each must be a sourced, declared addition."""
    extra = {eid: e for eid, e in spec.edges.items() if (e.from_, e.to, e.sign) not in rows}
    for eid, e in extra.items():
        assert (e.note or "").startswith("added link") and e.source and e.grade, eid
    return {(e.from_, e.to, e.sign) for e in extra.values()}


def test_theories_assert_exactly_their_rows() -> None:
    """Each theory holds its rows of the claims table, plus only declared, sourced additions
    that every theory with both ends of the link shares."""
    claims = load_claims()
    rows = {(c.from_, c.to, c.sign): c for c in claims}
    specs = {name: load_model(name) for name in THEORIES}
    added = {name: _additions(spec, rows) for name, spec in specs.items()}
    # the additions are shared: each theory holds every addition whose two ends it has
    everywhere = set().union(*added.values())
    for name, spec in specs.items():
        ends = set(spec.nodes) | set(spec.inputs)
        assert added[name] == {a for a in everywhere if a[0] in ends and a[1] in ends}, name
    f = _signed(specs["fitts"]) - added["fitts"]
    m = _signed(specs["sympathetic_drg"]) - added["sympathetic_drg"]
    union = _signed(specs["integrated"]) - added["integrated"]
    assert f == {k for k, c in rows.items() if c.asserted_by("F")}
    assert {k for k, c in rows.items() if c.in_ == "M"} <= m
    assert m <= {k for k, c in rows.items() if c.asserted_by("M")}
    assert union == set(rows)


def test_sympathetic_drg_has_no_emotion_nodes() -> None:
    spec = load_model("sympathetic_drg")
    assert not {"threat", "soothing", "salience"} & set(spec.nodes)
    assert "drg" in spec.nodes and "drg" not in load_model("fitts").nodes


def test_gated_pain_edge() -> None:
    for name in THEORIES:
        edge = load_model(name).edges["nociception -> pain"]
        assert edge.mode == "gating" and edge.gate == "central_gain"


@pytest.mark.parametrize("name", THEORIES)
def test_every_edge_and_prior_is_sourced_and_graded(name: str) -> None:
    spec = load_model(name)
    for eid, e in spec.edges.items():
        assert e.source and e.grade, eid
    for pname, p in spec.parameters.items():
        if p.prior is not None:
            assert p.source and p.grade, pname


def test_predispositions_are_per_person_parameters() -> None:
    ids = np.arange(4000)
    fitts_m = compile_model(load_model("fitts"))
    P = sample_parameters(fitts_m, ids, seed=3)
    ea = P[fitts_m.param_index["early_adversity"]]
    assert abs(ea.mean() - 0.15) < 0.03
    base = P[fitts_m.param_index["baseline.threat"]]
    assert base[ea == 1].mean() > base[ea == 0].mean() + 1.0
    sooth = P[fitts_m.param_index["baseline.soothing"]]
    assert sooth[ea == 1].mean() < sooth[ea == 0].mean() - 1.0
    drg_m = compile_model(load_model("sympathetic_drg"))
    Q = sample_parameters(drg_m, ids, seed=3)
    nav = Q[drg_m.param_index["nav_variant"]]
    w = Q[drg_m.param_index["weight.sympathetic -> drg"]]
    assert 0.05 < nav.mean() < 0.15
    assert np.median(w[nav == 1]) > 1.5 * np.median(w[nav == 0])
    # a healthy (not predisposed) and a predisposed population come from the same theory
    healthy = sample_parameters(fitts_m, 500, seed=3, overrides={"early_adversity": 0.0})
    assert (healthy[fitts_m.param_index["early_adversity"]] == 0).all()


def test_integrated_mixes_central_and_peripheral_engines_per_person() -> None:
    m = compile_model(load_model("integrated"))
    P = sample_parameters(m, np.arange(2000), seed=1)
    share = P[m.param_index["central_share"]]
    central = P[m.param_index["weight.threat -> salience"]]
    peripheral = P[m.param_index["weight.drg -> nociception"]]
    assert np.corrcoef(share, central)[0, 1] > 0.5
    assert np.corrcoef(share, peripheral)[0, 1] < -0.5


@pytest.mark.parametrize("name", THEORIES)
def test_theories_simulate(name: str) -> None:
    ds = simulate(name, patients=30, days=60.0, backend="numpy", seed=1,
                  schedule=[{"input": "psychosocial_stress", "kind": "pulse", "start": 10,
                             "duration": 20, "level": 2.0}])
    assert int(ds.status.sum()) == 0
    assert np.isfinite(ds.trajectory.values).all()
