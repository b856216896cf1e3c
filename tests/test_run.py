"""Executors and jobs: identical results whatever the executor, chunking or workers;
checkpoints, resume, and a Dask worker killed mid-run."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import numpy as np
import pytest

from fitts.errors import DataError
from fitts.population.recruit import Recruitment, everyday_schedule
from fitts.population.sample import PopulationSpec
from fitts.run.executors import DaskExecutor, InlineExecutor, LocalExecutor
from fitts.run.population import run_population
from fitts.run.trial import run_trial
from tests.trial_helpers import small_trial

distributed = pytest.importorskip("distributed")

POP = PopulationSpec({"early_adversity": 0.5}, (("threat_bias", "pain_sensitivity", 0.4),))
RUN_IN = Recruitment("all", 56, 0.1, 7)


def _same_trial(a, b) -> None:
    for name in ("patients", "effects", "arms", "timecourse"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.equals(y), name
    assert a.run.screened == b.run.screened


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trial")
    path = small_trial(folder, patients=48)
    return path, run_trial(path, chunk_size=48, backend="numpy")


@pytest.mark.slow
def test_trial_is_bit_identical_across_chunk_sizes_and_processes(reference):
    path, ref = reference
    assert len(ref.patients) == 48 and set(ref.patients["arm"]) == {"placebo", "snri", "gaba"}
    _same_trial(ref, run_trial(path, chunk_size=7, backend="numpy"))
    with LocalExecutor(workers=2) as ex:
        _same_trial(ref, run_trial(path, chunk_size=13, executor=ex, backend="numpy"))
    with InlineExecutor(threads=1) as ex:
        _same_trial(ref, run_trial(path, chunk_size=20, executor=ex, backend="numpy"))


@pytest.mark.slow  # minutes on 2 cores: `make test-slow` / `make check` (CI)
def test_trial_is_bit_identical_on_a_dask_local_cluster(reference):
    path, ref = reference
    with DaskExecutor(workers=2) as ex:
        _same_trial(ref, run_trial(path, chunk_size=11, executor=ex, backend="numpy"))


@pytest.mark.slow  # minutes on 2 cores: `make test-slow` / `make check` (CI)
def test_screening_job_is_identical_for_any_chunk_size():
    rec = Recruitment("cases", 182, 0.1, 7, tuple(everyday_schedule()))
    pop = PopulationSpec({"early_adversity": 0.9})
    a = run_population("fitts", 6, seed=1, population=pop, recruitment=rec, chunk_size=40, backend="numpy")
    b = run_population("fitts", 6, seed=1, population=pop, recruitment=rec, chunk_size=111, backend="numpy")
    assert a.table.equals(b.table) and a.run.screened == b.run.screened
    assert 0 < a.acceptance_rate < 1 and len(a.table) == 6
    assert a.run.screened == a.table["patient"].iloc[-1] + 1


class Stop(Exception):
    pass


def _stop_after(n: int) -> tuple[list[tuple[int, int]], Callable[[tuple[int, int]], None]]:
    """The chunks seen, and an on_chunk callback that interrupts the run after `n` of them."""
    seen: list[tuple[int, int]] = []

    def stop(chunk: tuple[int, int]) -> None:
        seen.append(chunk)
        if len(seen) == n:
            raise Stop

    return seen, stop


def test_interrupted_run_resumes_without_redoing_chunks(tmp_path, reference):
    path, ref = reference
    ckpt = tmp_path / "ckpt"
    seen, stop_after_two = _stop_after(2)
    with pytest.raises(Stop):
        run_trial(path, chunk_size=8, checkpoint=ckpt, backend="numpy", on_chunk=stop_after_two)
    assert len(list(ckpt.glob("chunk-*.npz"))) == 2
    with pytest.raises(DataError, match="pass --resume"):
        run_trial(path, chunk_size=8, checkpoint=ckpt, backend="numpy")
    with pytest.raises(DataError, match=r"different run \(.*seed"):
        run_trial(path, chunk_size=8, checkpoint=ckpt, backend="numpy", seed=99, resume=True)
    with pytest.raises(DataError, match=r"different run \(chunk_size: checkpoint 8, now 16"):
        run_trial(path, chunk_size=16, checkpoint=ckpt, backend="numpy", resume=True)
    res = run_trial(path, chunk_size=8, checkpoint=ckpt, backend="numpy", resume=True)
    _same_trial(ref, res)
    assert sorted(res.run.reused) == sorted(seen)
    assert not set(res.run.computed) & set(seen)
    assert len(res.run.computed) + len(res.run.reused) == len(res.run.chunks) == 6


def test_population_result_is_identical_across_executors():
    ref = run_population("fitts", 40, seed=3, population=POP, recruitment=RUN_IN, chunk_size=40, backend="numpy")
    with LocalExecutor(workers=2) as ex:
        other = run_population("fitts", 40, seed=3, population=POP, recruitment=RUN_IN, chunk_size=9, executor=ex,
                               backend="numpy")
    assert ref.table.equals(other.table)
    assert list(ref.table.columns[:3]) == ["patient", "early_adversity", "threat_bias"]
    assert np.corrcoef(ref.table["threat_bias"], ref.table["pain_sensitivity"])[0, 1] > 0


def test_an_interrupted_population_resumes_with_each_patient_seeded_by_its_id(tmp_path):
    """Blocks of candidates are rows of a screening experiment: a patient's numbers depend on
    (seed, id) only, not on the block it was computed in, and a resumed run keeps the
    finished blocks and computes only the rest."""
    ref = run_population("fitts", 24, seed=3, population=POP, recruitment=RUN_IN, chunk_size=24, backend="numpy")
    ckpt = tmp_path / "ckpt"
    seen, stop_after_two = _stop_after(2)
    with pytest.raises(Stop):
        run_population("fitts", 24, seed=3, population=POP, recruitment=RUN_IN, chunk_size=5, checkpoint=ckpt,
                       backend="numpy", on_chunk=stop_after_two)
    assert len(list(ckpt.glob("chunk-*.npz"))) == 2
    with pytest.raises(DataError, match=r"different run \(.*seed"):
        run_population("fitts", 24, seed=4, population=POP, recruitment=RUN_IN, chunk_size=5, checkpoint=ckpt,
                       backend="numpy", resume=True)
    res = run_population("fitts", 24, seed=3, population=POP, recruitment=RUN_IN, chunk_size=5, checkpoint=ckpt,
                         backend="numpy", resume=True)
    assert sorted(res.run.reused) == sorted(seen) and not set(res.run.computed) & set(seen)
    assert len(res.run.chunks) == 5 and list(res.table["patient"]) == list(range(24))
    assert res.table.equals(ref.table)  # blocks of 5 (two from the store) = one block of 24
    other = run_population("fitts", 24, seed=4, population=POP, recruitment=RUN_IN, chunk_size=24, backend="numpy")
    assert not np.allclose(other.table["threat_bias"], ref.table["threat_bias"])  # the seed matters


@pytest.mark.slow  # minutes on 2 cores: `make test-slow` / `make check` (CI)
def test_a_killed_dask_worker_is_recomputed_identically():
    ref = run_population("fitts", 120, seed=8, population=POP, recruitment=RUN_IN, chunk_size=120,
                         backend="numpy")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    killed: list[int] = []

    def kill_a_busy_worker(chunk: tuple[int, int]) -> None:
        if killed:
            return
        busy = [w for w, keys in client.processing().items() if keys]
        if not busy:
            return
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    try:
        with DaskExecutor(client=client) as ex:
            res = run_population("fitts", 120, seed=8, population=POP, recruitment=RUN_IN, chunk_size=6,
                                 executor=ex, backend="numpy", on_chunk=kill_a_busy_worker)
    finally:
        client.close()
        cluster.close()
    assert killed, "no worker was busy when the first chunk finished"
    assert res.table.equals(ref.table)


def test_numba_results_do_not_depend_on_threads_or_chunks():
    """The compiled backend threads over patient blocks; each patient's numbers stay the same."""
    a = run_population("fitts", 50, seed=2, population=POP, recruitment=RUN_IN, chunk_size=50)
    with InlineExecutor(threads=1) as ex:
        b = run_population("fitts", 50, seed=2, population=POP, recruitment=RUN_IN, chunk_size=17, executor=ex)
    assert a.table.equals(b.table)
