"""Input schedules: exogenous time courses built from components.

Components add up per input on top of the input's default level: steps, pulses,
ramps, repeating daily patterns and random life events (a Poisson process per
patient, drawn from that patient's own random stream). Inputs are piecewise constant
over one integration step (their value at the step's start).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fitts.sim.quantiles import prior_ppf
from fitts.sim.rng import uniforms
from fitts.spec.schema import (
    DailyComponent,
    EventsComponent,
    PulseComponent,
    RampComponent,
    ScheduleComponent,
    StepComponent,
)

MAX_EVENTS_PER_PATIENT = 100_000


def shift_component(comp: ScheduleComponent, offset: float, end: float | None) -> ScheduleComponent:
    """A component timed relative to `offset` (an intervention's start), cut at `end`."""
    update: dict = {"start": comp.start + offset}
    new_end = None if comp.end is None else comp.end + offset
    if end is not None:
        new_end = end if new_end is None else min(new_end, end)
    if not isinstance(comp, RampComponent):
        update["end"] = new_end
    else:
        update["end"] = comp.end + offset
    return comp.model_copy(update=update)


def _deterministic(comp: ScheduleComponent, t: np.ndarray) -> np.ndarray:
    """Value of one patient-independent component at times t (days), shape t.shape."""
    end = np.inf if comp.end is None else comp.end
    if isinstance(comp, StepComponent):
        return np.where((t >= comp.start) & (t < end), comp.level, 0.0)
    if isinstance(comp, PulseComponent):
        stop = min(comp.start + comp.duration, end)
        return np.where((t >= comp.start) & (t < stop), comp.level, 0.0)
    if isinstance(comp, RampComponent):
        frac = np.clip((t - comp.start) / (comp.end - comp.start), 0.0, 1.0)
        val = comp.from_level + frac * (comp.to_level - comp.from_level)
        return np.where(t >= comp.start, val, 0.0)
    if isinstance(comp, DailyComponent):
        vals = np.asarray(comp.values, dtype=float)
        phase = np.mod(t - comp.start, comp.period) / comp.period
        idx = np.minimum((phase * len(vals)).astype(np.int64), len(vals) - 1)
        return np.where((t >= comp.start) & (t < end), vals[idx], 0.0)
    raise TypeError(f"not a deterministic component: {comp!r}")  # pragma: no cover


@dataclass(frozen=True)
class _Events:
    """Flat arrays of every patient's events for one input."""

    input_index: int
    patient_pos: np.ndarray  # position of the patient in the chunk
    start: np.ndarray
    stop: np.ndarray
    magnitude: np.ndarray


def _draw_events(comp: EventsComponent, j: int, k: int, seed: int, patients: np.ndarray,
                 horizon: float) -> _Events:
    """Poisson event times per patient from counter-based uniforms (stream 'events')."""
    end = horizon if comp.end is None else min(comp.end, horizon)
    span = max(end - comp.start, 0.0)
    lam = comp.rate_per_year / 365.25 * span
    cap = int(min(lam + 8 * np.sqrt(lam) + 16, MAX_EVENTS_PER_PATIENT))
    # each component gets its own counter range: 3 uniforms per event slot
    offset = k * 3 * MAX_EVENTS_PER_PATIENT
    u = uniforms(seed, patients, "events", 3 * cap, offset=offset)
    gaps = -np.log(u[:, :cap]) / (comp.rate_per_year / 365.25)
    times = comp.start + np.cumsum(gaps, axis=1)
    keep = times < end
    if isinstance(comp.magnitude, int | float):
        mags = np.full(times.shape, float(comp.magnitude))
    else:
        mags = prior_ppf(comp.magnitude, u[:, cap:2 * cap])
    pos = np.broadcast_to(np.arange(len(patients))[:, None], times.shape)
    return _Events(j, pos[keep], times[keep], np.minimum(times[keep] + comp.duration, end),
                   mags[keep])


class Schedule:
    """Evaluates all input components for a chunk of patients.

    Parameters
    ----------
    components
        Schedule components (from the model's `schedule:` and the run's own).
    inputs
        Input names in model order.
    defaults
        Default level per input, shape (n_inputs,).
    seed, patients
        Used only for random components (events); patients has shape (n,).
    horizon
        Last day simulated (events are drawn up to it).
    """

    def __init__(self, components: Sequence[ScheduleComponent], inputs: Sequence[str],
                 defaults: np.ndarray, seed: int, patients: np.ndarray, horizon: float):
        index = {name: j for j, name in enumerate(inputs)}
        self.n_inputs = len(inputs)
        self.n = len(patients)
        self.defaults = np.asarray(defaults, dtype=float)
        self.fixed: list[tuple[int, ScheduleComponent]] = []
        self.events: list[_Events] = []
        for k, comp in enumerate(components):
            j = index[comp.input]
            if isinstance(comp, EventsComponent):
                self.events.append(_draw_events(comp, j, k, seed, np.asarray(patients), horizon))
            else:
                self.fixed.append((j, comp))

    @property
    def per_patient(self) -> bool:
        """True when inputs differ between patients (random events)."""
        return bool(self.events)

    def evaluate(self, t: np.ndarray) -> np.ndarray:
        """Inputs at times t, shape (len(t), n_inputs, n_u) with n_u = n or 1."""
        t = np.asarray(t, dtype=float)
        n_u = self.n if self.per_patient else 1
        # the common part first on (time, input), then one pass to spread it over patients
        base = np.empty((len(t), self.n_inputs))
        base[:] = self.defaults[None, :]
        for j, comp in self.fixed:
            base[:, j] += _deterministic(comp, t)
        out = np.empty((len(t), self.n_inputs, n_u))
        out[:] = base[:, :, None]
        if self.events and len(t):
            lo, hi = t[0], t[-1]
            for ev in self.events:
                sel = (ev.start <= hi) & (ev.stop > lo)
                if not sel.any():
                    continue
                # an event is on at t[i] for start <= t[i] < stop: a run of indices [i0, i1)
                i0 = np.searchsorted(t, ev.start[sel], side="left")
                length = np.searchsorted(t, ev.stop[sel], side="left") - i0
                total = int(length.sum())
                if total == 0:
                    continue
                # only the (event, time) pairs that are on, event by event as before, so each
                # input sums its events in the same order (bit-identical to a dense mask)
                first = np.repeat(np.cumsum(length) - length, length)
                cols = np.repeat(i0, length) + np.arange(total) - first
                target = np.zeros((len(t), n_u))
                np.add.at(target, (cols, np.repeat(ev.patient_pos[sel], length)),
                          np.repeat(ev.magnitude[sel], length))
                out[:, ev.input_index, :] += target
        return out

    def boundaries(self) -> list[float]:
        """Times where a deterministic component switches (for adaptive solvers)."""
        times: list[float] = []
        for _, c in self.fixed:
            times.append(c.start)
            if c.end is not None:
                times.append(c.end)
            if isinstance(c, PulseComponent):
                times.append(c.start + c.duration)
        return sorted(set(times))
