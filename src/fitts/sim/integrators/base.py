"""The integrator contract: explicit Runge–Kutta tableaux as data, additive noise on top.

Every fixed-step integrator is a small class holding a Butcher tableau. Both backends
take the tableau and run the same arithmetic in the same order, so a new tableau
needs no new kernel. With noise, the step is ``x + dt * sum_i b_i k_i + sqrt(dt) *
sigma * z``: Euler–Maruyama for the Euler tableau (strong order 1 for the additive
noise `fitts` uses).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np


class AbstractIntegrator(ABC):
    """A fixed-step explicit integrator defined by its Butcher tableau."""

    name: str = ""
    #: whether the integrator may be used with noise
    stochastic: bool = False

    @property
    @abstractmethod
    def a(self) -> np.ndarray:
        """Stage matrix A, shape (s, s), strictly lower triangular."""

    @property
    @abstractmethod
    def b(self) -> np.ndarray:
        """Weights b, shape (s,)."""

    @property
    @abstractmethod
    def c(self) -> np.ndarray:
        """Nodes c, shape (s,)."""

    @abstractmethod
    def order(self) -> int:
        """Deterministic (weak) order of accuracy."""

    def strong_order(self) -> float:
        """Strong order with additive noise (None-like 0 if not stochastic)."""
        return 0.0

    def increment(self, rhs: Callable[[np.ndarray, float, np.ndarray], None], x: np.ndarray,
                  t: float, dt: float, buf: np.ndarray) -> np.ndarray:
        """The deterministic step x_{n+1} - x_n ... returned as the new state.

        Parameters
        ----------
        rhs
            ``rhs(x, t, out)`` writes dx/dt into `out` (same shape as x).
        x
            State, shape (n_states, n).
        buf
            Scratch for the stage derivatives, shape (s, n_states, n).

        Notes
        -----
        The summation order matches the numba kernel exactly (zeros in A skipped).
        """
        a, b, c = self.a, self.b, self.c
        for i in range(len(b)):
            if i == 0:
                rhs(x, t, buf[0])
            else:
                acc = np.zeros_like(x)
                for j in range(i):
                    if a[i, j] != 0.0:
                        acc += a[i, j] * buf[j]
                rhs(x + dt * acc, t + c[i] * dt, buf[i])
        acc = np.zeros_like(x)
        for i in range(len(b)):
            acc += b[i] * buf[i]
        return x + dt * acc
