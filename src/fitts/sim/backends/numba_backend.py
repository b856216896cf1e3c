"""The compiled fast path: numba kernels whose inner loops run over patients.

Patients are split into blocks handled by threads (`prange`); each thread advances its
block through all steps of the call, so a block's states stay in cache. Noise comes
from the counter-based generator keyed by (seed, patient) with counter = (step, pair),
so results do not depend on blocks, chunks or threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numba import njit, prange

from fitts.compile.compiled import CompiledModel
from fitts.sim.backends.base import DIVERGENCE_LIMIT, AbstractBackend, ChunkState, StepPlan
from fitts.sim.backends.codegen import build_numba, numba_rhs_source
from fitts.sim.integrators import AbstractIntegrator
from fitts.sim.rng import normal_pair, squares64

BLOCK = 128  # patients per thread block: 16 states x 128 x 8 B x ~6 arrays fits in L2


def _make_kernel(rhs: Callable) -> Callable:
    @njit(parallel=True, error_model="numpy", nogil=True)
    def kernel(X, P, U, us, t0, dt, step0, nsteps, A, b, c, keys, noise_rows, noise_pidx,
               lower, upper, clamp_mask, clamp_val, status, fail_step, fail_state,
               K, Xs, Z, block):  # pragma: no cover - compiled
        ns, n = X.shape
        nstage = b.shape[0]
        nrows = noise_rows.shape[0]
        npairs = (nrows + 1) // 2
        sq = math.sqrt(dt)
        nb = (n + block - 1) // block
        for bi in prange(nb):
            p0 = bi * block
            p1 = min(n, p0 + block)
            for s in range(nsteps):
                t = t0 + s * dt
                Us = U[s]
                for st in range(nstage):
                    if st == 0:
                        rhs(X, P, Us, us, t, K[0], p0, p1)
                    else:
                        for i in range(ns):
                            for p in range(p0, p1):
                                acc = 0.0
                                for j in range(st):
                                    if A[st, j] != 0.0:
                                        acc += A[st, j] * K[j, i, p]
                                Xs[i, p] = X[i, p] + dt * acc
                        rhs(Xs, P, Us, us, t + c[st] * dt, K[st], p0, p1)
                for i in range(ns):
                    for p in range(p0, p1):
                        acc = 0.0
                        for st in range(nstage):
                            acc += b[st] * K[st, i, p]
                        Xs[i, p] = X[i, p] + dt * acc
                if nrows > 0:
                    base = np.uint64(step0 + s) * np.uint64(npairs)
                    for k in range(npairs):
                        ctr = base + np.uint64(k)
                        for p in range(p0, p1):
                            z0, z1 = normal_pair(squares64(ctr, keys[p]))
                            Z[2 * k, p] = z0
                            Z[2 * k + 1, p] = z1
                    for r in range(nrows):
                        i = noise_rows[r]
                        kk = noise_pidx[r]
                        for p in range(p0, p1):
                            Xs[i, p] += sq * P[kk, p] * Z[r, p]
                for p in range(p0, p1):
                    if status[p] != 0:
                        continue
                    for i in range(ns):
                        v = Xs[i, p]
                        if not (abs(v) < DIVERGENCE_LIMIT):
                            status[p] = 2 if math.isfinite(v) else 1
                            fail_step[p] = step0 + s
                            fail_state[p] = i
                            break
                for i in range(ns):
                    lo = lower[i]
                    hi = upper[i]
                    cm = clamp_mask[i]
                    cv = clamp_val[i]
                    for p in range(p0, p1):
                        if status[p] != 0:
                            X[i, p] = np.nan
                        elif cm:
                            X[i, p] = cv
                        else:
                            X[i, p] = min(max(Xs[i, p], lo), hi)

    return kernel


@lru_cache(maxsize=32)
def _kernel_for(source: str) -> Callable:
    rhs = njit(error_model="numpy", inline="always")(build_numba(source))
    return _make_kernel(rhs)


class NumbaBackend(AbstractBackend):
    """Compiled backend; kernels are compiled on first use and cached per model content."""

    name = "numba"

    def __init__(self, model: CompiledModel, block: int = BLOCK):
        super().__init__(model)
        self.source = numba_rhs_source(model)
        self.block = block

    @property
    def kernel(self) -> Callable:
        return _kernel_for(self.source)

    def advance(self, integrator: AbstractIntegrator, state: ChunkState, plan: StepPlan,
                U: np.ndarray, t0: float, step0: int, nsteps: int) -> None:
        X = state.X
        ns, n = X.shape
        nrows = len(plan.noise_rows)
        K = np.empty((len(integrator.b), ns, n))
        Xs = np.empty_like(X)
        Z = np.empty((2 * ((nrows + 1) // 2), n))
        us = 0 if U.shape[2] == 1 else 1
        self.kernel(
            X, np.ascontiguousarray(plan.P), np.ascontiguousarray(U), us, float(t0),
            float(plan.dt), int(step0), int(nsteps), integrator.a, integrator.b, integrator.c,
            plan.keys, plan.noise_rows, plan.noise_pidx, self.model.lower, self.model.upper,
            plan.clamp_mask, plan.clamp_val, state.status, state.fail_step, state.fail_state,
            K, Xs, Z, self.block,
        )
