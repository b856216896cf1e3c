"""`fitts compare`: a theory and its variant side by side (fitts.run.compare)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fitts.errors import ModelError
from fitts.run.compare import compare, write_comparison
from tests.test_variants import docs_variant


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("cmp")
    (folder / "variant.yaml").write_text(docs_variant())
    return compare(["fitts", str(folder / "variant.yaml")])


@pytest.mark.slow
def test_edges_that_differ_are_marked(comparison) -> None:
    e = comparison.edges.set_index("edge")
    assert comparison.names == ["fitts", "fitts_no_small_fibre"]
    assert e.loc["salience -> small_fibre", "fitts_no_small_fibre"] == ""
    assert e.loc["vagal -> descending_inhibition", "fitts"] == ""
    assert e.loc["soothing -> vagal", "differs"] and not e.loc["threat -> salience", "differs"]
    assert set(e.index[e["differs"]]) == {"salience -> small_fibre", "vagal -> descending_inhibition",
                                          "soothing -> vagal"}


@pytest.mark.slow
def test_loops_thresholds_and_scorecards(comparison) -> None:
    loops = comparison.loops.set_index("model")
    diffs = comparison.loop_differences
    # loops through the removed edge exist only in fitts; through the added one only in the variant
    only_fitts = diffs[diffs["fitts"] & ~diffs["fitts_no_small_fibre"]]
    only_variant = diffs[~diffs["fitts"] & diffs["fitts_no_small_fibre"]]
    assert len(only_fitts) and all("small_fibre" in lp for lp in only_fitts["loop"])
    assert len(only_variant) and all("vagal -> descending_inhibition" in lp for lp in only_variant["loop"])
    assert (loops.loc["fitts", "total"] - len(only_fitts) + len(only_variant)
            == loops.loc["fitts_no_small_fibre", "total"])
    th = comparison.thresholds.set_index("model")
    assert (th["onset threshold"] > th["recovery threshold"]).all()
    assert "parent theory fitts" in comparison.notes["fitts_no_small_fibre"]
    assert (comparison.scorecards["fitts"] == comparison.scorecards["fitts_no_small_fibre"]).all()


@pytest.mark.slow
def test_files(comparison, tmp_path: Path) -> None:
    paths = write_comparison(comparison, tmp_path / "out")
    assert [p.name for p in paths] == ["index.html", "comparison.csv", "edges.csv"]
    long = pd.read_csv(tmp_path / "out" / "comparison.csv")
    assert set(long["section"]) >= {"edge", "loops", "thresholds", "scorecard"}
    assert "Edges that differ (3 of" in (tmp_path / "out" / "index.html").read_text()


def test_one_model_is_not_a_comparison() -> None:
    with pytest.raises(ModelError, match="two or more"):
        compare(["fitts"])
