"""The fixed-step loop of a model with events: whole steps by the backend, split steps in NumPy.

Steps without an event inside them run in the backend as usual (numba or NumPy). A step
that contains a scheduled event time, or in which a state event's condition crosses its
level, is integrated here in pieces with the integrator's tableau and the NumPy rates:
up to the event, the event, the rest of the step. The noise of such a step is the
step's own draw, shared between the pieces in proportion to their length (see
:mod:`fitts.sim.events`). A model without events never enters this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fitts.compile.compiled import CompiledModel
from fitts.errors import SimulationError
from fitts.sim.backends.base import DIVERGENCE_LIMIT, AbstractBackend, ChunkState, StepPlan
from fitts.sim.backends.numpy_backend import NumpyBackend
from fitts.sim.events import (
    MAX_FIRINGS_PER_STEP,
    CompiledEvent,
    EventRunner,
    bisect_steps,
    crossed,
    on_grid,
)
from fitts.sim.integrators import AbstractIntegrator
from fitts.sim.rng import normals_np
from fitts.sim.schedule import Schedule


@dataclass
class HybridLoop:
    """Everything the loop of one chunk needs (built by :func:`fitts.sim.simulate.simulate_chunk`).

    `plan_at(t)` gives the step plan in force at time t (interventions, and parameters as
    the events have set them); `after_step(s)` applies clamps and records at the end of
    step s.
    """

    model: CompiledModel
    state: ChunkState
    runner: EventRunner
    integrator: AbstractIntegrator
    backend: AbstractBackend
    sched: Schedule
    dt: float
    n_steps: int
    plan_at: Callable[[float], StepPlan]
    after_step: Callable[[int], None]
    cuts: set[int]
    progress: Callable[[float], None] | None = None
    numpy: NumpyBackend = field(init=False)

    def __post_init__(self) -> None:
        self.numpy = self.backend if isinstance(self.backend, NumpyBackend) else NumpyBackend(self.model)

    # ----------------------------------------------------------------- the loop

    def run(self) -> None:
        """Advance the chunk from step 0 to `n_steps`, firing every event on its time."""
        dt, n_steps = self.dt, self.n_steps
        boundary: dict[int, list[int]] = {}  # step -> scheduled events firing at its start
        inside: dict[int, list[tuple[float, list[int]]]] = {}  # step -> events inside it
        for t, evs in self.runner.scheduled_times().items():
            k = on_grid(t, dt)
            if k is not None:
                if k <= n_steps:
                    boundary.setdefault(k, []).extend(evs)
            else:
                s = int(math.floor(t / dt))
                if s < n_steps:
                    inside.setdefault(s, []).append((t, evs))
        every_step = bool(self.runner.state_events)
        cuts = set(self.cuts) | set(boundary) | set(inside) | {s + 1 for s in inside}
        cuts = sorted(c for c in cuts if 0 <= c <= n_steps)
        if 0 in boundary:
            self._fire(boundary[0], 0.0)
        self.after_step(0)
        for s0, s1 in zip(cuts[:-1], cuts[1:], strict=True):
            if s0 in inside:
                self._python_step(s0, np.arange(self.state.X.shape[1]), self.state.X.copy(), inside[s0])
            elif every_step:
                for s in range(s0, s1):
                    self._step_with_state_events(s)
            else:
                self.backend.advance(self.integrator, self.state, self.plan_at(s0 * dt),
                                     self.sched.evaluate(s0 * dt + dt * np.arange(s1 - s0)),
                                     s0 * dt, s0, s1 - s0)
            if s1 in boundary:
                self._fire(boundary[s1], s1 * dt)
            self.after_step(s1)
            if self.progress is not None:
                self.progress(self.state.X.shape[1] * (s1 - s0) * dt)

    def _fire(self, which: list[int], t: float, cols: np.ndarray | None = None) -> None:
        U = self.sched.evaluate(np.array([t]))[0]
        self.runner.fire(which, self.state.X, lambda: self.plan_at(t).P, U, t, cols)
        self._bound(self.state.X, cols, self.plan_at(t))

    def _step_with_state_events(self, s: int) -> None:
        """One whole step by the backend; patients whose condition crossed redo it in pieces."""
        dt = self.dt
        t0 = s * dt
        X0 = self.state.X.copy()
        plan = self.plan_at(t0)
        U = self.sched.evaluate(np.array([t0]))
        self.backend.advance(self.integrator, self.state, plan, U, t0, s, 1)
        U1 = self.sched.evaluate(np.array([t0 + dt]))[0]
        hit = np.zeros(X0.shape[1], dtype=bool)
        for ev in self.runner.state_events:
            g0 = self.runner.condition(ev, X0, plan.P, U[0], t0)
            g1 = self.runner.condition(ev, self.state.X, plan.P, U1, t0 + dt)
            hit |= crossed(ev.direction, g0, g1)
        hit &= self.state.status == 0
        if hit.any():
            cols = np.flatnonzero(hit)
            self._python_step(s, cols, X0[:, cols], [])

    # ----------------------------------------------------------------- split steps

    def _python_step(self, s: int, cols: np.ndarray, X: np.ndarray,
                     points: list[tuple[float, list[int]]]) -> None:
        """Step s for the patients `cols` from their states X at its start, in pieces."""
        dt = self.dt
        t_s, t_e = s * dt, (s + 1) * dt
        U = self.sched.evaluate(np.array([t_s]))[0]
        U = U if U.shape[1] == 1 else U[:, cols]
        dW = self._step_noise(s, cols, self.plan_at(t_s), X, U, t_s)
        X = X.copy()
        a = np.full(len(cols), t_s)
        for t_ev, evs in [*points, (t_e, [])]:
            X, a = self._advance_to(s, cols, X, a, t_ev, U, dW)
            if evs:
                self.state.X[:, cols] = X
                self.runner.fire(evs, self.state.X, lambda: self.plan_at(t_s).P,
                                 U if U.shape[1] == 1 else self._full_u(U, cols), t_ev, cols)
                X = self.state.X[:, cols]
                self._bound(X, None, self.plan_at(t_s))
        X[:, self.state.status[cols] != 0] = np.nan
        self.state.X[:, cols] = X

    def _full_u(self, U: np.ndarray, cols: np.ndarray) -> np.ndarray:
        full = np.zeros((U.shape[0], self.state.X.shape[1]))
        full[:, cols] = U
        return full

    def _step_noise(self, s: int, cols: np.ndarray, plan: StepPlan, X: np.ndarray, U: np.ndarray,
                    t: float) -> np.ndarray | None:
        """The step's whole noise increment sqrt(dt) sigma scale(X) z (the kernels' draw), (r, m),
        from the states X at the step's start."""
        rows = plan.noise_rows
        if not len(rows):
            return None
        ctr = np.uint64(s) * np.uint64(len(rows)) + np.arange(len(rows), dtype=np.uint64)
        z = normals_np(ctr[:, None], plan.keys[cols][None, :])
        dW = math.sqrt(self.dt) * plan.P[plan.noise_pidx][:, cols] * z
        if self.model.has_noise_scales:
            dW = dW * self.numpy.noise_scale(X, plan.P[:, cols], U, t)[rows]
        return dW

    def _advance_to(self, s: int, cols: np.ndarray, X: np.ndarray, a: np.ndarray, b: float,
                    U: np.ndarray, dW: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """From times `a` (per patient) to time b, firing state events where conditions cross."""
        for _ in range(MAX_FIRINGS_PER_STEP):
            plan = self.plan_at(s * self.dt)
            P = plan.P[:, cols]
            h = b - a
            Xb = self._piece(s, cols, X, P, U, a, h, dW)
            if not self.runner.state_events or not (h > 0).any():
                return Xb, np.full_like(a, b)
            tc, firing = self._locate(s, cols, X, P, U, a, h, Xb, dW)
            if not firing:
                return Xb, np.full_like(a, b)
            done = np.isinf(tc)
            X = X.copy()
            X[:, done] = Xb[:, done]
            hit = ~done
            Xh = self._piece(s, cols[hit], X[:, hit], P[:, hit], U if U.shape[1] == 1 else U[:, hit],
                             a[hit], tc[hit], None if dW is None else dW[:, hit])
            X[:, hit] = Xh
            a = np.where(done, b, a + np.where(done, 0.0, tc))
            self.state.X[:, cols] = X
            for ev, who in firing:
                sel = cols[who]
                full_u = U if U.shape[1] == 1 else self._full_u(U, cols)
                self.runner.fire([ev.index], self.state.X, lambda: self.plan_at(s * self.dt).P, full_u,
                                 a[who], sel)
            X = self.state.X[:, cols].copy()
            self._bound(X, None, self.plan_at(s * self.dt))
            if done.all():
                return X, a
        raise SimulationError(f"state events fired more than {MAX_FIRINGS_PER_STEP} times within the "
                              f"step at day {s * self.dt:g}: an event's update re-triggers it at once",
                              [])

    def _locate(self, s: int, cols: np.ndarray, X: np.ndarray, P: np.ndarray, U: np.ndarray, a: np.ndarray,
                h: np.ndarray, Xb: np.ndarray, dW: np.ndarray | None
                ) -> tuple[np.ndarray, list[tuple[CompiledEvent, np.ndarray]]]:
        """Earliest crossing time (after `a`, per patient; inf: none) and, per event, the
        patients whose crossing is (within its tolerance) that earliest one."""
        m = X.shape[1]
        found: list[tuple[CompiledEvent, np.ndarray]] = []
        for ev in self.runner.state_events:
            g0 = self.runner.condition(ev, X, P, U, a)
            g1 = self.runner.condition(ev, Xb, P, U, a + h)
            c = crossed(ev.direction, g0, g1) & (self.state.status[cols] == 0) & (h > 0)
            tc = np.full(m, np.inf)
            if c.any():
                w = np.flatnonzero(c)
                lo, hi = np.zeros(len(w)), h[w].copy()
                Uw = U if U.shape[1] == 1 else U[:, w]
                dWw = None if dW is None else dW[:, w]
                for _ in range(bisect_steps(ev.tolerance, float(hi.max()))):
                    mid = 0.5 * (lo + hi)
                    Xm = self._piece(s, cols[w], X[:, w], P[:, w], Uw, a[w], mid, dWw, check=False)
                    now = crossed(ev.direction, g0[w], self.runner.condition(ev, Xm, P[:, w], Uw, a[w] + mid))
                    hi = np.where(now, mid, hi)
                    lo = np.where(now, lo, mid)
                tc[w] = hi
            found.append((ev, tc))
        earliest = np.min(np.stack([tc for _, tc in found]), axis=0)
        firing = [(ev, np.isfinite(tc) & (tc <= earliest + ev.tolerance)) for ev, tc in found]
        return earliest, [(ev, w) for ev, w in firing if w.any()]

    # ----------------------------------------------------------------- one piece

    def _piece(self, s: int, cols: np.ndarray, X: np.ndarray, P: np.ndarray, U: np.ndarray, t: np.ndarray,
               h: np.ndarray, dW: np.ndarray | None, check: bool = True) -> np.ndarray:
        """The integrator's step of length h (per patient) from X at times t, with the share
        h/dt of the step's noise; bounds, clamps and failures applied."""
        integ = self.integrator
        A, B, C = integ.a, integ.b, integ.c
        K = np.empty((len(B), *X.shape))
        with np.errstate(all="ignore"):
            for i in range(len(B)):
                xi = X
                if i:
                    acc = np.zeros_like(X)
                    for j in range(i):
                        if A[i, j] != 0.0:
                            acc += A[i, j] * K[j]
                    xi = X + h * acc
                self.numpy._rhs(xi, P, U, t + C[i] * h, K[i])
            acc = np.zeros_like(X)
            for i in range(len(B)):
                acc += B[i] * K[i]
            Xn = X + h * acc
            plan = self.plan_at(s * self.dt)
            if dW is not None:
                Xn[plan.noise_rows] += dW * (h / self.dt)
        if check:
            self._fail(s, cols, Xn)
        self._bound(Xn, None, plan)
        return Xn

    def _fail(self, s: int, cols: np.ndarray, Xn: np.ndarray) -> None:
        st = self.state
        ok = st.status[cols] == 0
        bad = ~(np.abs(Xn) < DIVERGENCE_LIMIT) & ok[None, :]
        for q in np.flatnonzero(bad.any(axis=0)):
            i = int(np.flatnonzero(bad[:, q])[0])
            p = cols[q]
            st.status[p] = 1 if not np.isfinite(Xn[i, q]) else 2
            st.fail_step[p] = s
            st.fail_state[p] = i
        Xn[:, st.status[cols] != 0] = np.nan

    def _bound(self, X: np.ndarray, cols: np.ndarray | None, plan: StepPlan) -> None:
        """Clip states to their bounds and hold clamped ones, in place (columns `cols` or all)."""
        m = self.model
        view = X if cols is None else X[:, cols]
        with np.errstate(invalid="ignore"):
            np.minimum(np.maximum(view, m.lower[:, None]), m.upper[:, None], out=view)
        clamped = np.flatnonzero(plan.clamp_mask)
        if len(clamped):
            view[clamped] = plan.clamp_val[clamped, None]
        if cols is not None:
            X[:, cols] = view
