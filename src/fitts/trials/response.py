"""Who responds to a trial's treatment: individual responses as experiments, then PRIM.

A trial's effect is an average; a virtual trial can do what a real one cannot and give
every recruited patient *both* the treatment and the control (the same patient, from the
same state at recruitment, with the same noise in both: common random numbers, as
:func:`fitts.trials.simulate.trial_chunk` does across arms). The patient's individual
effect is the difference of its pain NRS at the end of treatment between the two runs.

A patient **responds** when the treatment lowers its end-of-treatment pain NRS (noise-free
reading of the latent states) below its own control run by at least `fraction` (default:
the trial's first responder fraction, 0.3 for the example trial) of its NRS at
randomisation, and by at least one point (a change the 0-10 scale shows); a patient who
would worsen under control and is kept well by the treatment responds too. Scenario
discovery (:func:`fitts.analysis.discovery.box_discovery`) then peels the box of
parameters (predispositions and person-level spreads) in which responders are common.

A trial file written for another theory is run without the population settings the
theory cannot have (:func:`trial_for_theory`: the example trial's prevalence of
``early_adversity`` on ``sympathetic_drg``, which has no such predisposition).

The candidates are experiments (:func:`fitts.run.experiments.perform_experiments`): row i
is candidate i of the trial's population (screened exactly as the trial screens it); a
candidate the trial would not recruit has NaN outcomes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.errors import ModelError, did_you_mean

from .simulate import trial_seed
from .spec import TheoryCalibration, Trial, load_trial

#: trials per process, by (file, theory, content hash)
_TRIALS: dict[tuple[str, str | None, str], Trial] = {}


def trial_for_theory(path: str | Path, theory: str | None = None) -> tuple[Trial, list[str]]:
    """A trial file run on `theory`, without the population settings the theory cannot have.

    The file is checked against its own theory first; then the prevalences and
    correlations of parameters that `theory` does not sample (a predisposition of another
    theory, e.g. ``early_adversity`` for ``sympathetic_drg``) are left out, and the rest
    is checked against `theory` as :func:`fitts.trials.spec.load_trial` checks it.

    Returns
    -------
    (trial, the settings left out, in words)
    """
    from fitts.compile.compiled import compile_model
    from fitts.spec.load import builtin_theories, load_model
    from fitts.spec.yamlio import load_yaml_file

    from .spec import _checked

    base = load_trial(path)
    if theory is None or theory == base.model_ref:
        return base, []
    model = compile_model(load_model(theory))
    ref = theory if theory in builtin_theories() else str(Path(theory).resolve())
    sampled = {r.name for r in model.params if r.kind == "prior"}
    pop = base.spec.population
    prevalence = {k: v for k, v in pop.prevalence.items() if k in sampled}
    correlation = [c for c in pop.correlation if all(b in sampled for b in c.between)]
    dropped = [f"prevalence of {k}" for k in pop.prevalence if k not in prevalence]
    dropped += [f"correlation {c.between[0]}-{c.between[1]}" for c in pop.correlation if c not in correlation]
    spec = base.spec.model_copy(update={"population": pop.model_copy(update={"prevalence": prevalence,
                                                                             "correlation": correlation})})
    return _checked(spec, model, ref, load_yaml_file(Path(path), what="trial file"), base.path), dropped


def _file_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (holds dicts, tables)
class TreatmentResponse:
    """Evaluator: per candidate, recruited or not and, if recruited, its NRS at randomisation and
    at the end of treatment under the control arm and under `arm`; its prior parameters."""

    path: str
    theory: str | None
    file_hash: str
    arm: int
    backend: str = "numba"
    name: str = "treatment-response"
    block_rows: int = 256
    #: the theory's calibration (None: the theory as written)
    calibration: TheoryCalibration | None = None

    def _key(self) -> tuple[str, str | None, str]:
        return (self.path, self.theory, self.file_hash + (f":{self.calibration.key()}" if self.calibration else ""))

    def trial(self) -> Trial:
        key = self._key()
        if key not in _TRIALS:
            if _file_hash(self.path) != self.file_hash:
                raise ModelError(f"trial file {self.path} changed while the experiments ran")
            t = trial_for_theory(self.path, self.theory)[0]
            _TRIALS[key] = t if self.calibration is None else self.calibration.apply(t)
        return _TRIALS[key]

    def fingerprint(self) -> dict[str, Any]:
        t = self.trial()
        return {"trial": t.spec.model_dump(mode="json", exclude={"source", "patients"}),
                "model_hash": t.model.model_hash, "arm": self.arm, "backend": self.backend}

    def parameters(self) -> list[str]:
        """The sampled parameters reported per patient (the columns PRIM may restrict)."""
        m = self.trial().model
        return [r.name for r in m.params if r.kind == "prior"]

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        from fitts.analysis.steady import label_states
        from fitts.population.recruit import screen
        from fitts.sim.sample import start_at
        from fitts.sim.simulate import simulate

        t = self.trial()
        s, m = t.spec, t.model
        ids = rows.index.to_numpy(np.int64)
        scr = screen(m, ids, seed=s.seed, population=t.population, recruitment=t.recruitment, backend=self.backend)
        n = len(ids)
        pos = np.searchsorted(ids, scr.ids)
        prior = [k for k, r in enumerate(m.params) if r.kind == "prior"]
        out: dict[str, np.ndarray] = {"recruited": np.zeros(n)}
        out["recruited"][pos] = 1.0
        for key in ("nrs_baseline", "nrs_control", "nrs_treated"):
            out[key] = np.full(n, np.nan)
        for k in prior:
            out[m.params[k].name] = np.full(n, np.nan)
            out[m.params[k].name][pos] = scr.params[:, k]
        if len(scr.ids) == 0:
            return out
        params = {m.params[k].name: scr.params[:, k] for k in prior}
        params.update(start_at(m, scr.states))
        out["nrs_baseline"][pos] = label_states(m, scr.states)[0]
        for key, arm in (("nrs_control", s.control), ("nrs_treated", self.arm)):
            ds = simulate(m, patients=scr.ids, days=s.duration_days, dt=s.dt, seed=trial_seed(s.seed),
                          schedule=list(t.everyday), interventions=t.applies(arm), params=params,
                          record="summary", backend=self.backend,  # type: ignore[arg-type]
                          throw=False, command=f"fitts discover --outcome response ({s.name})")
            nrs = label_states(m, np.asarray(ds["final"].values))[0]
            nrs[np.asarray(ds.status.values) != 0] = np.nan
            out[key][pos] = nrs
        return out


def response_evaluator(trial: str | Path, *, theory: str | None = None, arm: str | None = None,
                       backend: str = "numba", calibration: TheoryCalibration | None = None) -> TreatmentResponse:
    """The evaluator of a trial file's treatment `arm` (default: its first arm that is not the
    control), on the theory as written or with its `calibration`.

    Raises
    ------
    ModelError
        An unknown arm, or the control arm itself.
    """
    t, _dropped = trial_for_theory(trial, theory)
    names = [a.name for a in t.spec.arms]
    treated = [i for i in range(len(names)) if i != t.spec.control]
    if arm is None:
        i = treated[0]
    elif arm not in names:
        raise ModelError(f"the trial {t.spec.name!r} has no arm {arm!r}" + did_you_mean(arm, names),
                         hint="arms: " + ", ".join(names))
    else:
        i = names.index(arm)
        if i == t.spec.control:
            raise ModelError(f"{arm!r} is the trial's control arm; choose a treatment arm",
                             hint="arms: " + ", ".join(names[j] for j in treated))
    path = str(Path(trial).resolve())
    ev = TreatmentResponse(path, theory, _file_hash(path), i, backend, calibration=calibration)
    _TRIALS[ev._key()] = t if calibration is None else calibration.apply(t)
    return ev


@dataclass
class Responses:
    """Individual responses of a trial's recruited patients (one row each).

    Attributes
    ----------
    patients
        ``patient`` (candidate id), ``nrs_baseline``, ``nrs_control``, ``nrs_treated``,
        ``effect`` (control minus treated), ``responder`` (0/1) and the sampled parameters.
    arm, fraction
        The treatment arm and the responder fraction of the baseline NRS.
    candidates
        Candidates screened.
    parameters
        The sampled parameters (columns of `patients`).
    dropped
        Population settings of the trial file left out because the theory lacks their
        parameters (see :func:`trial_for_theory`).
    """

    patients: pd.DataFrame
    arm: str
    fraction: float
    candidates: int
    parameters: list[str]
    dropped: list[str]


def individual_responses(trial: str | Path, candidates: int, *, theory: str | None = None, arm: str | None = None,
                         fraction: float | None = None, backend: str = "numba", executor: Any = None,
                         directory: str | Path | None = None, resume: bool = False,
                         progress: Callable[[int, int], None] | None = None,
                         calibration: TheoryCalibration | None = None) -> Responses:
    """Screen `candidates` of a trial's population and give every recruit both arms (see the module docstring).

    Parameters
    ----------
    trial, theory
        The trial file and an optional replacement theory.
    candidates
        Candidates screened (ids 0..candidates-1 of the trial's population and seed).
    arm
        The treatment arm (default: the first that is not the control).
    fraction
        A responder's drop below its control run, as a fraction of its baseline NRS
        (default: the trial's first responder fraction).
    executor, directory, resume, progress
        See :func:`fitts.run.experiments.perform_experiments`.
    calibration
        The theory's calibration (see :func:`fitts.evaluate.calibrate.trial_calibration`).
    """
    from fitts.run.experiments import perform_experiments

    if candidates < 1:
        raise ModelError(f"candidates must be >= 1, got {candidates}")
    ev = response_evaluator(trial, theory=theory, arm=arm, backend=backend, calibration=calibration)
    t = ev.trial()
    frac = float(fraction if fraction is not None else (t.spec.outcomes.responders or [0.3])[0])
    design = pd.DataFrame({"candidate": np.arange(candidates)})
    res = perform_experiments(ev, design, seed=t.spec.seed, executor=executor, directory=directory, resume=resume,
                              progress=progress)
    o = res.outcomes
    rec = o[o["recruited"] == 1].copy()
    rec = rec[np.isfinite(rec["nrs_control"]) & np.isfinite(rec["nrs_treated"])]
    rec.insert(0, "patient", rec.index.to_numpy())
    rec["effect"] = rec["nrs_control"] - rec["nrs_treated"]
    rec["responder"] = ((rec["effect"] >= frac * rec["nrs_baseline"]) & (rec["effect"] >= 1.0)).astype(float)
    rec = rec.drop(columns="recruited").reset_index(drop=True)
    return Responses(rec, t.spec.arms[ev.arm].name, frac, candidates, ev.parameters(),
                     trial_for_theory(trial, theory)[1])


#: recruits, and responders and non-responders among them, a responders' box needs at least
MIN_FOR_A_BOX = 20


def discover_response(trial: str | Path, candidates: int, *, theory: str | None = None, arm: str | None = None,
                      fraction: float | None = None, min_density: float | None = None, backend: str = "numba",
                      executor: Any = None, directory: str | Path | None = None, resume: bool = False,
                      progress: Callable[[int, int], None] | None = None,
                      calibration: TheoryCalibration | None = None) -> tuple[Any, Responses]:
    """The box of parameters in which a trial's recruits respond to `arm` (PRIM), and the responses.

    Returns
    -------
    (fitts.analysis.discovery.Discovery, Responses)
    """
    from fitts.analysis.discovery import box_discovery

    r = individual_responses(trial, candidates, theory=theory, arm=arm, fraction=fraction, backend=backend,
                             executor=executor, directory=directory, resume=resume, progress=progress,
                             calibration=calibration)
    if len(r.patients) < MIN_FOR_A_BOX:
        raise ModelError(f"only {len(r.patients)} of {candidates} candidates were recruited: too few for a box",
                         hint="screen more candidates (--patients)")
    responders = int(r.patients["responder"].sum())
    if min(responders, len(r.patients) - responders) < MIN_FOR_A_BOX:
        which = "respond" if responders < MIN_FOR_A_BOX else "do not respond"
        count = responders if responders < MIN_FOR_A_BOX else len(r.patients) - responders
        raise ModelError(f"only {count} of {len(r.patients)} recruits {which}: too few for a box (a box peeled "
                         f"around so few patients describes them, not a group)",
                         hint="screen more candidates (--patients)")
    t = trial_for_theory(trial, theory)[0]
    t = t if calibration is None else calibration.apply(t)
    d = box_discovery(r.patients[r.parameters], r.patients["responder"].to_numpy(),
                      outcome=f"responds to {r.arm} (NRS at least {r.fraction:.0%} of baseline below control)",
                      min_density=min_density,
                      settings={"trial": t.spec.name, "theory": t.model.spec.name, "model_hash": t.model.model_hash,
                                "arm": r.arm, "fraction": r.fraction, "candidates": candidates,
                                "recruited": len(r.patients), "left_out": r.dropped})
    return d, r


__all__ = ["Responses", "TreatmentResponse", "discover_response", "individual_responses", "response_evaluator",
           "trial_for_theory"]
