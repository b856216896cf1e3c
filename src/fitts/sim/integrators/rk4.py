"""Classical fourth-order Runge–Kutta (deterministic only)."""

from __future__ import annotations

import numpy as np

from fitts.sim.integrators.base import AbstractIntegrator


class RK4(AbstractIntegrator):
    """The classical RK4 tableau; order 4; no noise."""

    name = "rk4"
    stochastic = False
    a = np.array([[0.0, 0.0, 0.0, 0.0],
                  [0.5, 0.0, 0.0, 0.0],
                  [0.0, 0.5, 0.0, 0.0],
                  [0.0, 0.0, 1.0, 0.0]])
    b = np.array([1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0])
    c = np.array([0.0, 0.5, 0.5, 1.0])

    def order(self) -> int:
        return 4
