"""One chunk of a trial: screen candidates, randomise, treat, follow up, drop out, measure.

:func:`trial_chunk` is a pure function of (trial, candidate ids): a patient's arm,
trajectory, dropout and measurements depend only on the trial file, the theory and the
patient's id, never on the chunk, process or executor that computed them.

Per patient
-----------
1. Run-in and screening (:func:`fitts.population.recruit.screen`).
2. Arm: simple randomisation by the allocation ratios, from the patient's own ``trial``
   stream (counter 0) under the randomisation seed.
3. Treatment and follow-up: the patient continues from its state at recruitment with
   its own parameters and a fresh noise stream that is the same in every arm (common
   random numbers: arms differ only by their interventions), under the everyday
   stressors, with the arm's interventions in their windows.
4. Visits every ``assess_every_days`` from day 0 (baseline): pain NRS and FIQR.
5. Dropout between visits v-1 and v with probability 1 - exp(-h dt_v), hazard
   h = rate_per_year / 365.25 * exp(pain_weight * max(0, NRS_{v-1} - NRS_0)) (random
   plus pain-dependent dropout), from the ``trial`` stream (counters 1 ..). A dropout's
   later visits are missing.
"""

from __future__ import annotations

import zlib

import numpy as np

from fitts.observe.instruments import measure
from fitts.population.recruit import screen
from fitts.population.sample import predispositions
from fitts.sim.rng import uniforms
from fitts.sim.sample import start_at
from fitts.sim.simulate import simulate

from .spec import Trial

#: measured at every visit
OUTCOMES = ("pain_nrs", "fiqr")


def trial_seed(seed: int) -> int:
    """The noise seed of the treatment period, fixed by the trial's seed."""
    return int(seed) * 1_000_003 + zlib.crc32(b"trial") % 1_000_000 + 1


def visit_times(trial: Trial) -> np.ndarray:
    """Days of the visits (0 = baseline at randomisation), shape (n_visits,)."""
    s = trial.spec
    n = int(round(s.days / s.assess_every_days))
    return np.round(np.arange(n + 1) * s.assess_every_days, 10)


def subtype_codes(trial: Trial, params: np.ndarray) -> np.ndarray:
    """Subtype per patient as a bit mask of carried predispositions, shape (n,) int64.

    Bit j is set when the patient carries the j-th predisposition of the theory
    (:func:`fitts.population.sample.predispositions`); 0 carries none. With
    ``outcomes.subtypes: none`` every patient has code 0.
    """
    code = np.zeros(len(params), dtype=np.int64)
    if trial.spec.outcomes.subtypes == "none":
        return code
    for j, name in enumerate(predispositions(trial.model)):
        code |= (params[:, trial.model.param_index[name]] > 0.5).astype(np.int64) << j
    return code


def subtype_label(trial: Trial, code: int) -> str:
    """``early_adversity+nav_variant`` style label of a subtype code (``none``: no predisposition)."""
    names = [n for j, n in enumerate(predispositions(trial.model)) if code >> j & 1]
    return "+".join(names) or ("all" if trial.spec.outcomes.subtypes == "none" else "none")


def trial_chunk(trial: Trial, ids: np.ndarray, *, backend: str = "numba") -> dict[str, np.ndarray]:
    """Simulate candidates `ids` through screening and, if recruited, the trial.

    Returns
    -------
    dict
        Arrays over the recruited patients (patient axis first): ``patient`` (n,),
        ``arm`` (n,) index into the trial's arms, ``subtype`` (n,) code, ``status`` (n,)
        0 ok or the simulator's failure code, ``dropout`` (n,) first missed visit or -1,
        and one (n, n_visits) float array per outcome in :data:`OUTCOMES` with NaN at
        missed visits.
    """
    s, m = trial.spec, trial.model
    scr = screen(m, ids, seed=s.seed, population=trial.population, recruitment=trial.recruitment, backend=backend)
    acc = scr.ids
    n, times = len(acc), visit_times(trial)
    cum = np.cumsum([a.allocation for a in s.arms])
    u_arm = uniforms(s.randomisation.seed, acc, "trial", 1)[:, 0]
    arm = np.minimum(np.searchsorted(cum / cum[-1], u_arm, side="right"), len(s.arms) - 1)
    values = {k: np.full((n, len(times)), np.nan) for k in OUTCOMES}
    status = np.zeros(n, dtype=np.int8)
    prior_rows = [k for k, row in enumerate(m.params) if row.kind == "prior"]
    for a in range(len(s.arms)):
        sel = np.flatnonzero(arm == a)
        if len(sel) == 0:
            continue
        params = {m.params[k].name: scr.params[sel, k] for k in prior_rows}
        params.update(start_at(m, scr.states[sel]))
        ds = simulate(m, patients=acc[sel], days=s.days, dt=s.dt, seed=trial_seed(s.seed),
                      schedule=list(trial.everyday), interventions=trial.applies(a), params=params,
                      record="grid", record_every=s.assess_every_days, backend=backend,  # type: ignore[arg-type]
                      throw=False, command=f"fitts trial {s.name}")
        status[sel] = ds.status.values
        for k in OUTCOMES:
            values[k][sel] = np.asarray(measure(ds, k).values, dtype=float)
    failed = status != 0
    for k in OUTCOMES:
        values[k][failed] = np.nan
    dropout = _dropout(trial, acc, values["pain_nrs"], times)
    for k in OUTCOMES:
        late = np.arange(len(times))[None, :] >= np.where(dropout < 0, len(times), dropout)[:, None]
        values[k][late] = np.nan
    return {"patient": acc, "arm": arm.astype(np.int16), "subtype": subtype_codes(trial, scr.params),
            "status": status, "dropout": dropout, **{k: values[k].astype(np.float32) for k in OUTCOMES}}


def _dropout(trial: Trial, ids: np.ndarray, nrs: np.ndarray, times: np.ndarray) -> np.ndarray:
    """First missed visit per patient (-1: completed), shape (n,) int32."""
    d = trial.spec.dropout
    n, nv = nrs.shape
    out = np.full(n, -1, dtype=np.int32)
    if d.rate_per_year <= 0 or nv < 2:
        return out
    with np.errstate(invalid="ignore"):
        worse = np.nan_to_num(np.maximum(nrs[:, :-1] - nrs[:, :1], 0.0))
    hazard = d.rate_per_year / 365.25 * np.exp(d.pain_weight * worse)
    p = 1.0 - np.exp(-hazard * np.diff(times)[None, :])
    u = uniforms(trial.spec.randomisation.seed, ids, "trial", nv - 1, offset=1)
    drop = u < p
    first = np.argmax(drop, axis=1)
    out[drop.any(axis=1)] = first[drop.any(axis=1)] + 1
    return out
