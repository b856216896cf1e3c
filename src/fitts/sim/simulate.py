"""Simulate virtual patients: the one entry point of the simulator.

Patients are processed in chunks; within a chunk, time advances segment by segment
(segments end at recording points and at intervention starts and ends), and the
backend advances every patient of the chunk through a segment at once.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import TypeAdapter, ValidationError

from fitts.compile.compiled import CompiledModel, compile_model
from fitts.errors import ModelError, SimulationError, did_you_mean
from fitts.sim.backends.base import STATUS_MESSAGES, AbstractBackend, ChunkState, StepPlan
from fitts.sim.backends.numba_backend import NumbaBackend
from fitts.sim.backends.numpy_backend import NumpyBackend
from fitts.sim.events import EventRunner, auxiliary_values, compile_events
from fitts.sim.hybrid import HybridLoop
from fitts.sim.integrators import INTEGRATORS, AbstractIntegrator
from fitts.sim.rng import stream_keys
from fitts.sim.sample import derive, rederive, sample_free
from fitts.sim.schedule import Schedule, shift_component
from fitts.spec.load import load_model
from fitts.spec.model import Spec
from fitts.spec.schema import InterventionSpec, ScheduleComponent

BACKENDS: dict[str, type[AbstractBackend]] = {"numpy": NumpyBackend, "numba": NumbaBackend}
ADAPTIVE_METHODS = ("LSODA", "RK45", "RK23", "DOP853", "BDF", "Radau")
SUMMARIES = ("mean", "sd", "min", "max", "final")
_COMPONENT = TypeAdapter(ScheduleComponent)


@dataclass(frozen=True)
class Apply:
    """An intervention applied from `start` to `end` (days; None: to the end).

    `name` names an intervention of the model, or, with `spec` given, labels an ad-hoc
    intervention (an evaluation protocol's challenge, for example) that is not in the model.
    """

    name: str
    start: float = 0.0
    end: float | None = None
    spec: InterventionSpec | None = None

    def actions(self, model: CompiledModel) -> list:
        """The intervention's actions (from `spec` or the model's intervention `name`)."""
        return (self.spec or model.spec.interventions[self.name]).actions


def as_compiled(model: CompiledModel | Spec | str | Path) -> CompiledModel:
    """Accept a compiled model, a Spec, a path or a built-in theory name."""
    if isinstance(model, CompiledModel):
        return model
    if isinstance(model, Spec):
        return compile_model(model)
    return compile_model(load_model(model))


def _components(items: Iterable[ScheduleComponent | Mapping[str, Any]], model: CompiledModel
                ) -> list[ScheduleComponent]:
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            try:
                item = _COMPONENT.validate_python(dict(item))
            except ValidationError as exc:
                err = exc.errors(include_url=False)[0]
                raise ModelError(f"schedule #{i + 1}: {'.'.join(map(str, err['loc']))}: "
                                 f"{err['msg']}") from None
        if item.input not in model.input_index:
            raise ModelError(f"schedule #{i + 1}: unknown input {item.input!r}."
                             + did_you_mean(item.input, model.inputs),
                             hint="inputs: " + ", ".join(model.inputs))
        out.append(item)
    return out


def _applies(items: Iterable[Apply | tuple | str], model: CompiledModel) -> list[Apply]:
    out = []
    for item in items:
        if isinstance(item, str):
            item = Apply(item)
        elif isinstance(item, tuple):
            item = Apply(*item)
        if item.spec is None and item.name not in model.spec.interventions:
            raise ModelError(f"unknown intervention {item.name!r}."
                             + did_you_mean(item.name, model.spec.interventions),
                             hint="interventions: " + (", ".join(model.spec.interventions) or "(none)"))
        if item.spec is not None:
            _check_actions(item, model)
        if item.end is not None and item.end <= item.start:
            raise ModelError(f"intervention {item.name!r}: end {item.end} is not after start {item.start}")
        out.append(item)
    return out


def _check_actions(item: Apply, model: CompiledModel) -> None:
    """An ad-hoc intervention must name states, edges and parameters the model has (model
    files are checked when they load; an `Apply(spec=...)` is checked here)."""
    for action in item.spec.actions if item.spec is not None else ():
        for attr, known, what in (("clamp", model.state_index, "state"), ("set_state", model.state_index, "state"),
                                  ("scale_edge", model.spec.edges, "edge"),
                                  ("cut_edge", model.spec.edges, "edge"), ("shift", model.param_index, "parameter"),
                                  ("set", model.param_index, "parameter")):
            name = getattr(action, attr, None)
            if isinstance(name, str) and name not in known:
                raise ModelError(f"intervention {item.name!r}: unknown {what} {name!r}."
                                 + did_you_mean(name, known))
        comp = getattr(action, "add_input", None)
        if comp is not None and comp.input not in model.input_index:
            raise ModelError(f"intervention {item.name!r}: unknown input {comp.input!r}."
                             + did_you_mean(comp.input, model.inputs))


class _Plans:
    """Step plans per set of active interventions (parameters re-derived, clamps set)."""

    def __init__(self, model: CompiledModel, P_free: np.ndarray, ids: np.ndarray, keys: np.ndarray,
                 dt: float, noise: bool, applies: list[Apply],
                 overrides: Mapping[int, np.ndarray] | None = None):
        self.model, self.P_free, self.ids, self.keys = model, P_free, ids, keys
        self.dt, self.noise, self.applies = dt, noise, applies
        self.overrides = dict(overrides or {})
        self.cache: dict[tuple[int, ...], StepPlan] = {}

    def write_param(self, row: int, values: np.ndarray, mask: np.ndarray) -> None:
        """An event sets parameter `row` to `values` (shape (n,)) for the patients in `mask`;
        every plan built so far is updated (the derived rows that depend on it re-derived,
        interventions on top), and later ones are built from it."""
        self.P_free[row, mask] = values[mask]
        if row in self.overrides:
            o = np.array(np.broadcast_to(self.overrides[row], values.shape), dtype=float)
            o[mask] = values[mask]
            self.overrides[row] = o
        # each built plan: only the row and the derived rows depending on it change (in place:
        # the same arrays the kernels read)
        for active, plan in self.cache.items():
            rederive(self.model, plan.P, row, self.P_free[row], self.ids, self._adjustments(active))

    def get(self, active: tuple[int, ...]) -> StepPlan:
        if active not in self.cache:
            self.cache[active] = self._build(active)
        return self.cache[active]

    def _adjustments(self, active: tuple[int, ...]) -> dict[int, list]:
        """Row -> [(op, value)]: the run's overrides, then the active interventions' actions."""
        m = self.model
        adjust: dict[int, list] = {k: [("set", v)] for k, v in self.overrides.items()}
        scale: dict[int, float] = {}
        for a in active:
            for action in self.applies[a].actions(m):
                if hasattr(action, "scale_edge"):
                    k = m.param_index[f"weight.{action.scale_edge}"]
                    scale[k] = scale.get(k, 1.0) * action.factor
                elif hasattr(action, "cut_edge"):
                    scale[m.param_index[f"weight.{action.cut_edge}"]] = 0.0
                elif hasattr(action, "shift"):
                    adjust.setdefault(m.param_index[action.shift], []).append(("shift", action.by))
                elif hasattr(action, "set"):
                    adjust.setdefault(m.param_index[action.set], []).append(("set", action.to))
        for k, f in scale.items():
            adjust.setdefault(k, []).append(("scale", f))
        return adjust

    def _build(self, active: tuple[int, ...]) -> StepPlan:
        m = self.model
        adjust = self._adjustments(active)
        clamp_mask = np.zeros(m.n_states, dtype=np.bool_)
        clamp_val = np.zeros(m.n_states)
        for a in active:
            for action in self.applies[a].actions(m):
                if hasattr(action, "clamp"):
                    i = m.state_index[action.clamp]
                    clamp_mask[i], clamp_val[i] = True, action.value
        P = derive(m, self.P_free.copy(), self.ids, adjust)
        rows = np.array(m.noise_states if self.noise else (), dtype=np.int64)
        pidx = np.array([m.noise_param(i) for i in rows], dtype=np.int64)
        return StepPlan(P=np.ascontiguousarray(P), keys=self.keys, noise_rows=rows,
                        noise_pidx=pidx, clamp_mask=clamp_mask, clamp_val=clamp_val, dt=self.dt)


def _active(applies: list[Apply], t: float) -> tuple[int, ...]:
    """Indices of the interventions in force at time t (start inclusive, end exclusive)."""
    return tuple(i for i, a in enumerate(applies)
                 if a.start <= t + 1e-12 and (a.end is None or t < a.end - 1e-12))


def _steps(value: float, dt: float, what: str) -> int:
    n = value / dt
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise ModelError(f"{what} ({value} days) is not a whole number of steps of dt={dt}",
                         hint=f"choose {what} as a multiple of dt")
    return int(round(n))


def record_steps(days: float, dt: float, record_every: float) -> int:
    """Steps between two records, checking that `days` and `record_every` are whole numbers of
    steps and `days` a whole number of records.

    Whole step counts are compared, not the float ``(days / dt) % steps``: that remainder is
    rarely exactly 0 (56 of the record intervals of 1 to 199 minutes failed at dt = 0.001 min).
    """
    rec = _steps(record_every, dt, "record_every")
    if _steps(days, dt, "days") % rec:
        raise ModelError(f"days ({days}) must be a multiple of record_every ({record_every})")
    return rec


def _intervention_components(model: CompiledModel, applies: list[Apply]) -> list[ScheduleComponent]:
    out = []
    for a in applies:
        for action in a.actions(model):
            comp = getattr(action, "add_input", None)
            if comp is not None:
                out.append(shift_component(comp, a.start, a.end))
    return out


class _Recorder:
    """Collects states on the record grid, or running per-patient summaries."""

    def __init__(self, mode: str, n_rec: int, ns: int, n: int):
        self.mode = mode
        if mode == "grid":
            self.grid = np.empty((n_rec, ns, n))
        else:
            self.count = 0
            self.sum = np.zeros((ns, n))
            self.sumsq = np.zeros((ns, n))
            self.min = np.full((ns, n), np.inf)
            self.max = np.full((ns, n), -np.inf)
            self.last = np.empty((ns, n))
        self.k = 0

    def add(self, X: np.ndarray) -> None:
        if self.mode == "grid":
            self.grid[self.k] = X
        else:
            self.count += 1
            self.sum += X
            self.sumsq += X * X
            np.minimum(self.min, X, out=self.min)
            np.maximum(self.max, X, out=self.max)
            self.last[...] = X
        self.k += 1

    def result(self) -> dict[str, np.ndarray]:
        if self.mode == "grid":
            return {"trajectory": self.grid.transpose(2, 0, 1)}  # (n, time, state)
        mean = self.sum / self.count
        var = np.maximum(self.sumsq / self.count - mean * mean, 0.0)
        return {"mean": mean.T, "sd": np.sqrt(var).T, "min": self.min.T, "max": self.max.T,
                "final": self.last.T}


def _apply_set_states(model: CompiledModel, state: ChunkState, applies: list[Apply], t: float) -> None:
    """Set states once: the `set_state` actions of the interventions that start at time t."""
    ok = state.status == 0
    for a in applies:
        if abs(a.start - t) <= 1e-12 * max(1.0, abs(t)):
            for action in a.actions(model):
                if hasattr(action, "set_state"):
                    state.X[model.state_index[action.set_state], ok] = action.to


def _apply_clamps(state: ChunkState, plan: StepPlan) -> None:
    rows = np.flatnonzero(plan.clamp_mask)
    ok = state.status == 0
    for i in rows:
        state.X[i, ok] = plan.clamp_val[i]


def simulate_chunk(model: CompiledModel, ids: np.ndarray, *, days: float, dt: float, seed: int,
                   integrator: AbstractIntegrator, backend: AbstractBackend,
                   schedule: list[ScheduleComponent], applies: list[Apply], noise: bool,
                   record: str, record_steps: int,
                   overrides: Mapping[int, np.ndarray] | None = None,
                   progress: Callable[[float], None] | None = None,
                   auxiliaries: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Simulate one chunk of patients; returns arrays with the patient axis first.

    `overrides` maps parameter rows to values (shape (n,)) set before derivation (or
    right after it, for derived rows). `auxiliaries` are recorded beside the states (under
    the keys of the state arrays prefixed with ``aux_``).
    """
    n = len(ids)
    n_steps = _steps(days, dt, "days")
    P_free = sample_free(model, ids, seed)
    keys = stream_keys(seed, ids, "noise")
    plans = _Plans(model, P_free, ids, keys, dt, noise, applies, overrides)
    P0 = plans.get(_active(applies, 0.0))
    X0 = np.stack([P0.P[model.param_index[f"initial.{s}"]] for s in model.states])
    state = ChunkState.start(X0)
    comps = model.schedule + schedule + _intervention_components(model, applies)
    sched = Schedule(comps, model.inputs, model.input_defaults, seed, ids, days)

    cuts = set(range(0, n_steps + 1, record_steps)) | {n_steps}
    starts: dict[int, float] = {}  # step -> start time of interventions starting then
    for a in applies:
        cuts.add(min(_steps(a.start, dt, "intervention start"), n_steps))
        starts[_steps(a.start, dt, "intervention start")] = a.start
        if a.end is not None:
            cuts.add(min(_steps(a.end, dt, "intervention end"), n_steps))
    cuts_sorted = sorted(c for c in cuts if 0 <= c <= n_steps)
    n_rec = n_steps // record_steps + 1
    rec = _Recorder(record, n_rec, model.n_states, n)
    aux_rec = _Recorder(record, n_rec, len(auxiliaries), n) if auxiliaries else None

    def add_record(s: int) -> None:
        rec.add(state.X)
        if aux_rec is not None:
            t = s * dt
            P = plans.get(_active(applies, t)).P
            aux_rec.add(auxiliary_values(model, auxiliaries, state.X, P, sched.evaluate(np.array([t]))[0], t))

    if model.spec.events:
        def after_step(s: int) -> None:
            if s < n_steps:
                _apply_set_states(model, state, applies, starts.get(s, -1.0))
                _apply_clamps(state, plans.get(_active(applies, s * dt)))
            if s % record_steps == 0:
                add_record(s)

        runner = EventRunner(model, compile_events(model, days), seed, ids, plans.write_param)
        HybridLoop(model, state, runner, integrator, backend, sched, dt, n_steps,
                   lambda t: plans.get(_active(applies, t)), after_step, set(cuts_sorted),
                   progress).run()
        return _chunk_result(rec, aux_rec, plans, state)

    # a clamp holds from the moment it starts: the state recorded then is already clamped
    _apply_set_states(model, state, applies, starts.get(0, -1.0))
    _apply_clamps(state, plans.get(_active(applies, 0.0)))
    add_record(0)
    for s0, s1 in zip(cuts_sorted[:-1], cuts_sorted[1:], strict=True):
        t0 = s0 * dt
        plan = plans.get(_active(applies, t0))
        U = sched.evaluate(t0 + dt * np.arange(s1 - s0))
        backend.advance(integrator, state, plan, U, t0, s0, s1 - s0)
        if s1 < n_steps:
            _apply_set_states(model, state, applies, starts.get(s1, -1.0))
            _apply_clamps(state, plans.get(_active(applies, s1 * dt)))
        if s1 % record_steps == 0:
            add_record(s1)
        if progress is not None:
            progress(n * (s1 - s0) * dt)
    return _chunk_result(rec, aux_rec, plans, state)


def _chunk_result(rec: _Recorder, aux_rec: _Recorder | None, plans: _Plans, state: ChunkState
                  ) -> dict[str, np.ndarray]:
    out = rec.result()
    if aux_rec is not None:
        out.update({f"aux_{k}": v for k, v in aux_rec.result().items()})
    P_final = plans.get(())
    out.update(params=P_final.P.T, status=state.status, fail_step=state.fail_step,
               fail_state=state.fail_state)
    return out


def _simulate_adaptive(model: CompiledModel, ids: np.ndarray, *, days: float, seed: int,
                       method: str, schedule: list[ScheduleComponent], applies: list[Apply],
                       record_every: float, rtol: float, atol: float) -> dict[str, np.ndarray]:
    """scipy.integrate.solve_ivp, one patient at a time (deterministic); the solver stops at
    every scheduled event and at every crossing of a state event (located by the solver)."""
    backend = NumpyBackend(model)
    events = compile_events(model, days) if model.spec.events else []
    P_free = sample_free(model, ids, seed)
    t_rec = np.arange(0.0, days + 1e-9, record_every)
    out = np.empty((len(ids), len(t_rec), model.n_states))
    params = np.empty((len(ids), len(model.params)))
    status = np.zeros(len(ids), np.int8)
    comps = model.schedule + schedule + _intervention_components(model, applies)
    for pi in range(len(ids)):
        one = ids[pi:pi + 1]
        plans = _Plans(model, P_free[:, pi:pi + 1], one, stream_keys(seed, one, "noise"), 1.0,
                       False, applies)
        sched = Schedule(comps, model.inputs, model.input_defaults, seed, one, days)
        cuts = {0.0, days} | set(sched.boundaries())
        for a in applies:
            cuts |= {a.start} | ({a.end} if a.end is not None else set())
        runner = EventRunner(model, events, seed, one, plans.write_param) if events else None
        fire_at = runner.scheduled_times() if runner is not None else {}
        cuts |= set(fire_at)  # the solver stops at every scheduled event
        cuts_sorted = sorted(c for c in cuts if 0.0 <= c <= days)
        x = np.stack([plans.get(())
                      .P[model.param_index[f"initial.{s}"], 0] for s in model.states])
        for t0, t1 in zip(cuts_sorted[:-1], cuts_sorted[1:], strict=True):
            x = x.copy()
            if t0 in fire_at:
                X = x[:, None]
                runner.fire(fire_at[t0], X, lambda t0=t0, plans=plans: plans.get(_active(applies, t0)).P,  # type: ignore[union-attr]
                            sched.evaluate(np.array([t0]))[0], t0)
                x = X[:, 0]
            plan = plans.get(_active(applies, t0))
            for a in applies:  # set a state once, at its intervention's start
                if abs(a.start - t0) <= 1e-12 * max(1.0, t0):
                    for action in a.actions(model):
                        if hasattr(action, "set_state"):
                            x[model.state_index[action.set_state]] = action.to
            x[plan.clamp_mask] = plan.clamp_val[plan.clamp_mask]
            inside = t_rec[(t_rec >= t0 - 1e-12) & (t_rec <= t1 + 1e-12)]
            ok, ts, ys = _solve_segment(model, backend, plans, applies, sched, runner, x, t0, t1, inside,
                                        method=method, rtol=rtol, atol=atol, max_step=record_every)
            if not ok:
                status[pi] = 1
                out[pi] = np.nan
                break
            for tt, y in zip(ts, ys, strict=True):
                out[pi, int(round(tt / record_every))] = y
            x = ys[-1] if len(ys) else x
        else:
            if days in fire_at:  # events at the very end: the last record is after them
                X = x[:, None]
                runner.fire(fire_at[days], X, lambda plans=plans: plans.get(_active(applies, days)).P,  # type: ignore[union-attr]
                            sched.evaluate(np.array([days]))[0], days)
                last = days / record_every
                if abs(last - round(last)) < 1e-9:
                    out[pi, int(round(last))] = X[:, 0]
        params[pi] = plans.get(()).P[:, 0]
    return {"trajectory": out, "params": params, "status": status,
            "fail_step": np.full(len(ids), -1), "fail_state": np.full(len(ids), -1)}


def _solve_segment(model: CompiledModel, backend: NumpyBackend, plans: _Plans, applies: list[Apply],
                   sched: Schedule, runner: EventRunner | None, x: np.ndarray, t0: float, t1: float,
                   t_eval: np.ndarray, **solver: Any) -> tuple[bool, list[float], list[np.ndarray]]:
    """Solve from t0 to t1, stopping at each state event's crossing to fire it.

    Returns success, and the times of `t_eval` reached with the states there.
    """
    from scipy.integrate import solve_ivp

    ts: list[float] = []
    ys: list[np.ndarray] = []
    state_events = runner.state_events if runner is not None else []
    a = t0
    for _ in range(100_000):
        plan = plans.get(_active(applies, t0))
        cm = plan.clamp_mask

        def f(t: float, y: np.ndarray, plan: StepPlan = plan, cm: np.ndarray = cm) -> np.ndarray:
            U = sched.evaluate(np.array([t]))[0]
            d = backend.rhs(y[:, None], plan.P, U, t)[:, 0]
            d[cm] = 0.0
            return d

        def crossing(ev: Any, plan: StepPlan = plan) -> Callable[[float, np.ndarray], float]:
            def g(t: float, y: np.ndarray) -> float:
                U = sched.evaluate(np.array([t]))[0]
                return float(runner.condition(ev, y[:, None], plan.P, U, t)[0])  # type: ignore[union-attr]

            g.terminal = True  # type: ignore[attr-defined]
            g.direction = {"up": 1.0, "down": -1.0}.get(ev.direction, 0.0)  # type: ignore[attr-defined]
            return g

        inside = t_eval[t_eval >= a - 1e-12]
        sol = solve_ivp(f, (a, t1), x, t_eval=inside, events=[crossing(ev) for ev in state_events] or None,
                        **solver)
        reached = np.asarray(sol.y, dtype=float).reshape(len(x), -1)  # no t_eval point reached: empty
        if not sol.success or not np.all(np.isfinite(reached)):
            return False, ts, ys
        ts += list(sol.t)
        ys += list(reached.T)
        if sol.status != 1:  # reached t1
            return True, ts, ys
        # a state event: fire every one crossing at that time (file order), then go on
        hits = [(float(te[0]), ev, ye[0]) for ev, te, ye in zip(state_events, sol.t_events, sol.y_events,
                                                                strict=True) if len(te)]
        t_hit = min(h[0] for h in hits)
        X = min(hits, key=lambda h: h[0])[2].copy()[:, None]
        which = [ev.index for t_e, ev, _ in hits if t_e <= t_hit + ev.tolerance]
        runner.fire(which, X, lambda t_hit=t_hit: plans.get(_active(applies, t_hit)).P,  # type: ignore[union-attr]
                    sched.evaluate(np.array([t_hit]))[0], t_hit)
        x = X[:, 0]
        # step past the crossing without events, so the solver does not find it again at once
        nudge = min(t1, t_hit + min(ev.tolerance for ev in state_events) * 10)
        if nudge > t_hit:
            past = solve_ivp(f, (t_hit, nudge), x, **solver)
            x = past.y[:, -1]
        a = nudge
        if a >= t1:
            return True, ts, ys
    raise SimulationError(f"state events fired more than 100000 times between days {t0:g} and {t1:g}", [])


def simulate(
    model: CompiledModel | Spec | str | Path,
    *,
    patients: int | Sequence[int] | np.ndarray = 1,
    days: float = 365.0,
    dt: float | None = None,
    seed: int = 0,
    method: str = "euler_maruyama",
    backend: Literal["numba", "numpy"] = "numba",
    schedule: Iterable[ScheduleComponent | Mapping[str, Any]] = (),
    interventions: Iterable[Apply | tuple | str] = (),
    params: Mapping[str, float | np.ndarray] | None = None,
    record: Literal["grid", "summary"] = "grid",
    record_every: float = 1.0,
    noise: bool = True,
    chunk_size: int = 8192,
    progress: Callable[[float], None] | None = None,
    throw: bool = True,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    command: str | None = None,
    auxiliaries: bool | Sequence[str] = False,
) -> xr.Dataset:
    """Simulate virtual patients of a model.

    Parameters
    ----------
    model
        A CompiledModel, Spec, model file path or built-in theory name.
    patients
        A count n (ids 0..n-1) or explicit patient ids. A patient's result depends only
        on (model, seed, id, settings), never on the chunk or backend it ran in.
    days, dt
        Simulated time and step, in days; `days` must be a multiple of `dt`. Default `dt`: the
        step the model declares (`dt:` in its file; any other step is refused), else 0.01.
    method
        `euler_maruyama` (default, SDE), `heun`, `rk4` (ODE, needs ``noise=False`` when the
        model has noise), or a scipy adaptive method (`LSODA`, `RK45`, ...; deterministic,
        one patient at a time).
    backend
        `numba` (compiled, threads over patient blocks) or `numpy` (reference).
    schedule
        Extra input components (dicts like ``{"input": "stress", "kind": "step", ...}``).
    interventions
        Interventions of the model to apply: names, ``Apply(name, start, end)`` or tuples.
    params
        Values (scalar or shape (n,)) replacing parameter rows before derivation.
    record
        `grid`: states every `record_every` days; `summary`: per-patient mean, sd, min,
        max and final value over the record grid (memory independent of `days`).
    progress
        Called with the patient-days just simulated.
    throw
        Raise SimulationError when any patient fails (NaN, divergence); otherwise failed
        patients are NaN and flagged in the `status` variable.
    auxiliaries
        Auxiliaries to record beside the states: True for all, or their names. They are
        computed at the record times from the recorded states (variable `auxiliaries`
        (patient, time, auxiliary), or `auxiliaries_<summary>` with ``record='summary'``).

    Returns
    -------
    xarray.Dataset
        `trajectory` (patient, time, state) or the summaries (patient, state); `params`
        (patient, parameter); `status`, `fail_time`, `fail_state` (patient). Attributes:
        fitts_version, model_name, model_hash, seed, dt, method, backend, command.
    """
    from fitts import __version__

    m = as_compiled(model)
    dt = _model_dt(m, dt, method)
    ids = np.arange(patients) if isinstance(patients, int | np.integer) else np.asarray(patients,
                                                                                      dtype=np.int64)
    if ids.ndim != 1 or len(ids) == 0:
        raise ModelError("patients must be a positive count or a non-empty list of ids")
    if (ids < 0).any():
        raise ModelError("patient ids must be >= 0")
    if not (dt > 0 and days > 0 and record_every > 0):
        raise ModelError(f"days ({days}), dt ({dt}) and record_every ({record_every}) must be > 0")
    if record not in ("grid", "summary"):
        raise ModelError(f"record must be 'grid' or 'summary', got {record!r}")
    sched = _components(schedule, m)
    applies = _applies(interventions, m)
    adjust_names = dict(params or {})
    for name in adjust_names:
        if name not in m.param_index:
            raise ModelError(f"unknown parameter {name!r}." + did_you_mean(name, m.param_index))
    aux_names = _auxiliary_names(m, auxiliaries)

    if method in ADAPTIVE_METHODS:
        if aux_names:
            raise ModelError("recording auxiliaries needs a fixed-step method",
                             hint="use euler_maruyama, heun or rk4")
        if record != "grid":
            raise ModelError("adaptive methods record on the grid only")
        if adjust_names:
            raise ModelError("params overrides are not supported with adaptive methods; "
                             "use euler_maruyama/rk4 or edit the model")
        data = _simulate_adaptive(m, ids, days=days, seed=seed, method=method, schedule=sched,
                                  applies=applies, record_every=record_every, rtol=rtol, atol=atol)
        rec_steps, step_dt, backend_name = None, None, "scipy"
    else:
        if method not in INTEGRATORS:
            raise ModelError(f"unknown method {method!r}." + did_you_mean(method, INTEGRATORS),
                             hint="methods: " + ", ".join([*INTEGRATORS, *ADAPTIVE_METHODS]))
        integ = INTEGRATORS[method]()
        if noise and m.noise_states and not integ.stochastic:
            raise ModelError(f"method {method!r} is deterministic but the model has noise on "
                             f"{len(m.noise_states)} node(s)",
                             hint="pass noise=False (--no-noise) or use euler_maruyama")
        if backend not in BACKENDS:
            raise ModelError(f"unknown backend {backend!r}." + did_you_mean(backend, BACKENDS))
        be = BACKENDS[backend](m)
        rec_steps = record_steps(days, dt, record_every)
        parts = []
        for c0 in range(0, len(ids), chunk_size):
            cid = ids[c0:c0 + chunk_size]
            overrides = {m.param_index[name]: np.broadcast_to(
                np.asarray(value, dtype=float), ids.shape)[c0:c0 + chunk_size]
                for name, value in adjust_names.items()}
            parts.append(simulate_chunk(
                m, cid, days=days, dt=dt, seed=seed, integrator=integ, backend=be,
                schedule=sched, applies=applies, noise=noise, record=record,
                record_steps=rec_steps, overrides=overrides, progress=progress,
                auxiliaries=aux_names))
        data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        step_dt, backend_name = dt, backend

    ds = _to_dataset(m, ids, data, days=days, record_every=record_every, record=record,
                     auxiliaries=aux_names)
    ds.attrs.update(
        fitts_version=__version__, model_name=m.spec.name, model_hash=m.model_hash, seed=int(seed),
        dt=float(step_dt) if step_dt else float("nan"), method=method, backend=backend_name,
        days=float(days), record=record, record_every=float(record_every), noise=int(bool(noise)),
        command=command if command is not None else " ".join(sys.argv),
    )
    failed = np.flatnonzero(data["status"] != 0)
    ds.attrs["n_failed"] = len(failed)
    if len(failed) and throw:
        raise _failure(m, ds, failed)
    return ds


def _model_dt(m: CompiledModel, dt: float | None, method: str) -> float:
    """The step of the run: `dt`, or the model's declared one (which any other `dt` must equal)."""
    required = m.spec.dt_days
    if required is None:
        return 0.01 if dt is None else dt
    if method in ADAPTIVE_METHODS:
        raise ModelError(f"model {m.spec.name!r} requires the fixed step dt = {required:g} days (a per-step "
                         f"scheme); the adaptive method {method!r} has no fixed step",
                         hint="use euler_maruyama, heun or rk4")
    if dt is not None and abs(dt - required) > 1e-12 * required:
        raise ModelError(f"model {m.spec.name!r} requires dt = {required:g} days (declared `dt:` in its file: "
                         f"its equations are a per-step scheme), not dt = {dt:g}",
                         hint=f"leave dt out or give dt = {required:g} (--dt {required:g})")
    return required


def _auxiliary_names(m: CompiledModel, request: bool | Sequence[str]) -> tuple[str, ...]:
    """The auxiliaries to record: all (True), none (False) or the named ones, checked."""
    if request is True:
        return m.auxiliary_names
    if request is False or request is None:
        return ()
    if isinstance(request, str):
        request = [request]
    names = tuple(request)
    for name in names:
        if name not in m.auxiliary_names:
            raise ModelError(f"unknown auxiliary {name!r}." + did_you_mean(name, m.auxiliary_names),
                             hint="auxiliaries: " + (", ".join(m.auxiliary_names) or "(the model has none)"))
    return names


def _to_dataset(m: CompiledModel, ids: np.ndarray, data: dict[str, np.ndarray], *, days: float,
                record_every: float, record: str, auxiliaries: Sequence[str] = ()) -> xr.Dataset:
    coords: dict[str, Any] = {"patient": ids, "state": list(m.states),
                              "parameter": [p.name for p in m.params]}
    dv: dict[str, Any] = {}
    if "trajectory" in data:
        n_rec = data["trajectory"].shape[1]
        coords["time"] = np.round(np.arange(n_rec) * record_every, 10)
        dv["trajectory"] = (("patient", "time", "state"), data["trajectory"],
                            {"units": "activation", "long_name": "latent state"})
    for k in SUMMARIES:
        if k in data:
            dv[k] = (("patient", "state"), data[k], {"long_name": f"{k} over the record grid"})
    if auxiliaries:
        coords["auxiliary"] = list(auxiliaries)
        if "aux_trajectory" in data:
            dv["auxiliaries"] = (("patient", "time", "auxiliary"), data["aux_trajectory"],
                               {"long_name": "auxiliary (named expression)"})
        for k in SUMMARIES:
            if f"aux_{k}" in data:
                dv[f"auxiliaries_{k}"] = (("patient", "auxiliary"), data[f"aux_{k}"],
                                        {"long_name": f"auxiliary: {k} over the record grid"})
    dv["params"] = (("patient", "parameter"), data["params"])
    dv["status"] = (("patient",), data["status"].astype(np.int8),
                    {"flag_values": list(STATUS_MESSAGES),
                     "flag_meanings": " | ".join(STATUS_MESSAGES.values())})
    fail_step = data["fail_step"]
    ds = xr.Dataset(dv, coords=coords)
    ds["fail_step"] = (("patient",), fail_step.astype(np.int64))
    ds["fail_state"] = (("patient",), data["fail_state"].astype(np.int32))
    if "time" in ds.coords:
        ds.time.attrs["units"] = "days"
    return ds


def _failure(m: CompiledModel, ds: xr.Dataset, failed: np.ndarray) -> SimulationError:
    dt = ds.attrs.get("dt", float("nan"))
    rows = []
    for p in failed:
        st = int(ds.fail_state.values[p])
        step = int(ds.fail_step.values[p])
        rows.append({
            "patient": int(ds.patient.values[p]),
            "time": step * dt if step >= 0 and math.isfinite(dt) else float("nan"),
            "state": m.states[st] if st >= 0 else None,
            "reason": STATUS_MESSAGES[int(ds.status.values[p])],
            "params": dict(zip(ds.parameter.values.tolist(), ds.params.values[p].tolist(),
                               strict=True)),
        })
    shown = "; ".join(
        f"patient {r['patient']} at day {r['time']:.4g} in state {r['state']!r}: {r['reason']}"
        for r in rows[:5])
    more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
    return SimulationError(
        f"{len(rows)} of {ds.sizes['patient']} patient(s) failed: {shown}{more}. "
        "Try a smaller dt or check custom rate expressions; to keep the other patients' "
        "results, pass throw=False (Python) or --keep-going (command line).", rows)
