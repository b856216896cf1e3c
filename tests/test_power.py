"""Recovery (power) curves of a diary study's true links."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_diary import LINEAR, MEASURES

from fitts import DataError, compile_model, load_model_text
from fitts.analysis.power import recovery_curves
from fitts.observe.diary import DiaryDesign
from fitts.plot.diary import plot_recovery

UNLINKED = """
name: unlinked
nodes:
  distress: {baseline: 0.5, noise: 0.3, rate: "(drive - distress) / 0.5", initial: 0.5}
  pain: {baseline: 0.5, noise: 0.3, rate: "(drive - pain) / 0.25", initial: 0.5}
"""


@pytest.fixture(scope="module")
def result():
    m = compile_model(load_model_text(LINEAR))
    return recovery_curves(m, patients=(3, 30), days=(3, 10), prompts=(5,), replicates=4, levels=("prompt",),
                           diary=DiaryDesign(measures=MEASURES, nightly=(), burn_in=2.0), seed=2, backend="numpy")


def test_recovery_grows_with_sample_size(result) -> None:
    t = result.table
    assert set(t["method"]) == {"mlm", "pcmci"}
    assert set(zip(t["cause"], t["effect"], strict=True)) == {("distress_scale", "pain_nrs")}
    assert (t["replicates"] == 4).all() and (t["sign"] == 1).all()
    for method in ("mlm", "pcmci"):
        sub = t[t["method"] == method].set_index(["patients", "days"])["recovery"]
        assert sub[(30, 10)] == 1.0  # 30 patients x 10 days x 5 prompts: the link is strong
        assert sub[(3, 3)] <= sub[(30, 10)]
    assert len(result.replicates) == 4 * 2 * 2 * 2


def test_recovery_figure(result, tmp_path: Path) -> None:
    fig = plot_recovery(result.table, tmp_path / "power.png", title="linear")
    assert (tmp_path / "power.png").read_bytes()[:4] == b"\x89PNG"
    assert fig.get_suptitle() == "linear"


def test_no_true_link_is_an_error() -> None:
    m = compile_model(load_model_text(UNLINKED))
    with pytest.raises(DataError, match="no direct link between the diary measures"):
        recovery_curves(m, diary=DiaryDesign(measures=MEASURES, nightly=()))
    with pytest.raises(DataError, match="unknown method 'granger'"):
        recovery_curves(m, methods=("granger",))


@pytest.mark.slow
def test_replicates_on_worker_processes_give_the_same_table(tmp_path: Path) -> None:
    from fitts import load_model
    from fitts.run.executors import LocalExecutor

    (tmp_path / "linear.yaml").write_text(LINEAR)
    m = compile_model(load_model(tmp_path / "linear.yaml"))
    kw = dict(patients=(3, 10), days=(3,), prompts=(5,), replicates=3, levels=("prompt",), methods=("mlm",),
              diary=DiaryDesign(measures=MEASURES, nightly=(), burn_in=2.0), seed=2, backend="numpy")
    here = recovery_curves(m, **kw)
    with LocalExecutor(2) as ex:
        there = recovery_curves(m, executor=ex, directory=tmp_path / "runs", **kw)
    pd.testing.assert_frame_equal(here.table, there.table)
    pd.testing.assert_frame_equal(here.replicates, there.replicates)


def test_a_model_from_text_is_refused_on_worker_processes() -> None:
    from fitts.run.executors import LocalExecutor

    m = compile_model(load_model_text(LINEAR))
    with LocalExecutor(2) as ex, pytest.raises(DataError, match="built from text"):
        recovery_curves(m, patients=(3,), days=(3,), prompts=(5,), replicates=1, levels=("prompt",),
                        diary=DiaryDesign(measures=MEASURES, nightly=()), executor=ex, backend="numpy")
