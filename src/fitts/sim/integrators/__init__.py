"""Fixed-step integrators, one per file, behind :class:`AbstractIntegrator`."""

from fitts.sim.integrators.base import AbstractIntegrator as AbstractIntegrator
from fitts.sim.integrators.euler_maruyama import EulerMaruyama as EulerMaruyama
from fitts.sim.integrators.heun import Heun as Heun
from fitts.sim.integrators.rk4 import RK4 as RK4

INTEGRATORS: dict[str, type[AbstractIntegrator]] = {
    cls.name: cls for cls in (EulerMaruyama, Heun, RK4)
}
