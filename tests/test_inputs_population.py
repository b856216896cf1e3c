"""Recruiting from a model where some candidates diverge: replaced and reported (issue 18, item 14)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import write

from fitts.compile.compiled import compile_model
from fitts.errors import ModelError
from fitts.population.recruit import Recruitment, recruit, screen
from fitts.run.population import run_population
from fitts.spec.load import load_model

# about a third of the candidates (k > 0.33) grow without bound and fail
DIVERGING = """
name: diverging
parameters:
  k: {prior: {dist: uniform, low: -1, high: 1}}
nodes:
  a: {tau: 1, initial: 1, bounds: [null, null], rate: "exp(300 * k) * a * a"}
"""


def test_failed_candidates_are_replaced_by_the_next_ids(tmp_path):
    path = write(tmp_path, "div.yaml", DIVERGING)
    m = compile_model(load_model(path))
    rec = Recruitment("all", 4.0, 0.05, 1.0, ())
    s = screen(m, np.arange(40), seed=0, population=None, recruitment=rec, backend="numpy")
    failed = int((s.status != 0).sum())
    assert 0 < failed < 40  # the model really has diverging candidates
    res = run_population(str(path), 40, seed=0, recruitment=rec, chunk_size=16, backend="numpy")
    assert len(res.table) == 40
    assert res.run.screened > 40
    ok_ids = s.patient[s.status == 0]
    assert np.array_equal(res.table["patient"].to_numpy()[: len(ok_ids)], ok_ids)
    assert not set(res.table["patient"]) & set(s.patient[s.status != 0].tolist())


def test_failed_candidates_are_reported(tmp_path):
    path = write(tmp_path, "div.yaml", DIVERGING)
    rec = Recruitment("all", 4.0, 0.05, 1.0, ())
    res = run_population(str(path), 20, seed=0, recruitment=rec, chunk_size=8, backend="numpy")
    f = res.failures
    assert len(f) == res.run.screened - 20 > 0
    assert set(f.columns) == {"patient", "day", "state"}
    assert (f["state"] == "a").all() and ((f["day"] >= 0) & (f["day"] <= 4)).all()
    assert not set(f["patient"]) & set(res.table["patient"])
    assert res.metadata["failed"] == len(f)


def test_not_enough_names_the_failed_candidates(tmp_path):
    path = write(tmp_path, "div.yaml", DIVERGING)
    rec = Recruitment("all", 4.0, 0.05, 1.0, ())
    with pytest.raises(ModelError, match=r"recruited only \d+ of 30 .* failed during the run-in .*patient \d+ at day"):
        run_population(str(path), 30, seed=0, recruitment=rec, chunk_size=8, backend="numpy", max_screened=32)
    with pytest.raises(ModelError, match=r"screening limit \(10 candidates\) is below the 30 patients"):
        run_population(str(path), 30, seed=0, recruitment=rec, chunk_size=8, backend="numpy", max_screened=10)
    with pytest.raises(ModelError, match=r"failed during the run-in .*in state 'a'"):
        recruit(compile_model(load_model(path)), 30, recruitment=rec, max_screened=32, backend="numpy")


def test_population_command_reports_failures(tmp_path):
    from test_inputs_cli import runner

    from fitts.cli import app

    # the command's run-in has the built-in protocol's everyday stressors: the model takes them as inputs
    write(tmp_path, "div.yaml", DIVERGING + "inputs:\n  psychosocial_stress: {}\n  infection: {}\n"
          "  physical_trauma: {}\n")
    out = tmp_path / "p.parquet"
    r = runner().invoke(app, ["population", str(tmp_path / "div.yaml"), "--recruit", "all", "--patients", "10",
                                 "--run-in-days", "4", "--dt", "0.05", "--backend", "numpy", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "failed during the run-in and were replaced" in r.stderr
    assert len(pd.read_parquet(out)) == 10
