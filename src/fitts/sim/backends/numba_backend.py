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
from fitts.sim.rng_numba import normal

BLOCK = 128  # patients per thread block: 16 states x 128 x 8 B x ~6 arrays fits in L2


def _make_kernel(rhs: Callable) -> Callable:
    @njit(parallel=True, error_model="numpy", nogil=True)
    def kernel(X, P, U, us, t0, dt, step0, nsteps, A, b, c, keys, noise_row_of, noise_pidx,
               lower, upper, clamp_mask, clamp_val, status, fail_step, fail_state,
               K, Xs, block):  # pragma: no cover - compiled
        ns, n = X.shape
        nstage = b.shape[0]
        nrows = noise_pidx.shape[0]
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
                # one fused pass: RK update, additive noise, failure check, bounds, clamps
                base = np.uint64(step0 + s) * np.uint64(nrows)
                fresh_fail = False
                for i in range(ns):
                    r = noise_row_of[i]
                    kk = noise_pidx[r] if r >= 0 else 0
                    ctr = base + np.uint64(r if r >= 0 else 0)
                    lo = lower[i]
                    hi = upper[i]
                    cm = clamp_mask[i]
                    cv = clamp_val[i]
                    for p in range(p0, p1):
                        acc = 0.0
                        for st in range(nstage):
                            acc += b[st] * K[st, i, p]
                        v = X[i, p] + dt * acc
                        if r >= 0:
                            v += sq * P[kk, p] * normal(ctr, keys[p])
                        if status[p] != 0:
                            X[i, p] = np.nan
                        elif not (abs(v) < DIVERGENCE_LIMIT):
                            status[p] = 2 if math.isfinite(v) else 1
                            fail_step[p] = step0 + s
                            fail_state[p] = i
                            X[i, p] = np.nan
                            fresh_fail = True
                        elif cm:
                            X[i, p] = cv
                        else:
                            X[i, p] = min(max(v, lo), hi)
                if fresh_fail:
                    for p in range(p0, p1):
                        if status[p] != 0:
                            for i in range(ns):
                                X[i, p] = np.nan

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
        K = np.empty((len(integrator.b), ns, n))
        Xs = np.empty_like(X)
        us = 0 if U.shape[2] == 1 else 1
        row_of = np.full(ns, -1, dtype=np.int64)  # noise row of each state, -1 for none
        row_of[plan.noise_rows] = np.arange(len(plan.noise_rows))
        self.kernel(
            X, np.ascontiguousarray(plan.P), np.ascontiguousarray(U), us, float(t0),
            float(plan.dt), int(step0), int(nsteps), integrator.a, integrator.b, integrator.c,
            plan.keys, row_of, plan.noise_pidx, self.model.lower, self.model.upper,
            plan.clamp_mask, plan.clamp_val, state.status, state.fail_step, state.fail_state,
            K, Xs, self.block,
        )
