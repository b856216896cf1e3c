"""The scorecard: every design's protocol on a small virtual cohort, reports, and the CLI."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from fitts import compile_model, load_model
from fitts.cli import main
from fitts.evaluate.cohort import Cohort
from fitts.evaluate.protocol import CohortSettings, load_protocol
from fitts.evaluate.protocols import run_target
from fitts.evaluate.scorecard import evaluate
from fitts.evaluate.targets import load_targets
from fitts.spec.load import models_dir

SMALL = CohortSettings(patients=500, years=4, follow_up_years=1.5, exposed_patients=150, diary_patients=40,
                       bootstrap=60)


@pytest.fixture(scope="module")
def protocol():
    return load_protocol().model_copy(update={"cohort": SMALL})


@pytest.fixture(scope="module")
def fitts_model():
    return compile_model(load_model("fitts"))


@pytest.fixture(scope="module")
def cohort(fitts_model, protocol):
    return Cohort.simulate(fitts_model, protocol, seed=3)


def test_cohort_groups(cohort) -> None:
    fm, ctrl = cohort.group("fm"), cohort.group("controls")
    assert fm.sum() > 0 and ctrl.sum() > 0
    assert not (fm & ctrl).any()  # a case at t0 has been ill, so is never a control
    assert (cohort.ever_case() >= cohort.case_at(cohort.t0)).all()
    end = float(cohort.ds.time.values[-1])
    assert end - cohort.t0 == pytest.approx(1.5 * 365.25, abs=SMALL.record_every)


def test_every_calibration_target_gets_an_outcome(cohort) -> None:
    for t in load_targets():
        o = run_target(t, cohort, seed=0)
        assert o.status in ("pass", "fail", "inconclusive", "not expressible"), t.id
        if o.status != "not expressible":
            assert o.estimate is not None and np.isfinite(o.estimate.value), t.id
            if np.isfinite(o.estimate.low):
                assert o.estimate.low <= o.estimate.value + 1e-12 <= o.estimate.high + 2e-12, t.id
        else:
            assert o.note, t.id


def test_a_missing_state_is_not_expressible_with_the_reason(protocol) -> None:
    """The sympathetic-DRG theory has no soothing node: the self-compassion target says so."""
    drg = compile_model(load_model("sympathetic_drg"))
    c = Cohort.simulate(drg, protocol.model_copy(update={"cohort": SMALL.model_copy(update={"patients": 60})}),
                        seed=0)
    o = run_target(load_targets()["B65"], c)
    assert o.status == "not expressible"
    assert "soothing" in o.note


def _targets(tmp_path, body: str):
    f = tmp_path / "t.yaml"
    f.write_text("format: fitts-targets/1\ntargets:\n" + textwrap.indent(textwrap.dedent(body), "  "))
    return load_targets(f)


def test_direction_words_flip_a_difference(cohort, tmp_path) -> None:
    ts = _targets(tmp_path, """
        - {id: up, title: t, design: case_control, population: fm, comparator: controls, grade: A, source: s,
           protocol: p, measure: {observation: cpm_effect, statistic: hedges_g}, accept: [-9, 9]}
        - {id: down, title: t, design: case_control, population: fm, comparator: controls, grade: A, source: s,
           protocol: p, measure: {observation: cpm_effect, statistic: hedges_g, of: "less inhibition"},
           accept: [-9, 9]}
    """)
    up, down = (run_target(t, cohort) for t in ts)
    assert up.estimate.value == pytest.approx(-down.estimate.value)


def test_proportion_events_threshold_percentile_and_negative(cohort, tmp_path) -> None:
    ts = _targets(tmp_path, """
        - {id: gt, title: t, design: prevalence, population: fm, grade: A, source: s, protocol: p,
           measure: {observation: psqi, statistic: proportion, of: "PSQI > 5"}, accept: [0, 1]}
        - {id: gt99, title: t, design: prevalence, population: fm, grade: A, source: s, protocol: p,
           measure: {observation: psqi, statistic: proportion, of: "PSQI > 99"}, accept: [0, 1]}
        - {id: none, title: t, design: prevalence, population: fm, grade: A, source: s, protocol: p,
           measure: {observation: psqi, statistic: proportion}, accept: [0, 1]}
        - {id: pct, title: t, design: case_control, population: controls, comparator: controls, grade: A,
           source: s, protocol: p, accept: [0, 1],
           measure: {observation: ienfd, statistic: proportion, of: "below the 10th percentile of controls"}}
        - {id: neg, title: t, design: prevalence, population: general, grade: A, source: s, protocol: p,
           measure: {observation: acr2016_case, statistic: proportion, of: "criteria-negative"}, accept: [0, 1]}
        - {id: pos, title: t, design: prevalence, population: general, grade: A, source: s, protocol: p,
           measure: {observation: acr2016_case, statistic: proportion}, accept: [0, 1]}
    """)
    o = {t.id: run_target(t, cohort) for t in ts}
    assert o["gt99"].estimate.value == 0.0
    assert o["gt"].estimate.value > 0.0
    assert o["none"].status == "not expressible" and "needs an event" in o["none"].note
    assert o["pct"].estimate.value == pytest.approx(0.10, abs=0.02)  # controls against themselves
    assert o["neg"].estimate.value == pytest.approx(1 - o["pos"].estimate.value)


def test_diary_and_trial_designs(tmp_path, protocol) -> None:
    """A diary's within-person correlation, and a trial arm built from a model intervention."""
    model = tmp_path / "m.yaml"
    model.write_text(textwrap.dedent(f"""
        fitts: 1
        name: fitts_with_sleep_care
        includes: [{{path: {models_dir() / 'fitts.yaml'}}}]
        interventions:
          sleep_care:
            actions: [{{shift: baseline.sleep_disturbance, by: -3.0}}]
    """))
    m = compile_model(load_model(model))
    c = Cohort.simulate(m, protocol, seed=3)
    ts = _targets(tmp_path, """
        - {id: D1, title: t, design: diary, population: fm, grade: B, source: s, protocol: p, accept: [0.2, 1],
           exposure: {input: psychosocial_stress, for: "21 days"},
           measure: {observation: fatigue_scale, statistic: correlation, with: psqi}}
        - {id: T1, title: t, design: trial, population: fm, grade: B, source: s, protocol: p, accept: [-21, 0],
           exposure: {intervention: sleep_care, for: "8 weeks"},
           measure: {observation: psqi, statistic: mean_difference}}
        - {id: T2, title: t, design: trial, population: fm, grade: B, source: s, protocol: p, accept: [-9, 0],
           exposure: {intervention: no_such_thing, for: "8 weeks"},
           measure: {observation: psqi, statistic: mean_difference}}
    """)
    d1, t1, t2 = (run_target(t, c) for t in ts)
    assert d1.status in ("pass", "fail", "inconclusive") and 0.0 < d1.estimate.value < 1.0  # sleep drives fatigue
    assert t1.status == "pass" and t1.estimate.value < -1.0  # sleep care lowers the PSQI
    assert t2.status == "not expressible" and "no_such_thing" in t2.note


def test_evaluate_is_reproducible_and_writes_reports(fitts_model, protocol, tmp_path) -> None:
    a = evaluate(fitts_model, protocol=protocol, seed=5, patients=200)
    b = evaluate(fitts_model, protocol=protocol, seed=5, patients=200)
    cols = ["simulated", "mc_low", "mc_high"]
    np.testing.assert_array_equal(a.table[cols].to_numpy(), b.table[cols].to_numpy())
    paths = a.save(tmp_path / "out")
    assert paths["csv"].read_text().startswith("id,title")
    md = paths["markdown"].read_text()
    assert all(t in md for t in ("B01", "B65")) and a.summary() in md
    assert "<table>" in paths["html"].read_text()


def test_cli_evaluate_and_bad_targets(tmp_path, capsys, protocol) -> None:
    import yaml

    proto = tmp_path / "proto.yaml"
    data = protocol.model_dump(mode="json", exclude={"source"})
    data["cohort"]["patients"] = 150
    proto.write_text(yaml.safe_dump(data))
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "fitts", "--protocol", str(proto), "--no-calibration", "--out", str(tmp_path / "sc")])
    assert exc.value.code in (0, None)
    assert (tmp_path / "sc" / "forest.png").stat().st_size > 1000
    assert (tmp_path / "sc" / "scorecard.csv").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: fitts-targets/1\ntargets:\n  - {id: X, title: t}\n")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "fitts", "--targets", str(bad), "--protocol", str(proto)])
    assert exc.value.code == 2
    assert "bad.yaml" in capsys.readouterr().err


def test_a_monte_carlo_interval_across_a_band_edge_is_inconclusive() -> None:
    from fitts.evaluate.protocols import resolve_hint, verdict
    from fitts.evaluate.statistics import Estimate

    band = (0.3, 0.9)
    assert verdict([(None, Estimate(0.5, 0.4, 0.6), band, None)])[0] == "pass"
    assert verdict([(None, Estimate(1.2, 1.0, 1.4), band, None)])[0] == "fail"
    status, why = verdict([(None, Estimate(0.95, 0.85, 1.05), band, None)])
    assert status == "inconclusive" and "contains the edge 0.9" in why
    status, _ = verdict([(None, Estimate(0.85, 0.8, 0.95), band, None)])
    assert status == "inconclusive"  # inside the band, but not decided at this size
    # named checks: a clear failure wins over an undecided check
    both = [("exposed", Estimate(0.2, 0.1, 0.3), (0.1, 0.3), None),
            ("ratio", Estimate(1.0, 0.5, 1.5), None, ("min", 3))]
    assert verdict(both)[0] == "fail"
    undecided = [("exposed", Estimate(0.2, 0.15, 0.25), (0.1, 0.3), None),
                 ("ratio", Estimate(3.2, 2.5, 4.0), None, ("min", 3))]
    status, why = verdict(undecided)
    assert status == "inconclusive" and why.startswith("ratio")
    # intervals narrow as 1/sqrt(n): half width 0.1 at distance 0.05 needs 4x the patients (+20 % margin)
    hint = resolve_hint([(None, Estimate(0.95, 0.85, 1.05), band, None)], 1000)
    assert "--patients 4800" in hint
    assert "no cohort size" in resolve_hint([(None, Estimate(0.9, 0.8, 1.0), band, None)], 1000)
