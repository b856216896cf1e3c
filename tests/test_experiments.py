"""The experiments API (fitts.run.experiments): aligned inputs and outcomes, the same rows whatever
the blocks, executor or order; the run store resumes an interrupted run and refuses other settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitts.errors import DataError, ModelError
from fitts.run.executors import InlineExecutor
from fitts.run.experiments import perform_experiments, row_seed


@dataclass(frozen=True)
class Noisy:
    """y = a * b + noise from the row's own seed; fails while `stop` exists for rows >= `fail_from`."""

    stop: str = ""
    fail_from: int = 10**9
    name: str = "noisy"
    block_rows: int = 4

    def fingerprint(self) -> dict:
        return {"kind": "a*b+noise"}

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        if self.stop and Path(self.stop).exists() and rows.index.max() >= self.fail_from:
            raise RuntimeError("interrupted")
        noise = np.array([np.random.default_rng(s).normal() for s in row_seed(seed, rows.index.to_numpy())])
        return {"y": rows["a"].to_numpy() * rows["b"].to_numpy() + 0.01 * noise}


@dataclass(frozen=True)
class Records:
    """Two records per row (k = 0, 1) with value row * 10 + k and a text label."""

    name: str = "records"
    block_rows: int = 3

    def fingerprint(self) -> dict:
        return {}

    def __call__(self, rows: pd.DataFrame, seed: int) -> pd.DataFrame:
        r = np.repeat(rows.index.to_numpy(), 2)
        k = np.tile([0, 1], len(rows))
        return pd.DataFrame({"row": r, "k": k, "value": r * 10.0 + k, "label": [f"r{i}" for i in r]})


DESIGN = pd.DataFrame({"a": np.linspace(0, 1, 11), "b": np.arange(11.0)})


def test_outcomes_are_aligned_with_their_inputs_and_do_not_depend_on_blocks() -> None:
    whole = perform_experiments(Noisy(), DESIGN, seed=3, block_rows=11)
    split = perform_experiments(Noisy(), DESIGN, seed=3, block_rows=2)
    assert whole.outcomes.equals(split.outcomes)
    t = whole.table
    assert list(t.columns) == ["a", "b", "y"] and len(t) == 11
    np.testing.assert_allclose(t["y"], t["a"] * t["b"], atol=0.05)
    assert not np.allclose(t["y"], t["a"] * t["b"])  # the noise is there, and per row
    other = perform_experiments(Noisy(), DESIGN, seed=4)
    assert not other.outcomes.equals(whole.outcomes)
    ds = whole.to_xarray()
    assert set(ds.data_vars) == {"a", "b", "y"} and ds.sizes["row"] == 11


def test_a_row_is_the_same_alone_or_among_others() -> None:
    alone = perform_experiments(Noisy(), DESIGN.iloc[[0, 1, 2, 3, 4, 5, 6]], seed=3, block_rows=7)
    full = perform_experiments(Noisy(), DESIGN, seed=3, block_rows=5)
    assert alone.outcomes["y"].equals(full.outcomes["y"].iloc[:7])


def test_row_seeds_depend_on_seed_and_row_only() -> None:
    a = row_seed(0, np.arange(5))
    assert len(set(a.tolist())) == 5 and (a >= 0).all() and (a < 2**31).all()
    assert row_seed(0, 3)[0] == a[3]
    assert not np.array_equal(row_seed(1, np.arange(5)), a)


def test_records_keep_their_rows() -> None:
    res = perform_experiments(Records(), DESIGN, block_rows=4)
    assert res.records is not None and len(res.records) == 22
    t = res.table
    assert list(t.columns[:3]) == ["row", "a", "b"]
    assert (t["value"] == t["row"] * 10 + t["k"]).all()
    assert (t["label"] == "r" + t["row"].astype(str)).all()
    np.testing.assert_array_equal(t["a"], DESIGN["a"].to_numpy()[t["row"]])


def test_an_interrupted_run_resumes_from_its_store(tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    stop.write_text("")
    store = tmp_path / "runs"
    with pytest.raises(RuntimeError, match="interrupted"):
        perform_experiments(Noisy(str(stop), fail_from=8), DESIGN, seed=3, directory=store,
                            executor=InlineExecutor())
    assert len(list(store.glob("chunk-*.npz"))) == 2  # rows 0-3 and 4-7 were kept
    stop.unlink()
    res = perform_experiments(Noisy(str(stop), fail_from=8), DESIGN, seed=3, directory=store, resume=True)
    assert res.run is not None and len(res.run.reused) == 2 and len(res.run.computed) == 1
    assert res.outcomes.equals(perform_experiments(Noisy(), DESIGN, seed=3).outcomes)
    with pytest.raises(DataError, match="pass --resume"):
        perform_experiments(Noisy(), DESIGN, seed=3, directory=store)
    with pytest.raises(DataError, match="different run"):
        perform_experiments(Noisy(), DESIGN, seed=4, directory=store, resume=True)
    with pytest.raises(DataError, match="different run"):
        perform_experiments(Noisy(), DESIGN.assign(b=DESIGN.b + 1), seed=3, directory=store, resume=True)


def test_an_empty_design_or_wrong_length_is_an_error() -> None:
    with pytest.raises(ModelError, match="no rows"):
        perform_experiments(Noisy(), DESIGN.iloc[:0])

    @dataclass(frozen=True)
    class Short(Noisy):
        def __call__(self, rows, seed):
            return {"y": np.zeros(len(rows) - 1)}

    with pytest.raises(ModelError, match="returned 3 values"):
        perform_experiments(Short(), DESIGN, block_rows=4)


NOISY_MODEL = """
fitts: 1
name: noisy_one
parameters:
  a: {prior: {dist: normal, mean: 0, sd: 1}}
nodes:
  y: {tau: 1.0, baseline: 0.0, noise: 0.3, initial: 0.0, bounds: [-.inf, .inf], rate: "a - y"}
"""


@pytest.mark.slow
def test_the_same_rows_on_dask_and_local_processes(tmp_path: Path) -> None:
    import fitts
    from fitts.analysis.scenarios import patient_experiments
    from fitts.run.executors import DaskExecutor, LocalExecutor

    pytest.importorskip("distributed")
    (tmp_path / "noisy.yaml").write_text(NOISY_MODEL)
    m = fitts.compile_model(fitts.load_model(tmp_path / "noisy.yaml"))
    design = pd.DataFrame({"a": np.linspace(-1, 1, 10)})
    kw = dict(days=5.0, dt=0.1, schedule=(), noise=True, seed=7, backend="numpy", block_rows=3)
    here = patient_experiments(m, design, ["state:y"], **kw)
    assert here.outcomes["state:y"].std() > 0
    with LocalExecutor(2) as ex:
        local = patient_experiments(m, design, ["state:y"], executor=ex, **kw)
    with DaskExecutor(workers=2) as ex:
        dask = patient_experiments(m, design, ["state:y"], executor=ex, directory=tmp_path / "store", **kw)
    pd.testing.assert_frame_equal(here.outcomes, local.outcomes)
    pd.testing.assert_frame_equal(here.outcomes, dask.outcomes)
    text = fitts.compile_model(fitts.load_model_text(NOISY_MODEL))
    with LocalExecutor(2) as ex, pytest.raises(ModelError, match="built from text"):
        patient_experiments(text, design, ["state:y"], executor=ex, **kw)


@dataclass(frozen=True)
class EveryThird:
    """Keeps the candidate rows whose id is a multiple of 3, with their square."""

    name: str = "every-third"
    block_rows: int = 4

    def fingerprint(self) -> dict:
        return {}

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        ids = rows.index.to_numpy()
        kept = ids[ids % 3 == 0]
        return {"patient": kept, "square": kept.astype(float) ** 2}


def test_a_screening_keeps_the_first_rows_that_pass_whatever_the_blocks(tmp_path: Path) -> None:
    from fitts.run.experiments import screen_experiments

    def kept(run) -> np.ndarray:
        return np.concatenate([d["patient"][:k] for d, k in run.iter_chunks()])

    a = screen_experiments(EveryThird(), 5, 100, tmp_path / "a", block_rows=4)
    b = screen_experiments(EveryThird(), 5, 100, tmp_path / "b", block_rows=7)
    np.testing.assert_array_equal(kept(a), [0, 3, 6, 9, 12])
    np.testing.assert_array_equal(kept(a), kept(b))
    assert a.screened == b.screened == 13
    more = screen_experiments(EveryThird(), 8, 100, tmp_path / "a", block_rows=4, resume=True)  # continue the store
    np.testing.assert_array_equal(kept(more), [0, 3, 6, 9, 12, 15, 18, 21])
    assert more.reused and more.computed
    with pytest.raises(ModelError, match="7 of 8 multiples of 3 after screening 20"):
        screen_experiments(EveryThird(), 8, 20, tmp_path / "c", block_rows=4, rule="multiples of 3")
