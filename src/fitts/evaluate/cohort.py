"""The virtual cohort a scorecard is computed on, and studies continued from it.

One general cohort is simulated per evaluation: ``patients`` adults with parameters from
the theory's priors, living ``years`` years under the protocol's everyday stressors and
life events. Its cross-section ``t0`` (``follow_up_years`` before the end) defines the
groups of every target: *cases* are ACR 2016 positive at t0, *controls* never met the
criteria up to t0. Exposure cohorts, challenges, trials and diaries continue chosen
patients from their state at t0 (same parameters, fresh noise streams), so every study
runs on the same virtual people.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from fitts.compile.compiled import CompiledModel
from fitts.observe.instruments import Instrument, measure
from fitts.sim.sample import start_at
from fitts.sim.simulate import Apply, simulate
from fitts.spec.schema import ScheduleComponent

from .protocol import Protocol

GROUPS = ("general", "fm", "controls")


def derived_seed(seed: int, purpose: str) -> int:
    """A seed for a continued study, fixed by the cohort seed and the study's name."""
    return int(seed) * 1_000_003 + zlib.crc32(purpose.encode()) % 1_000_000 + 1


def grid_days(days: float, step: float) -> float:
    """`days` rounded up to a whole number of `step`s (at least one)."""
    return step * max(1, int(np.ceil(days / step - 1e-9)))


@dataclass
class Cohort:
    """A simulated general cohort with its groups at the cross-section t0.

    Attributes
    ----------
    ds
        The simulation: ``trajectory`` (patient, time, state) on the record grid.
    acr
        ACR 2016 case status (0/1) on the record grid, shape (patient, time).
    t0
        The cross-section, days.
    """

    model: CompiledModel
    protocol: Protocol
    ds: xr.Dataset
    seed: int
    t0: float
    acr: np.ndarray
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: instruments a target states itself (a combination of states), by observation name; set while
    #: that target runs
    custom: dict[str, Instrument] = field(default_factory=dict, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def simulate(cls, model: CompiledModel, protocol: Protocol, *, seed: int = 0, patients: int | None = None,
                 params: Mapping[str, np.ndarray] | None = None,
                 progress: Callable[[float], None] | None = None) -> Cohort:
        """Simulate the general cohort of `protocol` (``patients`` overrides its size).

        Parameters
        ----------
        params
            Per-patient values (shape (n,)) replacing sampled parameter rows, e.g. a
            calibration's hyperparameters applied to common random numbers.
        progress
            Called with the patient-days just simulated.
        """
        c = protocol.cohort
        n = int(patients or c.patients)
        days = grid_days(c.years * 365.25, c.record_every)
        ds = simulate(model, patients=n, days=days, dt=c.dt, seed=seed, schedule=protocol.everyday,
                      params=params, record_every=c.record_every, progress=progress, throw=False,
                      command="fitts evaluate (general cohort)")
        t0 = float(ds.time.values[np.argmin(np.abs(ds.time.values - (days - c.follow_up_years * 365.25)))])
        acr = np.asarray(measure(ds, "acr2016_case").values)
        acr[np.asarray(ds.status.values) != 0] = np.nan
        return cls(model, protocol, ds, int(seed), t0, acr, dict(params or {}))

    # ------------------------------------------------------------------ groups
    @property
    def ids(self) -> np.ndarray:
        return np.asarray(self.ds.patient.values)

    @property
    def ok(self) -> np.ndarray:
        """Patients whose simulation did not fail."""
        return np.asarray(self.ds.status.values) == 0

    def time_index(self, t: float) -> int:
        return int(np.argmin(np.abs(self.ds.time.values - t)))

    def case_at(self, t: float) -> np.ndarray:
        """ACR 2016 case (bool) at time t, per patient."""
        return self.acr[:, self.time_index(t)] == 1

    def ever_case(self, until: float | None = None) -> np.ndarray:
        """Met the ACR 2016 criteria at any recorded time up to `until` (default: the end)."""
        k = len(self.ds.time) if until is None else self.time_index(until) + 1
        return np.nansum(self.acr[:, :k], axis=1) > 0

    def group(self, name: str) -> np.ndarray:
        """Mask of a population: ``general`` (all), ``fm`` (cases at t0), ``controls`` (never ill by t0)."""
        if name == "general":
            return self.ok.copy()
        if name == "fm":
            return self.ok & self.case_at(self.t0)
        if name == "controls":
            return self.ok & ~self.ever_case(self.t0)
        raise KeyError(name)

    def values(self, observation: str, mask: np.ndarray, time: float | None = None,
               options: Mapping[str, float] | None = None) -> np.ndarray:
        """An instrument measured at `time` (default t0) on the patients in `mask` (`options`: the
        instrument's options, e.g. ``{"pressure": 4.0}`` for ``evoked_pain_nrs``)."""
        t = self.t0 if time is None else time
        opts = dict(options or {})
        inst = self.instrument(observation)
        key = (inst, float(t), tuple(sorted(opts.items())))
        if key not in self._cache:
            self._cache[key] = np.asarray(measure(self.ds, inst, time=t, **opts).values, dtype=float)
        return self._cache[key][mask]

    def instrument(self, observation: str) -> str | Instrument:
        """What :func:`~fitts.observe.instruments.measure` is given for an observation name."""
        return self.custom.get(observation, observation)

    def history(self, observation: str, mask: np.ndarray, until: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """An instrument at every recorded time up to `until` (default t0): (times (k,), values (n, k))."""
        tt = np.asarray(self.ds.time.values, dtype=float)
        k = self.time_index(self.t0 if until is None else until) + 1
        if observation == "acr2016_case":
            return tt[:k], self.acr[mask, :k]
        values = measure(self.ds, self.instrument(observation), time=tt[:k]).values
        return tt[:k], np.asarray(values, dtype=float)[mask]

    def param(self, name: str) -> np.ndarray:
        """One parameter row per patient."""
        return np.asarray(self.ds.params.sel(parameter=name).values)

    # ------------------------------------------------------------------ continued studies
    def follow(self, mask: np.ndarray, *, days: float, purpose: str, limit: int | None = None,
               schedule: Sequence[ScheduleComponent] = (), interventions: Sequence[Apply] = (),
               record_every: float | None = None, everyday: bool = True,
               progress: Callable[[float], None] | None = None) -> xr.Dataset:
        """Continue the patients in `mask` from their state at t0 for `days` days.

        Parameters
        ----------
        limit
            Keep at most this many (the first by patient id).
        purpose
            Names the study; it fixes the noise seed, so two arms of one study with the
            same purpose share their random numbers (common random numbers).
        schedule, interventions
            Study inputs (timed from the continuation's start) and interventions.
        """
        pos = np.flatnonzero(mask)
        if limit is not None:
            pos = pos[:limit]
        m = self.model
        k0 = self.time_index(self.t0)
        traj = self.ds.trajectory.values
        params: dict[str, np.ndarray] = {}
        P = self.ds.params.values
        for k, row in enumerate(m.params):
            if row.kind == "prior" or row.name in self.params:
                params[row.name] = P[pos, k]
        params.update(start_at(m, traj[pos, k0, :]))
        step = record_every or self.protocol.cohort.record_every
        comps = [*(self.protocol.everyday if everyday else ()), *schedule]
        return simulate(m, patients=self.ids[pos], days=grid_days(days, step), dt=self.protocol.cohort.dt,
                        seed=derived_seed(self.seed, purpose), schedule=comps, interventions=list(interventions),
                        params=params, record_every=step, progress=progress, throw=False,
                        command=f"fitts evaluate ({purpose})")
