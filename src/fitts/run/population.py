"""Sample and recruit a population at any scale (what ``fitts population`` runs).

A population is a screening experiment (:func:`fitts.run.experiments.screen_experiments`):
the candidates are rows ``0, 1, ...`` (row id = virtual patient id, whose random streams
depend only on the seed and the id), and each block of candidates is screened by
:func:`fitts.population.recruit.screen` (run-in under everyday stressors, then the
recruitment rule). A block keeps one row per recruit: the named sampled parameters
(predispositions and person-level spreads; all sampled rows with ``all_parameters``) and
the states at the end of the run-in. Only these per-patient summaries are kept, never
trajectories over time, so memory grows with the number of patients only (about 200 bytes
each for the built-in theories).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.compile.compiled import CompiledModel
from fitts.errors import DataError, ModelError
from fitts.population.recruit import Recruitment, screen
from fitts.population.sample import PopulationSpec
from fitts.sim.simulate import as_compiled
from fitts.spec.model import Spec

from .executors import AbstractExecutor
from .experiments import screen_experiments
from .jobs import JobRun

_MODELS: dict[tuple[str, str], CompiledModel] = {}


def model_ref(model: CompiledModel | Spec | str | Path) -> tuple[str, CompiledModel]:
    """A reference a worker process can load (built-in name or file path) and the model.

    Raises
    ------
    ModelError
        For a model that exists only in memory (no file): save it to a file first.
    """
    from fitts.spec.load import builtin_theories

    m = as_compiled(model)
    if isinstance(model, str | Path) and (str(model) in builtin_theories() or Path(model).exists()):
        ref = str(model) if str(model) in builtin_theories() else str(Path(model).resolve())
    elif m.spec.files:
        ref = str(Path(m.spec.files[0]).resolve())
    else:
        raise ModelError("a model built from text has no file that worker processes could load",
                         hint="save the model to a .yaml file and pass its path")
    _MODELS[(ref, m.model_hash)] = m
    return ref, m


def cached_model(ref: str, model_hash: str) -> CompiledModel:
    """The compiled model `ref`, loaded once per process and checked against its hash."""
    key = (ref, model_hash)
    if key not in _MODELS:
        m = as_compiled(ref)
        if m.model_hash != model_hash:
            raise DataError(f"model {ref} changed while the job was running ({m.model_hash} != {model_hash})")
        _MODELS[key] = m
    return _MODELS[key]


@dataclass(frozen=True)
class PopulationJob:
    """Screen candidates of a population; keep per-patient summaries of the recruits.

    An evaluator of a screening experiment (see :mod:`fitts.run.experiments`): the rows it
    is given are candidate ids; the patients' seed is the job's `seed`.
    """

    ref: str
    model_hash: str
    patients: int
    seed: int
    population: PopulationSpec | None
    recruitment: Recruitment
    max_screened: int
    all_parameters: bool = False
    backend: str = "numba"
    name: str = "population"
    #: candidates per block unless the caller chooses (results do not depend on it)
    block_rows: int = 4096

    @property
    def screens(self) -> bool:
        return self.recruitment.rule != "all"

    @property
    def rule(self) -> str:
        return self.recruitment.rule

    def fingerprint(self) -> dict[str, Any]:
        pop = self.population or PopulationSpec()
        r = self.recruitment
        return {"model": self.ref,
                "model_hash": self.model_hash, "seed": self.seed,
                "prevalence": dict(sorted(pop.prevalence.items())), "correlation": [list(c) for c in pop.correlation],
                "rule": r.rule, "run_in_days": r.run_in_days, "dt": r.dt, "record_every": r.record_every,
                "everyday": [c.model_dump(mode="json") for c in r.everyday],
                "all_parameters": self.all_parameters, "backend": self.backend}

    def columns(self, m: CompiledModel) -> list[int]:
        return [k for k, row in enumerate(m.params)
                if row.kind == "prior" and (self.all_parameters or "." not in row.name)]

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        """Screen the candidates ``rows.index`` (ids); return the kept ids as ``patient``, their
        parameters ``params`` (kept, columns), end-of-run-in ``states`` (kept, states) and the
        failed candidates (``failed``, ``fail_day``, ``fail_state``). `seed` is the job's."""
        m = cached_model(self.ref, self.model_hash)
        s = screen(m, rows.index.to_numpy(np.int64), seed=self.seed, population=self.population,
                   recruitment=self.recruitment, backend=self.backend)
        return {"patient": s.ids, "params": s.params[:, self.columns(m)], "states": s.states,
                "failed": s.failed, "fail_day": s.fail_day, "fail_state": s.fail_state}


@dataclass
class PopulationResult:
    """Recruited patients (``table``) and how they were obtained (``run``)."""

    table: pd.DataFrame
    run: JobRun
    metadata: dict[str, Any]
    #: candidates whose run-in failed and were replaced by the next ids: patient, day, state
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"patient": [], "day": [], "state": []}))

    @property
    def acceptance_rate(self) -> float:
        return self.run.acceptance_rate


def run_population(model: CompiledModel | Spec | str | Path, patients: int, *, seed: int = 0,
                   population: PopulationSpec | None = None, recruitment: Recruitment | None = None,
                   executor: AbstractExecutor | None = None, chunk_size: int = 4096,
                   checkpoint: str | Path | None = None, resume: bool = False, max_screened: int | None = None,
                   all_parameters: bool = False, backend: str = "numba",
                   progress: Callable[[int, int], None] | None = None,
                   on_chunk: Callable[[tuple[int, int]], None] | None = None) -> PopulationResult:
    """Recruit `patients` from a population, block by block of candidates on `executor`.

    Returns the same patients, bit for bit, as :func:`fitts.population.recruit.recruit`
    and for any executor, chunk size or number of workers.

    Parameters
    ----------
    chunk_size
        Candidates per block (results do not depend on it).
    checkpoint, resume
        Run store of finished blocks (default: a temporary folder), and whether to continue
        the run kept there.
    max_screened
        Candidates screened at most (default 1000 per patient).
    progress, on_chunk
        See :func:`fitts.run.experiments.screen_experiments`.

    Raises
    ------
    ModelError
        A screening limit below `patients`, or too few recruits within it.
    """
    ref, m = model_ref(model)
    r = recruitment or Recruitment()
    r.check(m)
    if population is not None:
        population.matrix(m)
    limit = int(max_screened or 1000 * patients)
    if limit < patients:
        raise ModelError(f"the screening limit ({limit} candidates) is below the {patients} patients wanted",
                         hint="raise --max-screened (max_screened) or recruit fewer patients")
    job = PopulationJob(ref, m.model_hash, int(patients), int(seed), population, r, limit, all_parameters, backend)
    if checkpoint is None:
        with tempfile.TemporaryDirectory(prefix="fitts-population-") as tmp:
            return _assemble(job, m, _screen(job, Path(tmp), executor, chunk_size, False, progress, on_chunk))
    return _assemble(job, m, _screen(job, Path(checkpoint), executor, chunk_size, resume, progress, on_chunk))


def _screen(job: PopulationJob, directory: Path, executor: AbstractExecutor | None, chunk_size: int, resume: bool,
            progress: Callable[[int, int], None] | None,
            on_chunk: Callable[[tuple[int, int]], None] | None) -> JobRun:
    # `all` keeps every candidate but those whose run-in failed: blocks are planned for the
    # patients still wanted, not in screening waves (as trials do)
    return screen_experiments(job, job.patients, job.max_screened, directory, seed=job.seed, rule=job.rule,
                              keeps_some=job.screens, executor=executor, resume=resume, block_rows=chunk_size,
                              progress=progress, on_block=on_chunk)


def _assemble(job: PopulationJob, m: CompiledModel, run: JobRun) -> PopulationResult:
    names = [m.params[k].name for k in job.columns(m)]
    n = run.patients
    ids = np.empty(n, dtype=np.int64)
    params = np.empty((n, len(names)))
    states = np.empty((n, m.n_states))
    at = 0
    fails: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for data, keep in run.iter_chunks():
        if "failed" in data:  # candidates of this chunk whose run-in failed (replaced by later ids)
            last = data["patient"][keep - 1] if keep else -1
            sel = data["failed"] < last if keep < len(data["patient"]) else np.ones(len(data["failed"]), bool)
            fails.append((data["failed"][sel], data["fail_day"][sel], data["fail_state"][sel]))
        ids[at:at + keep] = data["patient"][:keep]
        params[at:at + keep] = data["params"][:keep]
        states[at:at + keep] = data["states"][:keep]
        at += keep
    cols: dict[str, np.ndarray] = {"patient": ids}
    cols.update({name: params[:, j] for j, name in enumerate(names)})
    cols.update({f"state.{s}": states[:, i] for i, s in enumerate(m.states)})
    meta = {"theory": m.spec.name, "model_hash": m.model_hash, "seed": job.seed, "recruit": job.rule,
            "run_in_days": job.recruitment.run_in_days, "patients": n, "screened": run.screened,
            "acceptance_rate": run.acceptance_rate,
            "prevalence": dict((job.population or PopulationSpec()).prevalence),
            "correlation": [list(c) for c in (job.population or PopulationSpec()).correlation]}
    failures = pd.DataFrame({
        "patient": np.concatenate([f[0] for f in fails]) if fails else np.empty(0, np.int64),
        "day": np.concatenate([f[1] for f in fails]) if fails else np.empty(0),
        "state": np.concatenate([f[2] for f in fails]) if fails else np.empty(0, dtype=str)})
    meta["failed"] = len(failures)
    return PopulationResult(pd.DataFrame(cols, copy=False), run, meta, failures)
