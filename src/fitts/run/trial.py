"""Run a trial file at any scale: chunks of candidates on an executor, then the analysis.

:func:`run_trial` is what ``fitts trial`` calls: a screening experiment
(:func:`fitts.run.experiments.screen_experiments`) whose candidates are computed in chunks by
:func:`fitts.trials.simulate.trial_chunk` and checkpointed,
and streamed in patient-id order into per-patient outcomes (a few numbers per patient)
and exact per-arm sums over visits, so memory does not grow with the trial's length.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.trials.analysis import TimeCourse, arm_summary, effect_sizes, label_table, patient_outcomes
from fitts.trials.simulate import trial_chunk
from fitts.trials.spec import TheoryCalibration, Trial, load_trial

from .executors import AbstractExecutor
from .experiments import screen_experiments
from .jobs import JobRun

#: compiled trials per worker process, by (file, theory, content hash)
_TRIALS: dict[tuple[str, str | None, str], Trial] = {}


def _file_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class TrialJob:
    """A trial as a picklable job: the trial file (re-read once per worker process).

    Attributes
    ----------
    path, theory
        The trial file and an optional replacement theory.
    patients, seed
        Patients randomised and the patients' seed (the file's values unless replaced).
    file_hash, model_hash
        Content hashes checked when a worker loads the trial.
    calibration
        The theory's calibration as the trial applies it (None: the theory as written).
    """

    path: str
    theory: str | None
    patients: int
    seed: int
    file_hash: str
    model_hash: str
    max_screened: int
    backend: str = "numba"
    name: str = "trial"
    screens: bool = True
    rule: str = "cases"
    calibration: TheoryCalibration | None = None

    @classmethod
    def of(cls, trial: Trial, path: str | Path, *, theory: str | None = None, patients: int | None = None,
           seed: int | None = None, backend: str = "numba",
           calibration: TheoryCalibration | None = None) -> TrialJob:
        spec = trial.spec
        n = int(patients or spec.patients)
        job = cls(str(Path(path).resolve()), theory, n, int(spec.seed if seed is None else seed),
                  _file_hash(str(path)), trial.model.model_hash,
                  int(spec.population.max_screened or 1000 * n), backend,
                  screens=spec.population.recruit != "all", rule=spec.population.recruit, calibration=calibration)
        _TRIALS[job._key()] = job._adjusted(trial)
        return job

    def _key(self) -> tuple[str, str | None, str]:
        cal = self.calibration.key() if self.calibration is not None else ""
        return (self.path, self.theory, f"{self.file_hash}:{self.seed}:{self.patients}:{cal}")

    def _adjusted(self, trial: Trial) -> Trial:
        spec = trial.spec.model_copy(update={"patients": self.patients, "seed": self.seed})
        adjusted = Trial(spec, trial.model, trial.model_ref, trial.path)
        return adjusted if self.calibration is None else self.calibration.apply(adjusted)

    def trial(self) -> Trial:
        """The trial, loaded once per process (and checked against the hashes)."""
        key = self._key()
        if key not in _TRIALS:
            if _file_hash(self.path) != self.file_hash:
                from fitts.errors import DataError

                raise DataError(f"trial file {self.path} changed while the trial was running")
            t = load_trial(self.path, self.theory)
            if t.model.model_hash != self.model_hash:
                from fitts.errors import DataError

                raise DataError(f"theory of {self.path} changed while the trial was running")
            _TRIALS[key] = self._adjusted(t)
        return _TRIALS[key]

    def fingerprint(self) -> dict[str, Any]:
        t = self.trial()
        return {"trial": t.spec.model_dump(mode="json", exclude={"source", "patients"}),
                "model_hash": self.model_hash, "seed": self.seed, "backend": self.backend,
                "calibration": None if self.calibration is None else self.calibration.key()}

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        """The candidates `rows.index` as an evaluator of a screening experiment (the patients'
        seed is the trial's, `seed` is the same)."""
        return trial_chunk(self.trial(), rows.index.to_numpy(np.int64), backend=self.backend)


@dataclass
class TrialResult:
    """Everything a trial produced.

    Attributes
    ----------
    patients
        One row per randomised patient (arm, subtype, dropout, outcomes).
    effects
        Effect sizes against control (see :func:`fitts.trials.analysis.effect_sizes`).
    arms
        Per-arm summary; ``timecourse``: observed-case means per arm and visit.
    run
        The job run (chunks, screened candidates, computed and reused chunks).
    """

    trial: Trial
    patients: pd.DataFrame
    effects: pd.DataFrame
    arms: pd.DataFrame
    timecourse: pd.DataFrame
    run: JobRun
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float:
        return self.run.acceptance_rate


def run_trial(trial: str | Path, *, theory: str | None = None, patients: int | None = None, seed: int | None = None,
              executor: AbstractExecutor | None = None, chunk_size: int = 1024, checkpoint: str | Path | None = None,
              resume: bool = False, backend: str = "numba", progress: Callable[[int, int], None] | None = None,
              on_chunk: Callable[[tuple[int, int]], None] | None = None,
              calibration: TheoryCalibration | None = None) -> TrialResult:
    """Run a trial file.

    Parameters
    ----------
    trial
        A trial file (``format: fitts-trial/1``).
    theory, patients, seed
        Replace the file's theory, number randomised, and patients' seed.
    executor
        Where chunks run (default: this process); see :mod:`fitts.run.executors`.
    chunk_size
        Candidates per chunk; results do not depend on it.
    checkpoint, resume
        Directory of finished chunks (default: a temporary one), and whether to
        continue the run checkpointed there.
    progress, on_chunk
        See :func:`fitts.run.jobs.run_job`.
    calibration
        The theory's calibration (see :func:`fitts.evaluate.calibrate.trial_calibration`);
        None: the theory as written.
    """
    t = load_trial(trial, theory)
    job = TrialJob.of(t, trial, theory=theory, patients=patients, seed=seed, backend=backend,
                      calibration=calibration)
    t = job.trial()
    if checkpoint is None:
        with tempfile.TemporaryDirectory(prefix="fitts-trial-") as tmp:
            return _run(job, t, Path(tmp), executor, chunk_size, False, progress, on_chunk)
    return _run(job, t, Path(checkpoint), executor, chunk_size, resume, progress, on_chunk)


def _run(job: TrialJob, t: Trial, directory: Path, executor: AbstractExecutor | None, chunk_size: int,
         resume: bool, progress: Callable[[int, int], None] | None,
         on_chunk: Callable[[tuple[int, int]], None] | None) -> TrialResult:
    run = screen_experiments(job, job.patients, job.max_screened, directory, seed=job.seed, rule=job.rule,
                             keeps_some=job.screens, executor=executor, resume=resume, block_rows=chunk_size,
                             progress=progress, on_block=on_chunk)
    course = TimeCourse(t)
    parts: dict[str, list[np.ndarray]] = {}
    for data, keep in run.iter_chunks():
        course.add(data, keep)
        for k, v in patient_outcomes(t, data).items():
            parts.setdefault(k, []).append(v[:keep])
    columns = {k: np.concatenate(v) for k, v in parts.items()}
    table = label_table(t, columns)
    meta = {"trial": t.spec.name, "theory": t.model.spec.name, "model_hash": t.model.model_hash,
            "calibration": job.calibration.source if job.calibration is not None else "none",
            "seed": job.seed, "randomisation_seed": t.spec.randomisation.seed, "patients": job.patients,
            "screened": run.screened, "acceptance_rate": run.acceptance_rate, "recruit": t.spec.population.recruit,
            "settings_hash": hashlib.sha256(json.dumps(job.fingerprint(), sort_keys=True, default=str).encode())
            .hexdigest()[:16]}
    return TrialResult(t, table, effect_sizes(t, table), arm_summary(t, table), course.table(), run, meta)


def write_trial(result: TrialResult, out: str | Path, *, figure_format: str = "png",
                metadata: dict[str, Any] | None = None) -> list[Path]:
    """Write the tables (Parquet) and the figure of outcomes over time, each atomically."""
    from fitts.io.results import save_table
    from fitts.plot.trial import plot_trial

    out = Path(out)
    meta = {**result.metadata, **(metadata or {})}
    paths = []
    for name, df in (("patients", result.patients), ("effects", result.effects), ("arms", result.arms),
                     ("timecourse", result.timecourse)):
        paths.append(save_table(df, out / f"{name}.parquet", meta))
    figure = out / f"outcomes.{figure_format}"
    plot_trial(result.timecourse, figure,
               title=f"{result.trial.spec.name} ({result.trial.model.spec.name}): "
                     f"{result.run.patients} patients (treatment shaded)",
               treatment_days=result.trial.spec.duration_days)
    paths.append(figure)
    return paths
