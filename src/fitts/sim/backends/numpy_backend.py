"""The NumPy reference backend: vectorised over patients, one Python loop over steps."""

from __future__ import annotations

import math

import numpy as np

from fitts.compile.compiled import CompiledModel
from fitts.sim.backends.base import DIVERGENCE_LIMIT, AbstractBackend, ChunkState, StepPlan
from fitts.sim.backends.codegen import build, numpy_rhs_source, numpy_scale_source
from fitts.sim.integrators import AbstractIntegrator
from fitts.sim.rng import normals_np


class NumpyBackend(AbstractBackend):
    """Reference implementation; the numba backend is tested equal to it."""

    name = "numpy"

    def __init__(self, model: CompiledModel):
        super().__init__(model)
        self.source = numpy_rhs_source(model)
        self._rhs = build(self.source)
        self._scale = build(numpy_scale_source(model), "scale") if model.has_noise_scales else None

    def noise_scale(self, X: np.ndarray, P: np.ndarray, U: np.ndarray, t: float) -> np.ndarray:
        """Multiplier of every state's noise at states X, shape like X (1 where none is declared)."""
        out = np.ones_like(X)
        if self._scale is not None:
            with np.errstate(all="ignore"):
                self._scale(X, P, U, t, out)
        return out

    def rhs(self, X: np.ndarray, P: np.ndarray, U: np.ndarray, t: float) -> np.ndarray:
        """dX/dt, shape like X (n_states, n)."""
        out = np.empty_like(X)
        with np.errstate(all="ignore"):
            self._rhs(X, P, U, t, out)
        return out

    def advance(self, integrator: AbstractIntegrator, state: ChunkState, plan: StepPlan,
                U: np.ndarray, t0: float, step0: int, nsteps: int) -> None:
        X, P = state.X, plan.P
        ns, n = X.shape
        nrows = len(plan.noise_rows)
        rows_u64 = np.arange(nrows, dtype=np.uint64)
        sq = math.sqrt(plan.dt)
        buf = np.empty((len(integrator.b), ns, n))
        lower = self.model.lower[:, None]
        upper = self.model.upper[:, None]
        sig = P[plan.noise_pidx] if nrows else None
        clamped = np.flatnonzero(plan.clamp_mask)
        with np.errstate(all="ignore"):
            for s in range(nsteps):
                t = t0 + s * plan.dt
                Us = U[s]

                def f(x: np.ndarray, tt: float, out: np.ndarray, Us: np.ndarray = Us) -> None:
                    self._rhs(x, P, Us, tt, out)

                scale = self.noise_scale(X, P, Us, t)[plan.noise_rows] if self._scale is not None else 1.0
                Xn = integrator.increment(f, X, t, plan.dt, buf)
                if nrows:
                    ctr = np.uint64(step0 + s) * np.uint64(nrows) + rows_u64
                    Xn[plan.noise_rows] += sq * sig * scale * normals_np(ctr[:, None], plan.keys[None, :])
                ok = state.status == 0
                bad = ~(np.abs(Xn) < DIVERGENCE_LIMIT) & ok[None, :]
                if bad.any():
                    for p in np.flatnonzero(bad.any(axis=0)):
                        i = int(np.flatnonzero(bad[:, p])[0])
                        state.status[p] = 1 if not np.isfinite(Xn[i, p]) else 2
                        state.fail_step[p] = step0 + s
                        state.fail_state[p] = i
                Xn = np.minimum(np.maximum(Xn, lower), upper)
                if len(clamped):
                    Xn[clamped] = plan.clamp_val[clamped, None]
                Xn[:, state.status != 0] = np.nan
                X[...] = Xn
