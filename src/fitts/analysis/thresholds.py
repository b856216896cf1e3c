"""Onset and recovery thresholds of one patient, by simulation and bisection.

The brute-force counterpart of numerical continuation: for a sustained input level L,
simulate deterministically from the healthy resting state (onset) or from the ill state
reached after a large priming stressor (recovery), and bisect on L for the level at which
the outcome flips. Hysteresis shows as a recovery threshold below the onset threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
from fitts.sim.simulate import simulate


@dataclass(frozen=True)
class Thresholds:
    """Sustained input levels (input units) at which a patient tips (onset) and recovers.

    `onset` is None when even the highest level tried does not tip the patient;
    `recovery` is None when the ill state persists at the lowest level tried.
    """

    onset: float | None
    recovery: float | None
    search: tuple[float, float]

    @property
    def hysteresis(self) -> bool:
        """True when the patient is bistable over a range of sustained levels."""
        lo, _ = self.search
        rec = lo if self.recovery is None else self.recovery
        return self.onset is not None and rec < self.onset


def _ends_high(model: CompiledModel, level: float, *, ill_start: bool, params: Mapping[str, float],
               input_name: str, state: str, high: float, prime: float, settle: float, dt: float,
               backend: str) -> bool:
    sched = [{"input": input_name, "kind": "step", "start": 0.0, "level": level}]
    days = settle
    if ill_start:
        sched = [{"input": input_name, "kind": "step", "start": 0.0, "end": settle, "level": prime},
                 {"input": input_name, "kind": "step", "start": settle, "level": level}]
        days = 2 * settle
    ds = simulate(model, patients=1, days=days, dt=dt, noise=False, schedule=sched,
                  params=dict(params), backend=backend, record_every=days, command="thresholds")
    return float(ds.trajectory.sel(state=state).values[0, -1]) > high


def stress_thresholds(model: CompiledModel, params: Mapping[str, float], *,
                      input_name: str = "psychosocial_stress", state: str = "pain", high: float = 0.5,
                      search: tuple[float, float] = (-3.0, 5.0), prime: float = 5.0,
                      settle: float = 300.0, dt: float = 0.05, tol: float = 0.05,
                      backend: str = "numba") -> Thresholds:
    """Onset and recovery thresholds of one deterministic patient.

    Parameters
    ----------
    model
        A compiled model.
    params
        Parameter values fixing the patient (for example
        :func:`fitts.sim.sample.typical_parameters` with predispositions set); rows not given
        take the values sampled for patient 0 at seed 0.
    input_name, state, high
        The input whose sustained level is varied, and the state whose final value above
        `high` means "ill".
    search
        Range of sustained levels searched (input units).
    prime
        Level applied for `settle` days to reach the ill state before a recovery test.
    settle
        Days each level is held before the outcome is read.
    tol
        Bisection stops when the bracket is narrower than this.
    """
    for name, where in ((input_name, model.input_index), (state, model.state_index)):
        if name not in where:
            raise ModelError(f"unknown name {name!r}." + did_you_mean(name, where))
    kw = dict(params=params, input_name=input_name, state=state, high=high, prime=prime,
              settle=settle, dt=dt, backend=backend)
    lo, hi = search

    def bisect(ill_start: bool) -> float | None:
        a, b = lo, hi
        fa = _ends_high(model, a, ill_start=ill_start, **kw)
        fb = _ends_high(model, b, ill_start=ill_start, **kw)
        if fa == fb:
            return None
        while b - a > tol:
            mid = 0.5 * (a + b)
            if _ends_high(model, mid, ill_start=ill_start, **kw) == fa:
                a = mid
            else:
                b = mid
        return 0.5 * (a + b)

    onset = bisect(False)
    if onset is None and _ends_high(model, lo, ill_start=False, **kw):
        onset = lo  # ill even at the lowest level
    recovery = bisect(True)
    return Thresholds(onset=onset, recovery=recovery, search=search)
