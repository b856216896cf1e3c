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

from fitts.analysis.scenarios import DEFAULT_SCENARIO, ModelHandle
from fitts.analysis.sensitivity import sampled_parameters, simulate_outcome
from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
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
    return box_discovery(pd.DataFrame(values), cases,
                         outcome=outcome if threshold is None else f"{outcome} > {threshold:g}",
                         min_density=min_density,
                         settings={"model": model.spec.name, "model_hash": model.model_hash, "days": days, "dt": dt,
                                   "noise": noise, "seed": seed})


def box_discovery(values: pd.DataFrame, cases: np.ndarray, *, outcome: str, min_density: float | None = None,
                  settings: dict | None = None) -> Discovery:
    """PRIM on patients' parameters `values` (one column each) and their 0/1 `cases`.

    Parameters that do not vary among the patients cannot bound a box and are left out;
    the box lists only the parameters it restricts.
    """
    cases = np.asarray(cases, dtype=float)
    x = pd.DataFrame({n: v for n, v in values.items() if np.ptp(np.asarray(v, dtype=float)) > 0})
    limits, stats, traj = find_box(x, cases, min_density=min_density)
    low = x.min()
    high = x.max()
    limits["prior_low"] = [float(low[n]) for n in limits["parameter"]]
    limits["prior_high"] = [float(high[n]) for n in limits["parameter"]]
    limits = limits[(limits["min"] > limits["prior_low"]) | (limits["max"] < limits["prior_high"])]
    return Discovery(outcome, limits.reset_index(drop=True), stats["coverage"], stats["density"], stats["mass"],
                     float(cases.mean()), traj, len(cases), dict(settings or {}))


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class AttributionSubtypes:
    """Evaluator of the experiments: one sampled patient per row (row i: patient id i at the
    experiment's seed), tipped by the standard stressor and, when ill, given the mechanism
    group cuts of :func:`fitts.analysis.attribution.attribute`; its subtype ("" when not ill)."""

    model: ModelHandle
    threshold: float = 0.5
    tip_days: float = 300.0
    follow_days: float = 365.0
    settle_days: float = 60.0
    dt: float = 0.05
    backend: str = "numba"
    name: str = "attribution-subtypes"
    block_rows: int = 256

    def fingerprint(self) -> dict:
        return {"model": self.model.ref, "model_hash": self.model.model_hash, "threshold": self.threshold,
                "tip_days": self.tip_days, "follow_days": self.follow_days, "settle_days": self.settle_days,
                "dt": self.dt, "backend": self.backend}

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        from fitts.analysis.attribution import _subtype, group_cuts, run_cuts, tip

        m = self.model.get()
        ids, X, P = tip(m, rows.index.to_numpy(np.int64), seed=seed, tip_days=self.tip_days, dt=self.dt,
                        backend=self.backend)
        ill = X[:, m.state_index["pain"]] > self.threshold
        groups = group_cuts(m)
        cut_sets: dict[frozenset[str], int] = {frozenset(): 0}
        slots = {name: cut_sets.setdefault(edges, len(cut_sets)) for name, edges in groups.items()}
        cured = run_cuts(m, ids[ill], X[ill], P[ill], list(cut_sets), seed=seed, follow_days=self.follow_days,
                         settle_days=self.settle_days, threshold=self.threshold, dt=self.dt, backend=self.backend)
        subtype = np.full(len(ids), "", dtype=object)
        for j, p in enumerate(np.flatnonzero(ill)):
            row = {f"cured_{name}": bool(cured[s, j]) for name, s in slots.items()}
            subtype[p] = _subtype(row, bool(cured[0, j]))
        return {"subtype": subtype}


def discover_subtype(model: CompiledModel, *, subtype: str = "central-dominant",
                     among: Sequence[str] | None = None, patients: int = 2000,
                     parameters: Sequence[str] | None = None, seed: int = 0, dt: float = 0.05,
                     backend: str = "numba", min_density: float | None = None,
                     progress: Callable[[int, int], None] | None = None, executor: AbstractExecutor | None = None,
                     directory: str | Path | None = None, resume: bool = False) -> Discovery:
    """The box of parameters in which ill patients are of `subtype` (PRIM over the subtypes of
    :func:`fitts.analysis.attribution.attribute`).

    Patients ``0..patients-1`` are drawn from the priors at `seed` and tipped by the standard
    stressor; the ill ones are cut as :func:`~fitts.analysis.attribution.attribute` does
    (mechanism groups only, no single loops: :class:`AttributionSubtypes`, as experiments on
    `executor` with the run store in `directory`) and those whose subtype is in `among`
    (default: every ill patient held by a loop, i.e. all but ``transient``) are the
    population PRIM peels; a case is a patient of `subtype` (central-dominant against the
    rest by default; ``among=("central-dominant", "peripheral-dominant")`` for the two
    engines alone).

    Raises
    ------
    ModelError
        An unknown subtype, fewer than 20 patients of the subtypes in `among`, or all of
        them of one subtype (nothing to separate).
    """
    from fitts.analysis.attribution import STANDARD_STRESSOR, SUBTYPES
    from fitts.run.experiments import perform_experiments

    among = tuple(among) if among is not None else tuple(s for s in SUBTYPES if s != "transient")
    for s in (subtype, *among):
        if s not in SUBTYPES:
            raise ModelError(f"unknown subtype {s!r}" + did_you_mean(s, SUBTYPES), hint="subtypes: "
                             + ", ".join(SUBTYPES))
    if subtype not in among:
        among = (subtype, *among)
    if "psychosocial_stress" not in model.inputs or "pain" not in model.state_index:
        raise ModelError(f"the subtypes need the input psychosocial_stress and the state pain, which "
                         f"{model.spec.name!r} lacks")
    names = sampled_parameters(model, parameters)
    ev = AttributionSubtypes(ModelHandle.of(model), dt=dt, backend=backend)
    res = perform_experiments(ev, pd.DataFrame({"patient": np.arange(patients)}), seed=seed, executor=executor,
                              directory=directory, resume=resume, progress=progress)
    found = res.outcomes["subtype"].astype(str)
    ill = found[found != ""]
    shares = {s: float((ill == s).mean()) if len(ill) else float("nan") for s in SUBTYPES}
    table = found[found.isin(among)]
    if len(table) < 20:
        raise ModelError(f"only {len(table)} of {patients} patients are ill and {' or '.join(among)}: too few "
                         "for a box", hint="draw more patients (--patients)")
    kinds = table.value_counts()
    if len(kinds) == 1:
        raise ModelError(f"every ill patient of {model.spec.name!r} held by a loop is {kinds.index[0]} "
                         f"({int(kinds.iloc[0])} of {patients} sampled): no box separates the subtypes",
                         hint="the theory has one engine; compare theories with `fitts attribute` instead")
    P = sample_parameters(model, patients, seed)
    ids = table.index.to_numpy(int)
    values = pd.DataFrame({n: P[model.param_index[n]][ids] for n in names})
    return box_discovery(values, (table == subtype).to_numpy(), outcome=f"subtype {subtype} (among "
                         f"{', '.join(among)})", min_density=min_density,
                         settings={"model": model.spec.name, "model_hash": model.model_hash, "seed": seed,
                                   "patients": patients, "ill": len(ill), "shares": shares,
                                   "threshold": ev.threshold, "tip_days": ev.tip_days,
                                   "follow_days": ev.follow_days, "stressor": list(STANDARD_STRESSOR)})
