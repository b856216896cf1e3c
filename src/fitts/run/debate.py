"""The debate in one run: each built-in theory's predisposed patient through one stressor.

For every theory this computes, in well under a minute on two cores:

- the **story** of its typical predisposed patient (prior medians, every predisposition
  present), noise-free, through a psychosocial stressor: onset while it lasts and
  persistence (or recovery) after it ends;
- the **hysteresis curve** of that patient in sustained psychosocial stress
  (pseudo-arclength continuation), with the onset threshold (the level at which health
  is lost) and the recovery threshold (the level below which the ill state is lost);
- the **attribution shares** of a small sampled cohort tipped into illness: which
  mechanism groups hold the ill state (central-dominant, peripheral-dominant,
  interlocked, ...);
- the theory's **scorecard** as stored with its packaged calibration (how the theory met
  the published targets when it was calibrated; marked stale when the model has changed
  since).

The NumPy backend is used throughout: one patient and a small cohort cost less to
simulate than a compiled kernel costs to build.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fitts.analysis.attribution import attribute
from fitts.analysis.continuation import Continuation, FoldThresholds, continuation
from fitts.analysis.patients import Patient, choose_patient
from fitts.compile.compiled import CompiledModel, compile_model
from fitts.spec.load import load_model
from fitts.spec.yamlio import load_yaml_file

THEORIES = ("fitts", "sympathetic_drg", "integrated")
STRESS = "psychosocial_stress"


@dataclass(frozen=True)
class Stressor:
    """A psychosocial stressor: sustained `level` (input units) from day `start` for `duration` days."""

    start: float = 60.0
    duration: float = 180.0
    level: float = 2.0

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class TheoryCase:
    """One theory's part of the debate.

    Attributes
    ----------
    model, patient
        The compiled theory and its predisposed patient.
    time
        Days, shape (n_time,).
    trajectory
        Noise-free states of the patient, shape (n_time, n_states).
    continuation
        Steady states of the patient against sustained psychosocial stress.
    shares
        Attribution subtype shares of the ill members of a sampled cohort.
    n_ill, n_sampled
        Ill and sampled members of that cohort.
    scorecard
        Target id -> (status, simulated value) from the packaged calibration; empty when
        the theory has none.
    scorecard_note
        Where the scorecard comes from and whether it is current.
    """

    model: CompiledModel
    patient: Patient
    time: np.ndarray
    trajectory: np.ndarray
    continuation: Continuation
    shares: pd.Series
    n_ill: int
    n_sampled: int
    scorecard: dict[str, tuple[str, float]] = field(default_factory=dict)
    scorecard_note: str = ""

    @property
    def name(self) -> str:
        return self.model.spec.name

    @property
    def thresholds(self) -> FoldThresholds:
        return self.continuation.thresholds()

    def pain(self) -> np.ndarray:
        """Pain activation (0-1) over time, shape (n_time,)."""
        return self.trajectory[:, self.model.state_index["pain"]]

    def phase_means(self, stressor: Stressor) -> dict[str, float]:
        """Mean pain (activation) before, during and in the last quarter after the stressor."""
        t, pain = self.time, self.pain()
        after = t >= stressor.end + 0.75 * (t[-1] - stressor.end)
        return {"before": float(pain[t < stressor.start].mean()),
                "during": float(pain[(t >= stressor.start) & (t < stressor.end)].mean()),
                "long after": float(pain[after].mean())}


def packaged_scorecard(model: CompiledModel) -> tuple[dict[str, tuple[str, float]], str]:
    """The scorecard stored with a theory's packaged calibration, and a note on its provenance.

    A variant (a model that includes a built-in theory by name) gets its parent's, marked as
    such; staleness is judged against the theory the calibration was made for.
    """
    from fitts.evaluate.calibrate import builtin_calibration

    path = builtin_calibration(model.spec.name, model.spec.parents)
    if path is None:
        return {}, "no packaged calibration"
    data = load_yaml_file(path)
    card = data.get("scorecard", {}) if isinstance(data, dict) else {}
    rows = {}
    for k, v in (card.get("targets") or {}).items():
        if isinstance(v, dict):
            value = v.get("simulated")
            rows[str(k)] = (str(v.get("status", "")), float(value) if isinstance(value, int | float) else float("nan"))
    note = (f"stored with the packaged calibration ({data.get('patients', '?')} patients, "
            f"{data.get('evaluations', '?')} evaluations)")
    owner = path.stem
    current = model.model_hash if owner == model.spec.name else load_model(owner).content_hash
    if data.get("model_hash") != current:
        note += "; stale: the theory has changed since (model hash differs)"
    if owner != model.spec.name:
        note = f"the parent theory {owner}'s: {note}"
    return rows, note


def theory_case(theory: str, *, stressor: Stressor = Stressor(), days: float = 600.0, dt: float = 0.1,
                cohort: int = 100, span: tuple[float, float] = (-2.0, 4.0), seed: int = 0) -> TheoryCase:
    """Compute one theory's story, hysteresis curve, attribution shares and stored scorecard."""
    from fitts.sim.simulate import simulate

    model = compile_model(load_model(theory))
    patient = choose_patient(model, "predisposed", seed=seed)
    schedule = [{"input": STRESS, "kind": "pulse", "start": stressor.start, "duration": stressor.duration,
                 "level": stressor.level}]
    ds = simulate(model, patients=1, days=days, dt=dt, seed=seed, backend="numpy", noise=False,
                  params=patient.params, schedule=schedule, record_every=1.0, command="fitts demo")
    cont = continuation(model, STRESS, span, params=patient.params, ds_max=0.1)
    att = attribute(model, cohort, seed=seed, backend="numpy", dt=dt, max_length=3, tip_days=200.0,
                    follow_days=200.0)
    card, note = packaged_scorecard(model)
    return TheoryCase(model, patient, np.asarray(ds.time.values), np.asarray(ds.trajectory.values[0]), cont,
                      att.shares, att.n_ill, att.n_sampled, card, note)


def debate(theories: Sequence[str] = THEORIES, *, stressor: Stressor = Stressor(), days: float = 600.0,
           cohort: int = 100, seed: int = 0,
           progress: Callable[[str], None] | None = None) -> list[TheoryCase]:
    """Every theory's :class:`TheoryCase`; `progress` is called with each theory's name when done."""
    if days <= stressor.end:
        from fitts.errors import DataError

        raise DataError(f"the stressor lasts until day {stressor.end:g}; simulate more days than that so "
                        "that there is an 'after' phase")
    out = []
    for name in theories:
        out.append(theory_case(name, stressor=stressor, days=days, cohort=cohort, seed=seed))
        if progress is not None:
            progress(name)
    return out


def summary_table(cases: Sequence[TheoryCase], stressor: Stressor) -> pd.DataFrame:
    """One row per theory: pain by phase, thresholds and the leading attribution subtype."""
    rows = []
    for c in cases:
        th = c.thresholds
        phases = c.phase_means(stressor)
        lead = c.shares.idxmax() if c.shares.notna().any() and c.n_ill else "none ill"
        rows.append({"theory": c.name, "patient": c.patient.description,
                     **{f"pain {k} (0-1)": round(v, 3) for k, v in phases.items()},
                     "onset threshold": th.onset, "recovery threshold": th.recovery,
                     "persists without stress": th.recovery is not None and th.recovery < 0,
                     "cohort ill": f"{c.n_ill} of {c.n_sampled}",
                     "leading subtype": lead,
                     "leading subtype share": float(c.shares.max()) if c.n_ill else float("nan")})
    return pd.DataFrame(rows)


def scorecards_side_by_side(cases: Sequence[TheoryCase]) -> pd.DataFrame:
    """Targets (rows) by theories (columns): ``status (simulated)`` from each stored scorecard."""
    ids = sorted({t for c in cases for t in c.scorecard})
    def cell(c: TheoryCase, t: str) -> str:
        if t not in c.scorecard:
            return ""
        status, value = c.scorecard[t]
        return status if value != value else f"{status} ({value:.3g})"

    data = {c.name: [cell(c, t) for t in ids] for c in cases}
    return pd.DataFrame(data, index=pd.Index(ids, name="target"))
