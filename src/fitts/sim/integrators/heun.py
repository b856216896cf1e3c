"""Heun's method (explicit trapezoid); with additive noise, a stochastic Heun scheme."""

from __future__ import annotations

import numpy as np

from fitts.sim.integrators.base import AbstractIntegrator


class Heun(AbstractIntegrator):
    """Order 2 deterministic; with additive noise strong order 1."""

    name = "heun"
    stochastic = True
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([0.5, 0.5])
    c = np.array([0.0, 1.0])

    def order(self) -> int:
        return 2

    def strong_order(self) -> float:
        return 1.0
