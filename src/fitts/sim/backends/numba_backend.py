"""The compiled fast path: numba kernels whose inner loops run over patients.

The kernel is the template of :mod:`fitts.sim.backends.kernel_template` with the model's
rate function rendered into it (blocks of :data:`BLOCK` patients in block-local arrays,
so that the loops over patients vectorise); it is written to the kernel cache and
compiled once per machine (:mod:`fitts.sim.kernel_cache`), then loaded from disk by
every later process.
Noise comes from the counter-based generator keyed by (seed, patient) with counter =
(step, pair), so results do not depend on blocks, chunks or threads.
"""

from __future__ import annotations

import numba
import numpy as np

from fitts.compile.compiled import CompiledModel
from fitts.sim import kernel_cache
from fitts.sim.backends.base import AbstractBackend, ChunkState, StepPlan
from fitts.sim.backends.codegen import numba_kernel_module
from fitts.sim.backends.kernel_template import BLOCK
from fitts.sim.integrators import AbstractIntegrator, EulerMaruyama


class NumbaBackend(AbstractBackend):
    """Compiled backend; kernels are compiled on first use and cached on disk by content."""

    name = "numba"

    def __init__(self, model: CompiledModel, block: int = BLOCK):
        super().__init__(model)
        if not 1 <= block <= BLOCK:
            raise ValueError(f"NumbaBackend: block must be 1..{BLOCK} patients (the kernel's "
                             f"block-local rows), not {block}")
        self.source = numba_kernel_module(model)
        self.block = block

    @property
    def kernel(self) -> kernel_cache.Kernel:
        """The model's kernel (imported from the disk cache; compiled on first call)."""
        return kernel_cache.load_kernel(self.source)

    def compile_notice(self) -> str | None:
        """"compiling ... (first run only, ~N s)", or None when the kernel is already compiled."""
        return kernel_cache.compile_notice(self.source, f"the kernel of {self.model.spec.name}")

    def warm(self) -> kernel_cache.Kernel:
        """Load or compile the kernel now (one patient, zero steps), before any progress bar."""
        m = self.model
        state = ChunkState.start(np.zeros((m.n_states, 1)))
        plan = StepPlan(P=np.zeros((len(m.params), 1)), keys=np.ones(1, np.uint64),
                        noise_rows=np.zeros(0, np.int64), noise_pidx=np.zeros(0, np.int64),
                        clamp_mask=np.zeros(m.n_states, np.bool_), clamp_val=np.zeros(m.n_states),
                        dt=0.01)
        U = np.zeros((0, len(m.inputs), 1))
        self.advance(EulerMaruyama(), state, plan, U, 0.0, 0, 0)
        return self.kernel

    def advance(self, integrator: AbstractIntegrator, state: ChunkState, plan: StepPlan,
                U: np.ndarray, t0: float, step0: int, nsteps: int) -> None:
        X = state.X
        ns, n = X.shape
        us = 0 if U.shape[2] == 1 else 1
        row_of = np.full(ns, -1, dtype=np.int64)  # noise row of each state, -1 for none
        row_of[plan.noise_rows] = np.arange(len(plan.noise_rows))
        # small chunks: split the patients between the threads instead of one block for all
        threads = numba.get_num_threads()
        block = self.block if n >= threads * self.block else max(1, -(-n // threads))
        f64, c = np.float64, np.ascontiguousarray
        # exact dtypes and C order: one signature, so one compiled (and cached) kernel
        self.kernel(
            X, c(plan.P, f64), c(U, f64), int(us), float(t0), float(plan.dt), int(step0),
            int(nsteps), c(integrator.a, f64), c(integrator.b, f64), c(integrator.c, f64),
            c(plan.keys, np.uint64), row_of, c(plan.noise_pidx, np.int64), c(self.model.lower, f64),
            c(self.model.upper, f64), c(plan.clamp_mask, np.bool_), c(plan.clamp_val, f64),
            state.status, state.fail_step, state.fail_state, int(block),
        )
