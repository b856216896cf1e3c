"""Scenario discovery: the parameter box in which virtual patients become and stay ill (PRIM).

Global sensitivity says which parameters matter on average; scenario discovery says
*where*: the ranges of a few parameters inside which an outcome is common. The Patient
Rule Induction Method (Friedman & Fisher, Stat Comput 1999, doi:10.1023/A:1008894516817;
used for scenario discovery by Bryant & Lempert, Technol Forecast Soc Change 2010,
doi:10.1016/j.techfore.2009.08.002) peels a box off the sampled parameter space step by
step, trading **coverage** (the share of all positive cases inside the box) for
**density** (the share of cases among the patients inside the box). The `prim` package
(Project Platypus) does the peeling; this module draws the virtual patients, simulates
them and reads the box.

Patients are drawn from the theory's priors (its own population, predispositions at
their prevalences), live through the scenario of :mod:`fitts.analysis.sensitivity`
(a psychosocial stressor, level 2, days 60-240; noise off by default) and the outcome is
read at the end (``ill``, ``pain > x`` style thresholds come from ``state:NAME`` with
`threshold`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fitts.analysis.scenarios import DEFAULT_SCENARIO
from fitts.analysis.sensitivity import sampled_parameters, simulate_outcome
from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError
from fitts.run.executors import AbstractExecutor
from fitts.sim.sample import sample_parameters

#: outcomes that are already cases (0/1): no threshold needed
_BINARY = ("ill", "ever_ill", "recovered")


@dataclass
class Discovery:
    """A PRIM box and its peeling trajectory.

    Attributes
    ----------
    outcome
        What counted as a case (e.g. ``ill``).
    box
        One row per restricted parameter: ``parameter``, ``min``, ``max`` (parameter
        units; the prior's range where a side is not restricted) and ``prior_low``,
        ``prior_high`` (the sampled range).
    coverage, density, mass
        Of the chosen box: share of all cases inside it, share of cases among the
        patients inside it, share of patients inside it.
    base_rate
        Share of cases among all patients (the density of the whole space).
    trajectory
        The peeling trajectory: ``coverage``, ``density``, ``mass``, ``res dim`` per step.
    patients
        Patients simulated.
    """

    outcome: str
    box: pd.DataFrame
    coverage: float
    density: float
    mass: float
    base_rate: float
    trajectory: pd.DataFrame
    patients: int
    settings: dict = field(default_factory=dict)


def find_box(x: pd.DataFrame, y: np.ndarray, *, min_density: float | None = None) -> tuple[pd.DataFrame, dict,
                                                                                           pd.DataFrame]:
    """PRIM on inputs `x` (one column per parameter) and 0/1 cases `y`.

    The chosen box is, among the steps of the peeling trajectory at least halfway from the
    base rate to a density of 1, the one with the best balance of coverage and density
    (their harmonic mean, as the F1 score balances recall and precision); with
    `min_density`, the step with the largest coverage among those at least that dense.

    Returns
    -------
    (box limits, {coverage, density, mass}, trajectory)
    """
    import prim

    y = np.asarray(y, dtype=float)
    base = float(y.mean())
    if base in (0.0, 1.0):
        raise ModelError(f"every patient has the same outcome (share of cases {base:.0%}): there is no box to find",
                         hint="change the outcome, the scenario or the number of patients")
    p = prim.Prim(x, y, threshold=0.5, threshold_type=">")
    box = p.find_box()
    traj = box.peeling_trajectory.reset_index(drop=True)
    if min_density is not None:
        ok = traj[traj["density"] >= min_density]
        step = int(ok["coverage"].idxmax()) if len(ok) else int(traj["density"].idxmax())
    else:
        # the box must be clearly denser than the whole space (halfway from the base rate to 1);
        # among those, the best balance of coverage and density
        f1 = 2 * traj["coverage"] * traj["density"] / (traj["coverage"] + traj["density"])
        dense = traj["density"] >= 0.5 * (base + 1.0)
        step = int(f1[dense].idxmax()) if dense.any() else int(traj["density"].idxmax())
    box.select(step)
    limits = box.limits.reset_index().rename(columns={"index": "parameter"})
    limits = limits[["parameter", "min", "max"]]
    stats = {"coverage": float(traj.loc[step, "coverage"]), "density": float(traj.loc[step, "density"]),
             "mass": float(traj.loc[step, "mass"])}
    return limits, stats, traj


def discover(model: CompiledModel, *, outcome: str = "ill", patients: int = 2000,
             parameters: Sequence[str] | None = None, days: float = 730.0,
             schedule: Sequence[dict] = DEFAULT_SCENARIO, dt: float = 0.05, noise: bool = False, seed: int = 0,
             backend: str = "numba", threshold: float | None = None, min_density: float | None = None,
             progress: Callable[[float], None] | None = None, executor: AbstractExecutor | None = None,
             directory: str | Path | None = None, resume: bool = False) -> Discovery:
    """The box of parameters in which virtual patients meet `outcome` (see the module docstring).

    Parameters
    ----------
    outcome
        ``ill`` (0/1) or ``pain`` / ``state:NAME`` with `threshold` (a case: above it).
    patients
        Virtual patients drawn from the priors (ids 0..n-1 at `seed`).
    parameters
        Names or glob patterns of the parameters PRIM may restrict (default: every sampled
        parameter).
    executor, directory, resume
        Where the patients are simulated, the run store and whether to resume it (see
        :func:`fitts.run.experiments.perform_experiments`).
    """
    binary = outcome.partition("@")[0] in _BINARY
    if not binary and threshold is None:
        raise ModelError(f"the outcome {outcome!r} is continuous: give a threshold above which a patient counts",
                         hint="e.g. --threshold 0.5 for pain activation")
    names = sampled_parameters(model, parameters)
    if schedule is DEFAULT_SCENARIO and "psychosocial_stress" not in model.inputs:
        schedule = ()
    P = sample_parameters(model, patients, seed)
    values = {n: P[model.param_index[n]] for n in names}
    y = simulate_outcome(model, values, outcome, days=days, schedule=schedule, dt=dt, noise=noise, seed=seed,
                         backend=backend, progress=progress, executor=executor, directory=directory,
                         resume=resume)
    cases = y if threshold is None else (y > float(threshold)).astype(float)
    # an outcome defined for some patients only (``recovered``: those ill when the stressor ends)
    defined = np.isfinite(y)
    if not defined.all():
        values = {n: v[defined] for n, v in values.items()}
        cases = cases[defined]
        if len(cases) < 20:
            raise ModelError(f"the outcome {outcome!r} is defined for {len(cases)} of {patients} patients only",
                             hint="draw more patients (--patients)")
    # parameters that do not vary in the population (fixed predispositions, degenerate priors) cannot bound a box
    x = pd.DataFrame({n: v for n, v in values.items() if np.ptp(v) > 0})
    limits, stats, traj = find_box(x, cases, min_density=min_density)
    low = x.min()
    high = x.max()
    limits["prior_low"] = [float(low[n]) for n in limits["parameter"]]
    limits["prior_high"] = [float(high[n]) for n in limits["parameter"]]
    limits = limits[(limits["min"] > limits["prior_low"]) | (limits["max"] < limits["prior_high"])]
    return Discovery(outcome if threshold is None else f"{outcome} > {threshold:g}", limits.reset_index(drop=True),
                     stats["coverage"], stats["density"], stats["mass"], float(cases.mean()), traj, len(cases),
                     {"model": model.spec.name, "model_hash": model.model_hash, "days": days, "dt": dt,
                      "noise": noise, "seed": seed})
