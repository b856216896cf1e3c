"""Whole cohorts as experiments: a scorecard statistic or a trial's effect per design row.

Where :class:`fitts.analysis.scenarios.PatientExperiment` makes one virtual patient of a
row, these evaluators make a whole cohort of one:

- :class:`ScorecardExperiment`: a row is a setting of calibration knobs (columns
  ``prior:PARAM.FIELD`` / ``protocol:PATH``); its outcomes are the scorecard's loss, the
  number of targets passed and the simulated value of every target quantity, on the same
  virtual patients in every row (common random numbers, as ``fitts calibrate`` uses);
- :class:`TrialExperiment`: a row is a replicate of a trial (optional columns ``patients``
  and ``seed``; without ``seed`` the row's patients are drawn with
  :func:`fitts.run.experiments.row_seed`); its records are the trial's effects at the end
  of treatment (every arm, outcome and effect, overall), with the patients randomised and
  the candidates screened.

Both go through :func:`fitts.run.experiments.perform_experiments`, so they run on any
executor with a resumable run store.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.errors import ModelError

from .experiments import row_seed


@dataclass(frozen=True)
class ScorecardExperiment:
    """Evaluator: the theory's scorecard at each row's knob values (see the module docstring).

    Attributes
    ----------
    model
        A built-in theory name or a model file's absolute path.
    targets, protocol
        Absolute paths, or None for the packaged ones.
    patients
        Cohort size of every scorecard.
    model_hash
        Checked when a worker compiles the model.
    quantities
        The target quantities reported (columns ``value:QUANTITY``).
    """

    model: str
    targets: str | None
    protocol: str | None
    patients: int
    model_hash: str
    quantities: tuple[str, ...]
    name: str = "scorecard"
    block_rows: int = 1

    @classmethod
    def of(cls, model: str, *, targets: str | Path | None = None, protocol: str | Path | None = None,
           patients: int = 1000) -> ScorecardExperiment:
        from fitts.compile.compiled import compile_model
        from fitts.evaluate.calibrate import target_quantities
        from fitts.evaluate.targets import load_targets
        from fitts.spec.load import builtin_theories, load_model

        m = compile_model(load_model(model))
        ref = model if model in builtin_theories() else str(Path(model).resolve())
        names = tuple(q.name for q in target_quantities(load_targets(targets)))
        return cls(ref, None if targets is None else str(Path(targets).resolve()),
                   None if protocol is None else str(Path(protocol).resolve()), int(patients), m.model_hash, names)

    def fingerprint(self) -> dict[str, Any]:
        return {"model": self.model, "model_hash": self.model_hash, "targets": self.targets,
                "protocol": self.protocol, "patients": self.patients}

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        from fitts.evaluate.calibrate import Calibration, Knob

        from .calibration import CalibrationJob

        knobs = tuple((str(c), -math.inf, math.inf) for c in rows.columns)
        bad = [c for c, _lo, _hi in knobs if not re.fullmatch(r"(prior|protocol):.+\.[A-Za-z_]+", c)]
        if bad:
            raise ModelError(f"design column {bad[0]!r} is not a knob",
                             hint="columns: prior:PARAM.FIELD (e.g. prior:threat_bias.mean) or protocol:PATH")
        job = CalibrationJob(self.model, self.targets, self.protocol, knobs, int(seed), self.model_hash)
        model, _targets, protocol = job._loaded()
        Calibration(model.spec.name, [Knob(name=c, range=(lo, hi)) for c, lo, hi in knobs]).check(model, protocol)
        out: dict[str, np.ndarray] = {k: np.full(len(rows), np.nan) for k in ("loss", "passes")}
        out.update({f"value:{q}": np.full(len(rows), np.nan) for q in self.quantities})
        for i, values in enumerate(rows.to_numpy(float)):
            res = job((values, self.patients))
            out["loss"][i] = res["loss"]
            out["passes"][i] = sum(s == "pass" for s in res["status"].values())
            for q, (v, _var) in res["outputs"].items():
                if f"value:{q}" in out:
                    out[f"value:{q}"][i] = v
        return out


@dataclass(frozen=True)
class TrialExperiment:
    """Evaluator: one whole trial per row; records of its effects at the end of treatment."""

    path: str
    theory: str | None
    file_hash: str
    backend: str = "numba"
    name: str = "trial-effects"
    block_rows: int = 1

    @classmethod
    def of(cls, trial: str | Path, *, theory: str | None = None, backend: str = "numba") -> TrialExperiment:
        from fitts.trials.spec import load_trial

        from .trial import _file_hash

        load_trial(trial, theory)  # a bad trial file fails here
        path = str(Path(trial).resolve())
        return cls(path, theory, _file_hash(path), backend)

    def fingerprint(self) -> dict[str, Any]:
        return {"trial": self.path, "file_hash": self.file_hash, "theory": self.theory, "backend": self.backend}

    def __call__(self, rows: pd.DataFrame, seed: int) -> pd.DataFrame:
        from .executors import InlineExecutor
        from .trial import _file_hash, run_trial

        if _file_hash(self.path) != self.file_hash:
            raise ModelError(f"trial file {self.path} changed while the experiments ran")
        parts = []
        seeds = row_seed(seed, rows.index.to_numpy())
        for j, (row, values) in enumerate(rows.iterrows()):
            patients = int(values["patients"]) if "patients" in rows.columns else None
            s = int(values["seed"]) if "seed" in rows.columns else int(seeds[j])
            with tempfile.TemporaryDirectory(prefix="fitts-trial-row-") as tmp:
                res = run_trial(self.path, theory=self.theory, patients=patients, seed=s, backend=self.backend,
                                executor=InlineExecutor(), checkpoint=Path(tmp) / "checkpoint")
            eff = res.effects
            eff = eff[(eff["subgroup"] == "all") & (eff["timepoint"] == "end")]
            keep = [c for c in ("arm", "outcome", "effect", "value", "low", "high") if c in eff.columns]
            parts.append(eff[keep].assign(row=int(row), randomised=res.run.patients, screened=res.run.screened))
        return pd.concat(parts, ignore_index=True)


__all__ = ["ScorecardExperiment", "TrialExperiment"]
