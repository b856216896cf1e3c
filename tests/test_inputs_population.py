"""Recruiting `all` from a model where some candidates diverge (issue 18, item 14)."""

from __future__ import annotations

import numpy as np
from helpers import write

from fitts.compile.compiled import compile_model
from fitts.population.recruit import Recruitment, screen
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
