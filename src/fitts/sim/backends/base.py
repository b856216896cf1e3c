"""The backend contract: advance a chunk of patients by `nsteps` fixed steps in place."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from fitts.compile.compiled import CompiledModel
from fitts.sim.integrators import AbstractIntegrator

#: per-patient status codes; the values are the user messages
STATUS_MESSAGES: dict[int, str] = {
    0: "ok",
    1: "state became NaN or infinite",
    2: "state diverged (|x| > 1e12)",
}
DIVERGENCE_LIMIT = 1e12


@dataclass
class ChunkState:
    """Everything a backend mutates for one chunk.

    Attributes
    ----------
    X
        States, shape (n_states, n), C-contiguous float64.
    status, fail_step, fail_state
        Per-patient status code (see STATUS_MESSAGES), the global step and the state index
        at which it failed; shape (n,).
    """

    X: np.ndarray
    status: np.ndarray
    fail_step: np.ndarray
    fail_state: np.ndarray

    @classmethod
    def start(cls, X0: np.ndarray) -> ChunkState:
        n = X0.shape[1]
        return cls(np.ascontiguousarray(X0, dtype=np.float64), np.zeros(n, np.int8),
                   np.full(n, -1, np.int64), np.full(n, -1, np.int32))


@dataclass(frozen=True)
class StepPlan:
    """What is constant over a call: parameters, noise, clamps, step size."""

    P: np.ndarray  # (n_params, n)
    keys: np.ndarray  # (n,) uint64 noise stream keys
    noise_rows: np.ndarray  # (r,) int64 state index of each noisy state
    noise_pidx: np.ndarray  # (r,) int64 parameter row of its sigma
    clamp_mask: np.ndarray  # (n_states,) bool
    clamp_val: np.ndarray  # (n_states,) float64
    dt: float


class AbstractBackend(ABC):
    """Advances a chunk with a fixed-step integrator; one class per backend."""

    name: str = ""

    def __init__(self, model: CompiledModel):
        self.model = model

    @abstractmethod
    def advance(self, integrator: AbstractIntegrator, state: ChunkState, plan: StepPlan,
                U: np.ndarray, t0: float, step0: int, nsteps: int) -> None:
        """Advance `nsteps` steps from time t0 (global step index step0), in place.

        U has shape (nsteps, n_inputs, n_u), inputs at each step's start (n_u = 1 or n).
        Failed patients are frozen at NaN with their status set; nothing is raised.
        """
