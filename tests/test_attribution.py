"""Loop and mechanism knock-outs on a model whose answer is known per patient."""

from __future__ import annotations

import numpy as np
import pytest

import fitts
from fitts.analysis.attribution import attribute, group_cuts, specific_edges, sufficiency_cut
from fitts.analysis.graph import elementary_loops

# Two engines around pain: a central one (threat <-> pain) and a peripheral one
# (nociception <-> pain). The per-person switch `central` (Bernoulli) gives each patient
# exactly one engine: the return edge of the other engine has weight 0. Each engine alone
# is bistable (high state: drive -3 + 6 * 0.95 > 0). The stressor excites both engines.
# Known answer: every ill patient with central = 1 is cured by cutting the central loop
# and not by cutting the peripheral one; the reverse for central = 0.
TWO_ENGINES = """
name: two_engines
inputs:
  psychosocial_stress: {units: a.u.}
parameters:
  central: {prior: {dist: bernoulli, p: 0.5}, source: test}
nodes:
  threat: {tau: 1.0, baseline: -3.0, group: emotion}
  nociception: {tau: 1.0, baseline: -3.0, group: peripheral}
  pain: {tau: 1.0, baseline: -3.0, group: symptom}
edges:
  - {from: psychosocial_stress, to: threat, sign: '+', weight: 3.0}
  - {from: psychosocial_stress, to: nociception, sign: '+', weight: 3.0}
  - {from: threat, to: pain, sign: '+', weight: 6.0}
  - {from: nociception, to: pain, sign: '+', weight: 6.0}
  - {from: pain, to: threat, sign: '+', weight: "6 * central"}
  - {from: pain, to: nociception, sign: '+', weight: "6 * (1 - central)"}
"""


@pytest.fixture(scope="module")
def model():
    return fitts.compile_model(fitts.load_model_text(TWO_ENGINES, "two_engines.yaml"))


@pytest.fixture(scope="module")
def result(model):
    return attribute(model, 24, seed=3, backend="numpy", follow_days=200.0, settle_days=50.0)


def test_every_patient_is_tipped_and_held(model, result) -> None:
    assert result.n_sampled == 24 and result.n_ill == 24
    assert (result.patients["pain"] > 0.8).all()
    assert not (result.patients["subtype"] == "transient").any()


def test_cutting_one_loop_cures_exactly_its_patients(model, result) -> None:
    central = fitts.sample_parameters(model, 24, 3)[model.param_index["central"]] == 1.0
    assert 0 < central.sum() < 24
    loops = {str(lp): k for k, lp in enumerate(elementary_loops(model.spec))}
    k_central = loops["R2: threat -> pain -> threat"]
    k_periph = loops["R2: nociception -> pain -> nociception"]
    df = result.patients.set_index("patient").loc[np.arange(24)]
    nec = df["necessary_loops"].str.split(";")
    cured_by_central = nec.apply(lambda ks: str(k_central) in ks).to_numpy()
    cured_by_periph = nec.apply(lambda ks: str(k_periph) in ks).to_numpy()
    np.testing.assert_array_equal(cured_by_central, central)
    np.testing.assert_array_equal(cured_by_periph, ~central)
    # each engine alone sustains its own patients
    suf = df["sufficient_loops"].str.split(";")
    np.testing.assert_array_equal(suf.apply(lambda ks: str(k_central) in ks).to_numpy(), central)
    np.testing.assert_array_equal(df["subtype"].to_numpy() == "central-dominant", central)
    np.testing.assert_array_equal(df["subtype"].to_numpy() == "peripheral-dominant", ~central)
    shares = result.shares
    assert shares["central-dominant"] == pytest.approx(central.mean())
    assert shares.sum() == pytest.approx(1.0)
    loops_df = result.loops.set_index("loop")
    assert loops_df.loc[k_central, "necessary_share"] == pytest.approx(central.mean())


def test_cut_definitions(model) -> None:
    cuts = group_cuts(model)
    assert cuts["emotional"] == {"pain -> threat"}
    assert cuts["peripheral"] == {"pain -> nociception"}
    assert "autonomic" not in cuts
    loops = elementary_loops(model.spec)
    # tie (each edge on one loop): the first edge along the loop
    assert specific_edges(model, loops) == ["threat -> pain", "nociception -> pain"]
    # sufficiency of the central loop: every other state edge is cut
    assert sufficiency_cut(model, loops[0]) == {"nociception -> pain", "pain -> nociception"}


def test_healthy_population_has_no_one_to_attribute(model) -> None:
    res = attribute(model, 4, seed=0, backend="numpy", params={"weight.psychosocial_stress -> threat": 0.0,
                                                                "weight.psychosocial_stress -> nociception": 0.0},
                    follow_days=50.0, settle_days=25.0)
    assert res.n_ill == 0 and res.patients.empty
    assert np.isnan(res.shares).all()


def test_bad_settings_are_model_errors(model) -> None:
    with pytest.raises(fitts.ModelError, match="multiple of 5"):
        attribute(model, 2, backend="numpy", follow_days=52.0, settle_days=20.0)
    with pytest.raises(fitts.ModelError, match="no state 'fatigue'"):
        attribute(model, 2, backend="numpy", readout="fatigue")
