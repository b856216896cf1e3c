"""Custom rates become signed links: loops and the diagram see a model written with rates."""

from __future__ import annotations

import pytest

from fitts import ModelError, load_model_text
from fitts.analysis.graph import elementary_loops, loop_count, signed_graph
from fitts.analysis.rate_links import rate_links

PREDATION = """
name: predation
parameters:
  a: {value: 1.0}
  b: {value: 2.0}
auxiliaries:
  eaten: {expr: "b * prey * predator"}
nodes:
  prey: {rate: "a * prey * (1 - prey) - eaten"}
  predator: {rate: "0.5 * eaten - 0.3 * predator"}
  mood: {rate: "sin(6 * prey) - mood", bounds: [null, null]}
"""


def test_rate_dependencies_become_signed_links() -> None:
    links = {(lk.source, lk.target): lk for lk in rate_links(load_model_text(PREDATION))}
    assert links[("predator", "prey")].sign == -1  # through the auxiliary `eaten`
    assert links[("prey", "predator")].sign == +1
    assert links[("prey", "mood")].sign == 0  # sin changes sign over prey's bounds
    assert ("prey", "prey") not in links  # a rate's own state is its decay, not a link
    assert not any(lk.declared for lk in links.values())


def test_loops_count_the_rate_links() -> None:
    spec = load_model_text(PREDATION)
    loops = elementary_loops(spec)
    assert [(lp.nodes, lp.polarity) for lp in loops] == [(("prey", "predator"), "balancing")]
    assert loop_count(spec)["total"] == 1
    g = signed_graph(spec)
    assert g.graph["unsigned_rate_links"] == ["prey -> mood [rate]"]
    assert g["prey"]["predator"]["prey -> predator [rate]"]["mode"] == "rate"


def test_a_declared_sign_includes_an_unclear_link() -> None:
    text = PREDATION.replace('bounds: [null, null]}', "bounds: [null, null], signs: {prey: '+'}}")
    text = text.replace('"sin(6 * prey) - mood"', '"sin(6 * prey) - mood - predator"')
    spec = load_model_text(text)
    links = {(lk.source, lk.target): lk for lk in rate_links(spec)}
    assert links[("prey", "mood")].sign == 1 and links[("prey", "mood")].declared
    assert links[("predator", "mood")].sign == -1
    with pytest.raises(ModelError, match="declares the sign of 'predator', which its rate does not use"):
        load_model_text(PREDATION.replace('bounds: [null, null]}', "bounds: [null, null], signs: {predator: '-'}}"))
    with pytest.raises(ModelError, match="sign must be"):
        load_model_text(PREDATION.replace('bounds: [null, null]}', "bounds: [null, null], signs: {prey: up}}"))


def test_models_without_rates_have_no_rate_links() -> None:
    from fitts.spec.load import load_model

    spec = load_model("sympathetic_drg")
    assert rate_links(spec) == ()
    assert all(d["mode"] != "rate" for *_, d in signed_graph(spec).edges(keys=True, data=True))


def test_show_names_the_unsigned_rate_links(tmp_path) -> None:
    from tests.test_cli import fitts_cmd

    (tmp_path / "p.yaml").write_text(PREDATION)
    r = fitts_cmd("show", "p.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "feedback loops: 1 (0 reinforcing, 1 balancing)" in r.stdout
    assert "sign unclear" in r.stdout and "prey -> mood [rate]" in r.stdout
