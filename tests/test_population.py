"""Populations: Gaussian copula, prevalences, recruitment by simulation and selection."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fitts.errors import ModelError
from fitts.population.recruit import Recruitment, everyday_schedule, recruit, screen
from fitts.population.sample import PopulationSpec, population_overrides, predispositions, sample_population
from fitts.sim.sample import sample_parameters
from fitts.sim.simulate import as_compiled


@pytest.fixture(scope="module")
def fitts_model():
    return as_compiled("fitts")


def test_copula_correlates_normal_scores_and_keeps_marginals(fitts_model):
    spec = PopulationSpec(correlation=[("threat_bias", "pain_sensitivity", 0.6),
                                       ("soothing_bias", "threat_bias", -0.3)])
    df = sample_population(fitts_model, 20000, seed=4, spec=spec)
    z = {c: stats.norm.ppf(stats.rankdata(df[c]) / (len(df) + 1)) for c in ("threat_bias", "pain_sensitivity",
                                                                               "soothing_bias")}
    assert np.corrcoef(z["threat_bias"], z["pain_sensitivity"])[0, 1] == pytest.approx(0.6, abs=0.02)
    assert np.corrcoef(z["soothing_bias"], z["threat_bias"])[0, 1] == pytest.approx(-0.3, abs=0.02)
    # the prior of pain_sensitivity is normal(0, 0.4): the copula keeps it
    assert stats.kstest(df["pain_sensitivity"], stats.norm(0, 0.4).cdf).pvalue > 0.01
    # parameters outside the copula keep their independent draws, value for value
    plain = sample_population(fitts_model, 20000, seed=4)
    assert np.array_equal(df["early_adversity"], plain["early_adversity"])
    assert not np.array_equal(df["pain_sensitivity"], plain["pain_sensitivity"])


def test_prevalence_sets_the_share_of_carriers(fitts_model):
    df = sample_population(fitts_model, 20000, seed=1, spec=PopulationSpec({"early_adversity": 0.4}))
    assert df["early_adversity"].mean() == pytest.approx(0.4, abs=0.015)
    assert set(np.unique(df["early_adversity"])) == {0.0, 1.0}
    assert predispositions(fitts_model) == ["early_adversity"]


def test_population_values_depend_on_the_patient_only(fitts_model):
    spec = PopulationSpec({"early_adversity": 0.3}, [("threat_bias", "pain_sensitivity", 0.5)])
    ids = np.arange(100, 160)
    whole = population_overrides(fitts_model, spec, ids, seed=9)
    part = population_overrides(fitts_model, spec, ids[17:31], seed=9)
    for name, values in part.items():
        assert np.array_equal(values, whole[name][17:31])
    P = sample_parameters(fitts_model, ids, 9, whole)
    assert np.array_equal(P[fitts_model.param_index["threat_bias"]], whole["threat_bias"])


@pytest.mark.parametrize(("spec", "match"), [
    (PopulationSpec({"threat_bias": 0.2}), "needs a Bernoulli one"),
    (PopulationSpec({"early_adversity": 1.5}), r"must lie in \[0, 1\]"),
    (PopulationSpec(correlation=[("threat_bias", "pain_sensitivty", 0.2)]), "Did you mean 'pain_sensitivity'"),
    (PopulationSpec(correlation=[("threat_bias", "pain_sensitivity", 0.9), ("threat_bias", "soothing_bias", 0.9),
                                 ("pain_sensitivity", "soothing_bias", -0.9)]), "not positive definite"),
    (PopulationSpec(correlation=[("threat_bias", "threat_bias", 0.2)]), "itself"),
])
def test_bad_population_specs_are_explained(fitts_model, spec, match):
    with pytest.raises(ModelError, match=match):
        spec.matrix(fitts_model)


@pytest.mark.slow
def test_recruitment_selects_cases_and_controls(fitts_model):
    ev = tuple(everyday_schedule())
    pop = PopulationSpec({"early_adversity": 0.8})
    cases = Recruitment("cases", 182, 0.1, 7, ev)
    s = screen(fitts_model, np.arange(300), seed=5, population=pop, recruitment=cases, backend="numpy")
    controls = screen(fitts_model, np.arange(300), seed=5, population=pop,
                      recruitment=Recruitment("controls", 182, 0.1, 7, ev), backend="numpy")
    assert 0 < s.accepted.sum() < controls.accepted.sum() < 300
    assert not (s.accepted & controls.accepted).any()  # a case at the end was ill during the run-in
    # cases are in the ill state: far more pain at recruitment than controls
    pain = fitts_model.state_index["pain"]
    assert s.states[:, pain].mean() > controls.states[:, pain].mean() + 0.2
    # recruiting in different chunk sizes gives the same patients
    a = recruit(fitts_model, 6, seed=5, population=pop, recruitment=cases, chunk_size=40, backend="numpy")
    b = recruit(fitts_model, 6, seed=5, population=pop, recruitment=cases, chunk_size=97, backend="numpy")
    assert a.table.equals(b.table)
    assert a.screened == b.screened and 0 < a.acceptance_rate < 1
    k = min(6, len(s.ids))
    assert np.array_equal(a.table["patient"].to_numpy()[:k], s.ids[:k])


def test_recruitment_rules_are_checked(fitts_model):
    with pytest.raises(ModelError, match="whole number of recording intervals"):
        Recruitment("cases", 100, 0.1, 7).check(fitts_model)
    with pytest.raises(ModelError, match="unknown recruitment rule"):
        Recruitment("patients").check(fitts_model)
