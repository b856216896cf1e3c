"""Scenario discovery (fitts.analysis.discovery, `fitts discover`) on a known box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fitts
from fitts.analysis.discovery import discover, find_box
from fitts.errors import ModelError
from tests.test_cli_patient import run

#: the outcome is 1 exactly when a > 0.6 and b < 0.3 (c plays no part)
BOXED = """
fitts: 1
name: boxed
parameters:
  a: {prior: {dist: uniform, low: 0, high: 1}}
  b: {prior: {dist: uniform, low: 0, high: 1}}
  c: {prior: {dist: normal, mean: 0, sd: 1}}
nodes:
  y: {tau: 1.0, baseline: 0.0, noise: 0.0, initial: 0.0, bounds: [-.inf, .inf],
      rate: "1 if (a > 0.6 and b < 0.3) else 0"}
"""


def test_prim_recovers_a_known_box() -> None:
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.random(3000), "b": rng.random(3000), "c": rng.normal(size=3000)})
    y = ((x.a > 0.6) & (x.b < 0.3)).to_numpy()
    limits, stats, traj = find_box(x, y)
    box = limits.set_index("parameter")
    assert box.loc["a", "min"] == pytest.approx(0.6, abs=0.03)
    assert box.loc["b", "max"] == pytest.approx(0.3, abs=0.03)
    assert stats["density"] > 0.9 and stats["coverage"] > 0.8
    assert {"coverage", "density", "mass"} <= set(traj.columns)


def test_discovery_through_a_model_finds_the_box_of_its_rate(tmp_path: Path) -> None:
    (tmp_path / "boxed.yaml").write_text(BOXED)
    m = fitts.compile_model(fitts.load_model(tmp_path / "boxed.yaml"))
    d = discover(m, outcome="state:y", threshold=0.5, patients=3000, days=1.0, dt=1.0, backend="numpy")
    box = d.box.set_index("parameter")
    assert set(box.index) == {"a", "b"}  # c plays no part, so it is not restricted
    assert box.loc["a", "min"] == pytest.approx(0.6, abs=0.03)
    assert box.loc["b", "max"] == pytest.approx(0.3, abs=0.03)
    assert d.base_rate == pytest.approx(0.4 * 0.3, abs=0.03)
    assert d.density > 0.9 and d.coverage > 0.8


def test_errors(tmp_path: Path) -> None:
    (tmp_path / "boxed.yaml").write_text(BOXED)
    m = fitts.compile_model(fitts.load_model(tmp_path / "boxed.yaml"))
    with pytest.raises(ModelError, match="continuous: give a threshold"):
        discover(m, outcome="state:y", patients=50, days=1.0, dt=1.0, backend="numpy")
    with pytest.raises(ModelError, match="same outcome"):
        discover(m, outcome="state:y", threshold=5.0, patients=50, days=1.0, dt=1.0, backend="numpy")


def test_the_command_writes_box_trajectory_and_figure(tmp_path: Path, capsys) -> None:
    (tmp_path / "boxed.yaml").write_text(BOXED)
    code, out, err = run(capsys, "discover", tmp_path / "boxed.yaml", "--outcome", "state:y", "--threshold", "0.5",
                         "--patients", "2000", "--days", "1", "--dt", "1", "--backend", "numpy",
                         "--out", tmp_path / "d")
    assert code == 0, err
    assert "coverage" in out
    box = pd.read_csv(tmp_path / "d" / "box.csv")
    assert set(box["parameter"]) == {"a", "b"}
    assert (tmp_path / "d" / "discovery.png").stat().st_size > 0


# ---------------------------------------------------------------------- subtypes and treatment response
@pytest.mark.slow
def test_the_box_of_an_attribution_subtype() -> None:
    from fitts.analysis.discovery import discover_subtype

    m = fitts.compile_model(fitts.load_model("integrated"))
    d = discover_subtype(m, patients=300, seed=0)
    # integrated's ill patients are central-dominant unless little of their gain is central
    assert d.settings["ill"] == d.patients + round(d.settings["shares"]["transient"] * d.settings["ill"])
    assert 0.5 < d.base_rate < 1.0
    assert d.density >= d.base_rate and len(d.box) >= 1
    box = d.box.set_index("parameter")
    assert "central_share" in box.index and box.loc["central_share", "min"] > box.loc["central_share", "prior_low"]


def test_subtype_errors() -> None:
    from fitts.analysis.discovery import discover_subtype

    m = fitts.compile_model(fitts.load_model("fitts"))
    with pytest.raises(ModelError, match="unknown subtype 'central'"):
        discover_subtype(m, subtype="central", patients=50)
    with pytest.raises(ModelError, match="no box separates the subtypes"):
        discover_subtype(m, patients=120, seed=0)  # every ill patient of fitts is central-dominant


def test_the_command_refuses_an_unknown_subtype(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "discover", "fitts", "--outcome", "subtype:central", "--out", tmp_path / "s")
    assert code == 2 and "unknown subtype 'central'" in err and "central-dominant" in err


def _response_trial(folder: Path) -> Path:
    from tests.trial_helpers import SMALL_TRIAL

    p = folder / "response.yaml"  # everyone recruited after 200 days of everyday life, some of them ill
    p.write_text(SMALL_TRIAL.format(patients=60).replace("run_in_days: 28", "run_in_days: 200\n  everyday: default"))
    return p


def test_individual_responses_and_their_box(tmp_path: Path) -> None:
    from fitts.trials.response import discover_response, individual_responses

    path = _response_trial(tmp_path)
    # responders: at least 10 % of the baseline NRS (and a point) below control; enough of them for a box
    d, r = discover_response(path, 240, fraction=0.1, backend="numpy")
    assert d.density > d.base_rate and len(d.box) >= 1
    p = r.patients
    assert r.arm == "snri" and r.fraction == 0.1 and len(p) == 240  # recruit: all
    np.testing.assert_allclose(p["effect"], p["nrs_control"] - p["nrs_treated"])
    rule = (p["effect"] >= 0.1 * p["nrs_baseline"]) & (p["effect"] >= 1)
    assert (p["responder"] == rule.astype(float)).all()
    assert (p["effect"] >= 0).all() and p["responder"].sum() >= 2  # an SNRI lowers pain, in some patients enough
    # a responder is better off treated than under control by at least a point
    assert (p.loc[p["responder"] == 1, "nrs_treated"] <= p.loc[p["responder"] == 1, "nrs_control"] - 1).all()
    again = individual_responses(path, 40, fraction=0.1, backend="numpy")
    pd.testing.assert_frame_equal(again.patients, p.iloc[:40])  # a patient's response is its own
    with pytest.raises(ModelError, match="control arm"):
        individual_responses(path, 10, arm="placebo", backend="numpy")
    with pytest.raises(ModelError, match="no arm 'snry'"):
        individual_responses(path, 10, arm="snry", backend="numpy")


def test_a_box_needs_enough_responders_and_non_responders(tmp_path: Path, monkeypatch) -> None:
    """A box peeled around a dozen responders describes them, not a group: refused, with what to do."""
    from fitts.trials import response

    path = _response_trial(tmp_path)
    real = response.individual_responses(path, 80, backend="numpy")
    for flag in (1.0, 0.0):  # nearly everybody responds / nearly nobody does
        few = real.patients.copy()
        few["responder"] = flag
        few.loc[few.index[:5], "responder"] = 1.0 - flag
        monkeypatch.setattr(response, "individual_responses",
                            lambda *a, few=few, **k: response.Responses(few, "snri", 0.3, 80, real.parameters, []))
        with pytest.raises(ModelError, match=r"only 5 of 80 recruits (do not )?respond: too few for a box") as exc:
            response.discover_response(path, 80, backend="numpy")
        assert "--patients" in exc.value.hint


def test_the_command_discovers_responders(tmp_path: Path, capsys) -> None:
    path = _response_trial(tmp_path)
    code, out, err = run(capsys, "discover", "fitts", "--outcome", "response", "--trial", path, "--patients", "80",
                         "--backend", "numpy", "--out", tmp_path / "few")
    assert code == 2 and "too few for a box" in err and "--patients" in err  # 5 of 80 respond by 30 %
    code, out, err = run(capsys, "discover", "fitts", "--outcome", "response", "--trial", path, "--patients", "240",
                         "--fraction", "0.1", "--backend", "numpy", "--out", tmp_path / "r")
    assert code == 0, err
    assert "responds to snri" in out
    responses = pd.read_csv(tmp_path / "r" / "responses.csv")
    assert len(responses) == 240 and {"responder", "effect", "early_adversity"} <= set(responses.columns)
    assert not (tmp_path / "r" / "runs").exists()


def test_the_example_trial_on_a_theory_without_its_predisposition() -> None:
    from fitts.spec.load import models_dir
    from fitts.trials.response import trial_for_theory
    from fitts.trials.spec import load_trial

    example = models_dir() / "trials" / "example.yaml"
    with pytest.raises(ModelError, match="early_adversity"):
        load_trial(example, "sympathetic_drg")
    t, dropped = trial_for_theory(example, "sympathetic_drg")
    assert t.model.spec.name == "sympathetic_drg" and "prevalence of early_adversity" in dropped
    assert "early_adversity" not in t.population.prevalence
    same, none = trial_for_theory(example, "fitts")
    assert none == [] and same.population.prevalence == {"early_adversity": 0.4}
