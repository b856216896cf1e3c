"""Sample and recruit a population at any scale (what ``fitts population`` runs).

Each chunk of candidates is screened by :func:`fitts.population.recruit.screen`
(run-in under everyday stressors, then the recruitment rule); a chunk keeps one row per
recruit: the named sampled parameters (predispositions and person-level spreads; all
sampled rows with ``all_parameters``) and the states at the end of the run-in. Only
these per-patient summaries are kept, never trajectories over time, so memory grows
with the number of patients only (about 200 bytes each for the built-in theories).
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
from fitts.population.recruit import Recruitment, screen
from fitts.population.sample import PopulationSpec
from fitts.sim.simulate import as_compiled
from fitts.spec.model import Spec

from .executors import AbstractExecutor
from .jobs import JobRun, run_job

_MODELS: dict[tuple[str, str], CompiledModel] = {}


def model_ref(model: CompiledModel | Spec | str | Path) -> tuple[str, CompiledModel]:
    """A reference a worker process can load (built-in name or file path) and the model.

    Raises
    ------
    ModelError
        For a model that exists only in memory (no file): save it to a file first.
    """
    from fitts.errors import ModelError
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
        from fitts.errors import DataError

        m = as_compiled(ref)
        if m.model_hash != model_hash:
            raise DataError(f"model {ref} changed while the job was running ({m.model_hash} != {model_hash})")
        _MODELS[key] = m
    return _MODELS[key]


@dataclass(frozen=True)
class PopulationJob:
    """Screen candidates of a population; keep per-patient summaries of the recruits."""

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

    def __call__(self, chunk: tuple[int, int]) -> dict[str, np.ndarray]:
        m = cached_model(self.ref, self.model_hash)
        s = screen(m, np.arange(chunk[0], chunk[1]), seed=self.seed, population=self.population,
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
    """Recruit `patients` from a population, chunk by chunk on `executor`.

    Returns the same patients, bit for bit, as :func:`fitts.population.recruit.recruit`
    and for any executor, chunk size or number of workers. See
    :func:`fitts.run.jobs.run_job` for `checkpoint`, `resume`, `progress`, `on_chunk`.
    """
    ref, m = model_ref(model)
    r = recruitment or Recruitment()
    r.check(m)
    if population is not None:
        population.matrix(m)
    job = PopulationJob(ref, m.model_hash, int(patients), int(seed), population, r,
                        int(max_screened or 1000 * patients), all_parameters, backend)
    if checkpoint is None:
        with tempfile.TemporaryDirectory(prefix="fitts-population-") as tmp:
            return _assemble(job, m, run_job(job, tmp, executor=executor, chunk_size=chunk_size,
                                             progress=progress, on_chunk=on_chunk))
    return _assemble(job, m, run_job(job, checkpoint, executor=executor, chunk_size=chunk_size, resume=resume,
                                     progress=progress, on_chunk=on_chunk))


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
