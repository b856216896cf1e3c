"""Euler–Maruyama: the Euler tableau plus additive Gaussian noise."""

from __future__ import annotations

import numpy as np

from fitts.sim.integrators.base import AbstractIntegrator


class EulerMaruyama(AbstractIntegrator):
    """x_{n+1} = x_n + f(x_n, t_n) dt + sigma sqrt(dt) z_n.

    Weak order 1; strong order 1 for additive noise (0.5 in general).
    """

    name = "euler_maruyama"
    stochastic = True
    a = np.zeros((1, 1))
    b = np.array([1.0])
    c = np.array([0.0])

    def order(self) -> int:
        return 1

    def strong_order(self) -> float:
        return 1.0
