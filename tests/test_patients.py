"""Which patient a single-patient analysis studies (fitts.analysis.patients)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fitts
from fitts.analysis import patients as patients_mod
from fitts.analysis.patients import _medoid, choose_patient, typical_ill_patient
from fitts.analysis.steady import steady_states
from fitts.errors import ModelError
from fitts.population.recruit import Screened
from fitts.sim.sample import sample_parameters, typical_parameters
from tests.test_steady import SWITCH


@pytest.fixture(scope="module")
def theory() -> fitts.CompiledModel:
    return fitts.compile_model(fitts.load_model("fitts"))


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FITTS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_median_predisposed_and_numbered_patients(theory) -> None:
    assert choose_patient(theory, "median").params == typical_parameters(theory)
    pre = choose_patient(theory, "predisposed")
    assert pre.params["early_adversity"] == 1.0 and "early_adversity" in pre.description
    p7 = choose_patient(theory, 7, seed=3)
    P = sample_parameters(theory, np.array([7]), 3)
    k = theory.param_index["pain_sensitivity"]
    assert p7.params["pain_sensitivity"] == pytest.approx(P[k, 0]) and p7.patient == 7


@pytest.mark.parametrize(("choice", "message"), [("typical", "unknown patient 'typical'"),
                                                  ("-2", "negative")])
def test_bad_choices_are_errors(theory, choice: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        choose_patient(theory, choice)


def test_a_model_without_cases_falls_back_to_the_median_and_says_why(tmp_path: Path) -> None:
    p = tmp_path / "switch.yaml"
    p.write_text(SWITCH)
    m = fitts.compile_model(fitts.load_model(p))
    chosen = choose_patient(m)
    assert chosen.choice == "median" and "not measurable" in chosen.description


def test_medoid_is_the_row_nearest_the_scaled_medians() -> None:
    P = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [9.0, 12.0]])
    assert _medoid(P) == 1  # nearest (1.5, 16) once each column is scaled by its spread


def test_typical_ill_patient_is_cached_per_model_and_seed(theory, cache: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    n_prior = len(theory.params)

    def fake_screen(model, ids, *, seed, population, recruitment, backend, progress=None):
        calls.append(len(ids))
        accepted = np.isin(ids, [3, 5, 8])
        params = np.tile(np.arange(n_prior, dtype=float), (int(accepted.sum()), 1))
        params[:, theory.param_index["pain_sensitivity"]] = [0.1, 0.5, 0.9][:len(params)]
        return Screened(ids, accepted, np.zeros(len(ids), int), params, np.zeros((len(params), theory.n_states)))

    monkeypatch.setattr(patients_mod, "screen", fake_screen)
    first = typical_ill_patient(theory, seed=4, candidates=20, chunk=10)
    assert first.patient == 5 and first.params["pain_sensitivity"] == 0.5 and calls == [10, 10]
    again = typical_ill_patient(theory, seed=4, candidates=20, chunk=10)
    assert again == first and calls == [10, 10]  # read from the cache, nothing simulated
    assert len(list((cache / "patients").glob("*.json"))) == 1
    (next((cache / "patients").glob("*.json"))).write_text("{not json")
    assert typical_ill_patient(theory, seed=4, candidates=20, chunk=10) == first  # damaged entry recomputed
    assert calls == [10, 10, 10, 10]


def test_no_case_among_the_candidates_is_an_error_with_a_way_out(theory, monkeypatch: pytest.MonkeyPatch) -> None:
    def none(model, ids, **kw):
        return Screened(ids, np.zeros(len(ids), bool), np.zeros(len(ids), int),
                        np.zeros((0, len(theory.params))), np.zeros((0, theory.n_states)))

    monkeypatch.setattr(patients_mod, "screen", none)
    with pytest.raises(ModelError, match="no typical ill patient") as exc:
        typical_ill_patient(theory, candidates=10, chunk=10)
    assert "--patient predisposed" in str(exc.value.hint)


@pytest.mark.slow
def test_the_typical_ill_patient_of_fitts_has_an_ill_attractor(theory) -> None:
    chosen = typical_ill_patient(theory, candidates=1000)
    df = steady_states(theory, chosen.params, {}, starts=64)
    assert "ill" in set(df["label"]) and "healthy" in set(df["label"])
    median = steady_states(theory, choose_patient(theory, "median").params, {}, starts=64)
    assert "ill" not in set(median["label"])
