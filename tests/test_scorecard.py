"""Scorecard rows: each row shows the quantity its accept judges, with that quantity's own edges."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from fitts.evaluate.protocols import Outcome
from fitts.evaluate.scorecard import Scorecard, drawn_quantity
from fitts.evaluate.statistics import Estimate
from fitts.evaluate.targets import load_targets

FORWARD, REVERSE = Estimate(0.20, 0.15, 0.25), Estimate(0.02, -0.01, 0.05)


def _outcomes(tmp_path, *accepts: str) -> list[Outcome]:
    """Cross-lagged outcomes (forward is the statistic) under each accept, written as in a target file."""
    body = "".join(textwrap.dedent(f"""
        - id: T{i}
          title: direction {i}
          design: diary
          population: fm
          measure: {{observation: pain_nrs, statistic: cross_lagged, with: psqi}}
          value: 0.18
          accept: {a}
          grade: B
          source: s
          protocol: p
        """) for i, a in enumerate(accepts))
    f = tmp_path / "t.yaml"
    f.write_text("format: fitts-targets/1\ntargets:\n" + textwrap.indent(body, "  "))
    q = {"forward": FORWARD, "reverse": REVERSE, "difference": Estimate(0.18, 0.12, 0.24)}
    return [Outcome(t, "pass", FORWARD, {**q, "value": FORWARD}) for t in load_targets(f)]


def test_each_row_is_judged_on_its_own_quantity(tmp_path) -> None:
    outs = _outcomes(tmp_path,
                     "{reverse: [-0.05, 0.05], forward: [0.1, 0.3]}",  # band of another quantity written first
                     "{reverse: [-0.05, 0.05]}",                        # only another quantity judged
                     "{forward_min: 0.1}",                              # a one-sided bound on the statistic
                     '"forward larger than reverse"')                   # a rule only
    rows = [drawn_quantity(o) for o in outs]
    assert rows[0] == ("forward", True, FORWARD, 0.1, 0.3)
    assert rows[1] == ("reverse", False, REVERSE, -0.05, 0.05)
    name, own, est, lo, hi = rows[2]
    assert (name, own, est, lo) == ("forward", True, FORWARD, 0.1) and np.isnan(hi)
    name, own, est, lo, hi = rows[3]
    assert name == "forward larger than reverse" and not own and lo == 0 and np.isnan(hi)
    assert est.value == pytest.approx(0.20 - 0.02)
    table = Scorecard("toy", outs).table
    assert list(table.quantity) == ["forward", "reverse", "forward", "forward larger than reverse"]
    assert table.simulated.tolist()[:2] == [0.20, 0.02]
    # the note lists the quantities the row does not show, not the one it does
    assert "reverse" in table.note[0] and "forward" not in table.note[0]
    assert "reverse: 0.02" in Scorecard("toy", outs[1:2]).markdown()


def test_a_single_band_row_is_the_statistic(tmp_path) -> None:
    o = _outcomes(tmp_path, "[0.1, 0.3]")[0]
    assert drawn_quantity(o) == ("", True, FORWARD, 0.1, 0.3)
    row = Scorecard("toy", [o]).table.iloc[0]
    assert isinstance(row, pd.Series) and row.quantity == "" and row.low_edge == 0.1
