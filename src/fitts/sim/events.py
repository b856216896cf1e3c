"""Discrete events and auxiliaries at run time: what fires when, and what it sets.

An event updates states and parameters of every patient at once. *Scheduled* events
(`at`, `every`) fire at times known before the run; the simulator cuts the fixed step
that contains such a time into pieces so the event lands exactly on it, whatever `dt`.
*State* events (`when` crossing `crosses`) are checked after every step and located in
the step by bisection to within the event's `tolerance` (days).

Noise on split steps: the Brownian increment of a step is the same draw as without the
event (counter = step, as in the kernels); each piece of the step receives the share of
that increment proportional to its length, so the total a patient receives over every
whole step is unchanged and the random streams stay those of the model without events.

Simultaneous events fire in the order they are written in the model file; every
right-hand side of one event's `set:` sees the values from before that event, and a
later event at the same time sees the earlier one's updates. An event's draws
(`uniform()`, `normal()`, `bernoulli(p)`) come from a stream of its own per patient,
counter = (event, occurrence, call site), so they do not depend on `dt`, the chunk or
the backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, SimulationError
from fitts.sim.rng import normals_np, squares64_np, stream_keys
from fitts.spec.expr import RANDOM_FUNCTIONS, Expr, evaluate, parse_expr

#: the salt hashed into the `events` keys to give the stream of model events (distinct
#: from the Poisson life events of input schedules, which use the `events` keys as they are)
_STREAM_SALT = np.uint64(0x6D6F64656C657674)
_INV53 = 1.0 / 9007199254740992.0
#: draw sites per event and occurrences per event and patient that the counter layout holds
MAX_SITES = 256
MAX_OCCURRENCES = 1 << 36
#: firings of state events within one step before the run is stopped (a Zeno cascade)
MAX_FIRINGS_PER_STEP = 1000
#: a time this close to a step boundary (relative to dt) counts as on it
ON_GRID = 1e-9


def auxiliary_env(model: CompiledModel, X: np.ndarray, P: np.ndarray, U: np.ndarray,
                  t: float | np.ndarray) -> dict[str, Any]:
    """Every name an expression can use, for the patients in the columns of X.

    Parameters
    ----------
    X
        States, shape (n_states, m).
    P
        Parameters, shape (n_params, m).
    U
        Inputs, shape (n_inputs, 1 or m).
    t
        Time (days), a number or shape (m,).

    Returns
    -------
    dict
        name -> value (shape (m,) or broadcastable): states, parameters, inputs, `t` and
        the auxiliaries (computed in dependency order).
    """
    env: dict[str, Any] = {"t": t}
    env.update(zip(model.states, X, strict=True))
    env.update((p.name, P[k]) for k, p in enumerate(model.params))
    env.update(zip(model.inputs, U, strict=True))
    with np.errstate(all="ignore"):
        for name, expr in model.auxiliaries:
            env[name] = evaluate(expr, env)
    return env


def auxiliary_values(model: CompiledModel, names: Sequence[str], X: np.ndarray, P: np.ndarray,
                     U: np.ndarray, t: float) -> np.ndarray:
    """The auxiliaries `names` for every patient, shape (len(names), m)."""
    env = auxiliary_env(model, X, P, U, t)
    m = X.shape[1]
    return np.stack([np.broadcast_to(np.asarray(env[a], dtype=float), (m,)) for a in names]) \
        if names else np.empty((0, m))


@dataclass(frozen=True)
class CompiledEvent:
    """One event ready to fire.

    Attributes
    ----------
    name, index
        The event's name and position in the model file (its order among simultaneous events).
    targets
        ``(kind, row, expression)`` per update: kind ``state`` (row of X) or ``param``
        (row of the parameter table).
    when, crosses
        The condition expression and its level (state events only).
    direction
        ``up``, ``down`` or ``either``.
    tolerance
        Width (days) to which a state event's time is located.
    """

    name: str
    index: int
    targets: tuple[tuple[str, int, Expr], ...]
    times: tuple[float, ...] = ()
    when: Expr | None = None
    crosses: Expr | None = None
    direction: str = "up"
    tolerance: float = 1e-9


def compile_events(model: CompiledModel, days: float) -> list[CompiledEvent]:
    """The model's events with their times in [0, days] and their update expressions."""
    out = []
    f = model.time_factor  # event times and `t` are in the model's time unit
    for index, (name, ev) in enumerate(model.spec.events.items()):
        targets = []
        sites = 0
        for target, value in ev.set.items():
            expr = model.in_days(parse_expr(value, random=True))
            sites += sum(1 for n in _calls(expr) if n in RANDOM_FUNCTIONS)
            if target in model.state_index:
                targets.append(("state", model.state_index[target], expr))
            else:
                targets.append(("param", model.param_index[target], expr))
        if sites > MAX_SITES:
            raise ModelError(f"event {name!r} draws {sites} random numbers per firing "
                             f"(limit {MAX_SITES})", model.spec.location("events", name),
                             "draw once into a parameter and reuse it")
        if ev.scheduled:
            out.append(CompiledEvent(name, index, tuple(targets), tuple(t / f for t in ev.times(days * f))))
        else:
            out.append(CompiledEvent(name, index, tuple(targets), when=model.in_days(parse_expr(ev.when or "0")),
                                     crosses=parse_expr(ev.crosses), direction=ev.direction,
                                     tolerance=ev.tolerance / f))
    return out


def _calls(expr: Expr) -> list[str]:
    import ast

    return [n.func.id for n in ast.walk(expr.tree) if isinstance(n, ast.Call)]  # type: ignore[attr-defined]


def event_keys(seed: int, patients: np.ndarray) -> np.ndarray:
    """Keys of the model-event stream, one per patient (odd uint64)."""
    base = stream_keys(seed, patients, "events")
    return squares64_np(_STREAM_SALT, base) | np.uint64(1)


def on_grid(t: float, dt: float) -> int | None:
    """The step index whose start is time t, or None when t falls inside a step."""
    n = t / dt
    k = round(n)
    return int(k) if abs(n - k) <= ON_GRID * max(1.0, abs(n)) else None


class EventRunner:
    """Fires a chunk's events: evaluates the updates, draws, writes states and parameters.

    Parameters
    ----------
    model
        The compiled model (with events).
    events
        From :func:`compile_events`.
    seed, ids
        Seed and patient ids of the chunk (the draws' streams).
    write_param
        ``write_param(row, values, mask)`` stores new values of a parameter row for the
        patients in `mask` (the simulator re-derives and rebuilds its step plans).
    """

    def __init__(self, model: CompiledModel, events: list[CompiledEvent], seed: int,
                 ids: np.ndarray, write_param: Callable[[int, np.ndarray, np.ndarray], None]):
        self.model = model
        self.events = events
        self.keys = event_keys(seed, ids)
        self.count = np.zeros((len(events), len(ids)), dtype=np.int64)
        self.write_param = write_param
        self.state_events = [e for e in events if e.when is not None]

    def scheduled_times(self) -> dict[float, list[int]]:
        """Time -> indices of the scheduled events firing then (in file order)."""
        out: dict[float, list[int]] = {}
        for e in self.events:
            for t in e.times:
                out.setdefault(t, []).append(e.index)
        return dict(sorted(out.items()))

    def fire(self, which: Sequence[int], X: np.ndarray, params: Callable[[], np.ndarray], U: np.ndarray,
             t: float | np.ndarray, cols: np.ndarray | None = None) -> None:
        """Fire events `which` (in file order) for the patients in `cols` (all when None).

        X is updated in place; parameter updates go through `write_param`. `params()`
        gives the current parameter table of the chunk, shape (n_params, n) (asked again
        before each event, so a later event sees an earlier one's updates); U the inputs
        (n_inputs, 1 or n).
        """
        n = X.shape[1]
        cols = np.arange(n) if cols is None else cols
        for e in sorted(which):
            ev = self.events[e]
            Xc, Pc = X[:, cols], params()[:, cols]
            Uc = U if U.shape[1] == 1 else U[:, cols]
            tc = t if np.isscalar(t) else np.asarray(t)
            env = auxiliary_env(self.model, Xc, Pc, Uc, tc)
            occ = self.count[e, cols]
            if (occ >= MAX_OCCURRENCES).any():
                raise SimulationError(f"event {ev.name!r} fired more than {MAX_OCCURRENCES} times")
            draw = self._drawer(ev.index, occ, self.keys[cols])
            new = []
            with np.errstate(all="ignore"):
                for _, _, expr in ev.targets:
                    new.append(np.broadcast_to(np.asarray(evaluate(expr, env, draw), dtype=float),
                                               (len(cols),)).copy())
            ok = np.isfinite(Xc).all(axis=0)
            P = params()
            for (kind, row, _), value in zip(ev.targets, new, strict=True):
                if kind == "state":
                    X[row, cols] = np.where(ok, value, X[row, cols])
                else:
                    full = P[row].copy()
                    full[cols] = value
                    mask = np.zeros(n, dtype=bool)
                    mask[cols[ok]] = True
                    self.write_param(row, full, mask)
            self.count[e, cols] += 1

    def _drawer(self, event: int, occ: np.ndarray, keys: np.ndarray) -> Callable[[str, int, list[Any]], Any]:
        base = (np.uint64(event) << np.uint64(44)) + (occ.astype(np.uint64) << np.uint64(8))

        def draw(name: str, site: int, args: list[Any]) -> np.ndarray:
            ctr = base + np.uint64(site)
            if name == "normal":
                return normals_np(ctr, keys)
            u = ((squares64_np(ctr, keys) >> np.uint64(11)).astype(np.float64) + 0.5) * _INV53
            if name == "uniform":
                return u
            return np.where(u < args[0], 1.0, 0.0)  # bernoulli(p)

        return draw

    def condition(self, ev: CompiledEvent, X: np.ndarray, P: np.ndarray, U: np.ndarray,
                  t: float | np.ndarray) -> np.ndarray:
        """`when - crosses` of a state event, shape (m,)."""
        env = auxiliary_env(self.model, X, P, U, t)
        with np.errstate(all="ignore"):
            g = np.asarray(evaluate(ev.when, env), dtype=float) - np.asarray(  # type: ignore[arg-type]
                evaluate(ev.crosses, env), dtype=float)  # type: ignore[arg-type]
        return np.broadcast_to(g, (X.shape[1],))


def crossed(direction: str, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
    """Whether the condition crossed its level between two times, in `direction`.

    A crossing goes from strictly below (above) the level to at or above (below) it.
    """
    up = (g0 < 0.0) & (g1 >= 0.0)
    down = (g0 > 0.0) & (g1 <= 0.0)
    if direction == "up":
        return up
    if direction == "down":
        return down
    return up | down


def bisect_steps(tolerance: float, span: float) -> int:
    """Bisections that shrink `span` below `tolerance` (at least one)."""
    return max(1, math.ceil(math.log2(max(span / tolerance, 1.0))))
