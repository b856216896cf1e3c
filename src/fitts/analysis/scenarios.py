"""Virtual patients through a scenario as experiments: design columns in, outcomes out.

:class:`PatientExperiment` is the evaluator of :func:`fitts.run.experiments.perform_experiments`
for the commonest question: one virtual patient per design row, living through a
scenario of inputs and interventions, with outcomes read from its trajectory. Row ``i``
is the virtual patient with id ``i`` at the experiment's seed, so the parameters a row
does not set are drawn from the priors for that id and its noise (when on) is that
id's stream: the outcome of a row is the same in every block, process and executor.

Design columns
--------------
- a parameter of the model (``weight.EDGE``, ``tau.NODE``, a predisposition such as
  ``early_adversity``, ...): its value for the row;
- ``input:NAME.level``, ``input:NAME.start``, ``input:NAME.duration``: replace that field
  of the scenario's schedule components on input NAME (for example the stressor's level);
- ``intervention:NAME``: the day intervention NAME starts (it lasts to the end; NaN: not
  given).

Rows with the same scenario values are simulated together, vectorised.

Outcomes
--------
``NAME`` reads the end of the scenario, ``NAME@DAY`` day DAY (the nearest point of the
recording grid, every `record_every` days, default 10; days between stressors' ends and
recoveries are read on the same grid):

- ``ill``: 1 when the noise-free pain NRS is at least 4 (became and stayed ill), else 0;
- ``nrs``: the noise-free pain NRS (0-10);
- ``pain``: pain activation (0-1); ``state:NAME``: any state;
- ``measure:INSTRUMENT``: any instrument of :mod:`fitts.observe.instruments` read without
  measurement noise (``measure:fiqr``, ``measure:pain_nrs``, ...);
- ``ever_ill``: 1 when ill on any recorded day;
- ``recovered``: 1 when ill on the day the last stressor ends and no longer ill at the
  end (NaN when not ill when the stressor ends);
- ``recovery_days``: days from the end of the last stressor to the first day not ill
  (NaN when not ill when the stressor ends or still ill at the end);
- ``onset_threshold``, ``recovery_threshold``: the sustained level of
  ``psychosocial_stress`` at which the row's patient tips ill, and below which it
  recovers (:func:`fitts.analysis.thresholds.stress_thresholds`, NaN when none in
  the searched range; slow: a bisection of simulations per row).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean

#: a psychosocial stressor, level 2, days 60-240 (the scenario of sensitivity and discovery)
DEFAULT_SCENARIO: tuple[dict[str, Any], ...] = (
    {"input": "psychosocial_stress", "kind": "pulse", "start": 60.0, "duration": 180.0, "level": 2.0},)
OUTCOMES = ("ill", "nrs", "pain", "state:NAME", "measure:INSTRUMENT", "ever_ill", "recovered", "recovery_days",
            "onset_threshold", "recovery_threshold")
_GRID = ("ever_ill", "recovered", "recovery_days")
_INPUT_FIELDS = ("level", "start", "duration")

#: compiled models per process, by (reference, content hash)
_MODELS: dict[tuple[str, str], CompiledModel] = {}


@dataclass(frozen=True)
class ModelHandle:
    """A compiled model a worker process can load: a file path, a built-in name, or (this
    process only) a model built from text, by its content hash; with the prior knobs of a
    calibration applied when the model was calibrated."""

    ref: str
    model_hash: str
    calibration: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, model: CompiledModel) -> ModelHandle:
        from fitts.spec.load import builtin_theories, models_dir

        ref = f"memory:{model.model_hash}"
        files = [Path(f) for f in model.spec.files[:1]]
        packaged = models_dir() / f"{model.spec.name}.yaml"
        if model.spec.name in builtin_theories() and files and (
                not files[0].is_file() or files[0].resolve() == packaged.resolve()):
            ref = model.spec.name  # a built-in theory (its file path is shown relative to the package)
        elif files and files[0].is_file():
            ref = str(files[0].resolve())
        handle = cls(ref, model.model_hash, model.calibration)
        _MODELS[(handle.ref, handle.model_hash)] = model
        return handle

    @property
    def portable(self) -> bool:
        """Whether another process can load the model."""
        return not self.ref.startswith("memory:")

    def get(self) -> CompiledModel:
        key = (self.ref, self.model_hash)
        if key not in _MODELS:
            if not self.portable:
                raise ModelError("a model built from text cannot be loaded in a worker process",
                                 hint="save the model to a .yaml file and pass its path, or run in this process "
                                      "(--workers 1)")
            from fitts.compile.compiled import compile_model
            from fitts.spec.load import load_model

            m = compile_model(load_model(self.ref))
            if self.calibration:
                m = m.with_prior_knobs(self.calibration)
            if m.model_hash != self.model_hash:
                raise ModelError(f"model {self.ref} changed while the experiments ran ({m.model_hash} != "
                                 f"{self.model_hash})", hint="rerun the experiments")
            _MODELS[key] = m
        return _MODELS[key]


def _parse_outcome(model: CompiledModel, text: str) -> tuple[str, str | None, float | None]:
    """``NAME[@DAY]`` -> (kind, state or None, day or None), checked against the model."""
    m = re.fullmatch(r"\s*([A-Za-z_:.0-9-]+?)\s*(?:@\s*([0-9.]+))?\s*", text)
    if not m:
        raise ModelError(f"outcome {text!r} is not NAME or NAME@DAY", hint="outcomes: " + ", ".join(OUTCOMES))
    name, day = m.group(1), (float(m.group(2)) if m.group(2) else None)
    if name in ("ill", "nrs", "ever_ill", "recovered", "recovery_days"):
        from fitts.analysis.steady import label_states

        if np.isnan(label_states(model, np.zeros((1, model.n_states)))[0][0]):
            raise ModelError(f"the outcome `{name}` needs a `pain` state (with the states of the pain NRS), "
                             f"which {model.spec.name!r} lacks", hint="choose `state:NAME`")
        return name, None, day
    if name in ("onset_threshold", "recovery_threshold"):
        if "psychosocial_stress" not in model.input_index or "pain" not in model.state_index:
            raise ModelError(f"the outcome {name!r} needs the input psychosocial_stress and the state pain")
        return name, None, None
    if name.startswith("measure:"):
        from fitts.observe.instruments import INSTRUMENTS, expressible

        inst = name.removeprefix("measure:")
        if inst not in INSTRUMENTS:
            raise ModelError(f"unknown instrument in outcome {text!r}" + did_you_mean(inst, INSTRUMENTS),
                             hint="instruments: " + ", ".join(INSTRUMENTS))
        ok, why = expressible(model.states, inst)
        if not ok:
            raise ModelError(f"{model.spec.name!r} cannot express the instrument {inst!r}: {why}")
        return "measure", inst, day
    state = "pain" if name == "pain" else name.removeprefix("state:") if name.startswith("state:") else None
    if state is None or state not in model.state_index:
        raise ModelError(f"unknown outcome {text!r}" + (did_you_mean(state, model.states) if state else
                                                        did_you_mean(name, OUTCOMES)),
                         hint="outcomes: " + ", ".join(OUTCOMES) + "; states: " + ", ".join(model.states))
    return "state", state, day


def _end_of(component: Mapping[str, Any]) -> float | None:
    if component.get("end") is not None:
        return float(component["end"])
    if component.get("duration") is not None:
        return float(component.get("start", 0.0)) + float(component["duration"])
    return None


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (holds dicts, tables)
class PatientExperiment:
    """Evaluator: one virtual patient per row through a scenario (see the module docstring).

    Attributes
    ----------
    model
        The theory (:class:`ModelHandle`).
    outcomes
        Outcome names (``ill``, ``pain@365``, ...).
    days, dt, noise, backend
        Length of the scenario (days), integration step (days), state noise, backend.
    schedule
        Input components every row lives through (dicts, as in a model's schedule).
    interventions
        ``(name, start, end)`` given to every row (end None: to the end).
    record_every
        Days between recorded points for outcomes that read days other than the end (each
        recorded point costs a pass of the simulator: 10 days is about 15 times cheaper than
        a daily grid).
    block_rows
        Rows simulated together by default.
    """

    model: ModelHandle
    outcomes: tuple[str, ...]
    days: float
    schedule: tuple[Mapping[str, Any], ...] = DEFAULT_SCENARIO
    interventions: tuple[tuple[str, float, float | None], ...] = ()
    dt: float = 0.05
    noise: bool = False
    backend: str = "numba"
    record_every: float = 10.0
    block_rows: int = 512
    name: str = "patients"
    _parsed: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, model: CompiledModel, outcomes: Sequence[str], *, days: float,
           schedule: Sequence[Mapping[str, Any]] = DEFAULT_SCENARIO,
           interventions: Sequence[tuple[str, float, float | None]] = (), **kw: Any) -> PatientExperiment:
        """Check the outcomes and the scenario against `model` and build the evaluator."""
        if not outcomes:
            raise ModelError("an experiment needs at least one outcome", hint="outcomes: " + ", ".join(OUTCOMES))
        if days <= 0:
            raise ModelError(f"the scenario must last more than 0 days, got {days:g}")
        parsed = tuple(_parse_outcome(model, o) for o in outcomes)
        for _kind, _state, day in parsed:
            if day is not None and day > days:
                raise ModelError(f"an outcome reads day {day:g}, after the end of the scenario (day {days:g})",
                                 hint="lengthen the scenario (days) or read an earlier day")
        for name, _s, _e in interventions:
            if name not in model.spec.interventions:
                raise ModelError(f"unknown intervention {name!r}" + did_you_mean(name, model.spec.interventions))
        for c in schedule:
            if c.get("input") not in model.input_index:
                raise ModelError(f"the scenario's input {c.get('input')!r} is not an input of {model.spec.name!r}"
                                 + did_you_mean(str(c.get("input")), model.inputs))
        if any(k in ("recovered", "recovery_days") for k, _s, _d in parsed) and \
                not any(_end_of(c) is not None for c in schedule):
            raise ModelError("recovery outcomes need a stressor that ends (a pulse or a step with an end)")
        return cls(ModelHandle.of(model), tuple(outcomes), float(days), tuple(dict(c) for c in schedule),
                   tuple((str(n), float(s), None if e is None else float(e)) for n, s, e in interventions),
                   _parsed=parsed, **kw)

    def fingerprint(self) -> dict[str, Any]:
        return {"model": self.model.ref, "model_hash": self.model.model_hash, "outcomes": list(self.outcomes),
                "days": self.days, "schedule": [dict(c) for c in self.schedule],
                "interventions": [list(i) for i in self.interventions], "dt": self.dt, "noise": self.noise,
                "backend": self.backend, "record_every": self.record_every}

    def check_design(self, design: pd.DataFrame) -> None:
        """Every design column is a parameter, ``input:NAME.FIELD`` or ``intervention:NAME`` of the model."""
        m = self.model.get()
        for c in map(str, design.columns):
            if c.startswith("input:"):
                name, _, fld = c.removeprefix("input:").partition(".")
                if fld not in _INPUT_FIELDS or not any(s.get("input") == name for s in self.schedule):
                    raise ModelError(f"design column {c!r}: give input:NAME.FIELD with FIELD one of "
                                     f"{', '.join(_INPUT_FIELDS)} and NAME an input of the scenario's schedule "
                                     f"({', '.join(sorted({str(s.get('input')) for s in self.schedule})) or 'none'})")
            elif c.startswith("intervention:"):
                name = c.removeprefix("intervention:")
                if name not in m.spec.interventions:
                    raise ModelError(f"design column {c!r}: unknown intervention"
                                     + did_you_mean(name, m.spec.interventions))
            elif c not in m.param_index:
                raise ModelError(f"design column {c!r} is not a parameter of {m.spec.name!r}"
                                 + did_you_mean(c, m.param_index),
                                 hint="columns: parameters, input:NAME.level|start|duration, intervention:NAME")

    def _scenario(self, values: Mapping[str, float | None]) -> tuple[list[dict[str, Any]], list[Any]]:
        from fitts.sim.simulate import Apply

        schedule = [dict(c) for c in self.schedule]
        for key, v in values.items():
            if key.startswith("input:") and v is not None:
                name, _, fld = key.removeprefix("input:").partition(".")
                for c in schedule:
                    if c.get("input") == name:
                        c[fld] = float(v)
        applies = [Apply(n, start=s, end=e) for n, s, e in self.interventions]
        applies += [Apply(k.removeprefix("intervention:"), start=float(v)) for k, v in values.items()
                    if k.startswith("intervention:") and v is not None]
        return schedule, applies

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        from fitts.sim.simulate import simulate

        m = self.model.get()
        parsed = self._parsed or tuple(_parse_outcome(m, o) for o in self.outcomes)
        ids = rows.index.to_numpy(np.int64)
        scen_cols = [c for c in rows.columns if str(c).startswith(("input:", "intervention:"))]
        par_cols = [c for c in rows.columns if c not in scen_cols]
        out = {o: np.full(len(rows), np.nan) for o in self.outcomes}
        grid = any(k in _GRID or d is not None for k, _s, d in parsed)
        sims = any(k not in ("onset_threshold", "recovery_threshold") for k, _s, _d in parsed)
        keys = rows[scen_cols].astype(float).to_numpy() if scen_cols else np.zeros((len(rows), 0))
        groups: dict[tuple[float | None, ...], list[int]] = {}
        for i, k in enumerate(keys):
            # NaN (an intervention not given) as None, so that such rows share one simulation
            groups.setdefault(tuple(None if math.isnan(v) else float(v) for v in k), []).append(i)
        for key, pos_list in groups.items():
            pos = np.asarray(pos_list)
            schedule, applies = self._scenario(dict(zip(map(str, scen_cols), key, strict=True)))
            params = {str(c): rows[c].to_numpy(float)[pos] for c in par_cols}
            if sims:
                ds = simulate(m, patients=ids[pos], days=self.days, dt=self.dt, seed=seed, params=params,
                              schedule=schedule, interventions=applies, backend=self.backend,  # type: ignore[arg-type]
                              noise=self.noise, record="grid" if grid else "summary",
                              record_every=self.record_every if grid else self.days, throw=False,
                              command="fitts experiments")
                failed = np.asarray(ds.status.values) != 0
                if failed.any():
                    raise ModelError(f"{int(failed.sum())} of {len(pos)} virtual patients (rows "
                                     f"{', '.join(map(str, ids[pos][failed][:5]))}) failed to simulate (diverged)",
                                     hint="narrow the priors of the varied parameters, or lower dt")
                end = np.asarray(ds["final"].values) if not grid else np.asarray(ds.trajectory.values[:, -1, :])
                for o, (kind, state, day) in zip(self.outcomes, parsed, strict=True):
                    if kind in ("onset_threshold", "recovery_threshold"):
                        continue
                    out[o][pos] = self._read(m, ds, end, kind, state, day, schedule)
            for o, (kind, _state, _day) in zip(self.outcomes, parsed, strict=True):
                if kind in ("onset_threshold", "recovery_threshold"):
                    out[o][pos] = self._thresholds(m, ids[pos], seed, params, kind, schedule)
        return out

    def _read(self, m: CompiledModel, ds: Any, end: np.ndarray, kind: str, state: str | None, day: float | None,
              schedule: list[dict[str, Any]]) -> np.ndarray:
        from fitts.analysis.steady import label_states

        def at(d: float | None) -> np.ndarray:
            if d is None:
                return end
            times = np.asarray(ds.time.values, dtype=float)
            return np.asarray(ds.trajectory.values[:, int(np.argmin(np.abs(times - d))), :])

        def ill(X: np.ndarray) -> np.ndarray:
            return (label_states(m, X)[1] == "ill").astype(float)

        if kind == "state":
            return at(day)[:, m.state_index[str(state)]]
        if kind == "measure":
            import xarray as xr

            from fitts.observe.instruments import measure

            X = at(day)
            one = xr.Dataset({"trajectory": (("patient", "time", "state"), X[:, None, :])},
                             coords={"patient": np.arange(len(X)), "time": [0.0], "state": list(m.states)})
            return np.asarray(measure(one, str(state), noise=False, time=0.0).values, dtype=float)
        if kind == "ill":
            return ill(at(day))
        if kind == "nrs":
            return label_states(m, at(day))[0]
        traj = np.asarray(ds.trajectory.values)  # (n, time, state)
        n, nt, ns = traj.shape
        ill_t = ill(traj.reshape(-1, ns)).reshape(n, nt)
        if kind == "ever_ill":
            return ill_t.max(axis=1)
        times = np.asarray(ds.time.values, dtype=float)
        stop = max(e for c in schedule if (e := _end_of(c)) is not None)
        k = int(np.argmin(np.abs(times - stop)))
        at_stop = ill_t[:, k] > 0
        if kind == "recovered":
            return np.where(at_stop, 1.0 - ill_t[:, -1], np.nan)
        after = ill_t[:, k:] == 0
        first = np.argmax(after, axis=1)
        days = times[k + first] - times[k]
        return np.where(at_stop & after.any(axis=1), days, np.nan)

    def _thresholds(self, m: CompiledModel, ids: np.ndarray, seed: int, params: Mapping[str, np.ndarray],
                    kind: str, schedule: list[dict[str, Any]]) -> np.ndarray:
        from fitts.analysis.thresholds import stress_thresholds
        from fitts.sim.sample import sample_parameters

        P = sample_parameters(m, ids, seed, overrides=params)
        rows = [k for k, r in enumerate(m.params) if r.kind == "prior"]
        out = np.full(len(ids), np.nan)
        for j in range(len(ids)):
            th = stress_thresholds(m, {m.params[k].name: float(P[k, j]) for k in rows}, dt=self.dt,
                                   backend=self.backend)
            v = th.onset if kind == "onset_threshold" else th.recovery
            out[j] = np.nan if v is None else v
        return out


def patient_experiments(model: CompiledModel, design: pd.DataFrame, outcomes: Sequence[str], *, days: float,
                        schedule: Sequence[Mapping[str, Any]] = DEFAULT_SCENARIO,
                        interventions: Sequence[tuple[str, float, float | None]] = (), seed: int = 0,
                        executor: Any = None, directory: str | Path | None = None, resume: bool = False,
                        progress: Any = None, **kw: Any) -> Any:
    """Simulate one virtual patient per row of `design` and read `outcomes` (see the module docstring).

    Parameters
    ----------
    design
        One row per virtual patient (row ``i`` is patient id ``i`` at `seed`); columns as
        in the module docstring.
    outcomes
        Outcome names.
    days, schedule, interventions
        The scenario every row lives through (a model without the default stressor's input
        lives its own dynamics when `schedule` is the default).
    executor, directory, resume, progress
        See :func:`fitts.run.experiments.perform_experiments`.
    kw
        ``dt``, ``noise``, ``backend``, ``record_every``, ``block_rows``.

    Returns
    -------
    fitts.run.experiments.ExperimentResults
    """
    from fitts.run.executors import InlineExecutor
    from fitts.run.experiments import perform_experiments

    if schedule is DEFAULT_SCENARIO and "psychosocial_stress" not in model.inputs:
        schedule = ()
    ev = PatientExperiment.of(model, outcomes, days=days, schedule=schedule, interventions=interventions, **kw)
    ev.check_design(design)
    if executor is not None and not isinstance(executor, InlineExecutor) and not ev.model.portable:
        raise ModelError("a model built from text cannot be loaded in worker processes",
                         hint="save it to a .yaml file and pass its path, or run in this process (--workers 1)")
    return perform_experiments(ev, design, seed=seed, executor=executor, directory=directory, resume=resume,
                               progress=progress)


__all__ = ["DEFAULT_SCENARIO", "OUTCOMES", "ModelHandle", "PatientExperiment", "patient_experiments"]
