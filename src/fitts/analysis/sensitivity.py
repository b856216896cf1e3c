"""Global sensitivity of an outcome to a theory's parameters (SALib).

Which parameters decide whether a virtual patient becomes and stays ill? Each sampled
parameter of a theory has a prior; the analysis varies the parameters jointly over their
priors and apportions the variance (Sobol, delta) or the elementary effects (Morris) of an
outcome among them.

The SALib problem is posed in **prior quantiles**: every variable is uniform on [0, 1]
and is mapped through its own prior's inverse CDF (normal, lognormal, beta, Bernoulli, ...
as the model declares it, bounds included) before the simulation. The indices therefore
refer to the priors exactly as the theory states them, whatever their family.

Each sample row is one virtual patient: the rows are simulated together, vectorised, with
the state noise off by default (an outcome with noise mixes parameter effects with chance),
through a scenario of inputs (default: one psychosocial stressor, level 2, days 60-240),
and the outcome is read at the end:

- ``ill``: pain NRS (noise-free) at least 4 at the end (0/1: becomes and stays ill);
- ``pain``: pain activation (0-1) at the end;
- ``state:NAME``: any state's value at the end;
- any other outcome of :mod:`fitts.analysis.scenarios` (``ill@365``, ``recovery_days``, ...).

The runs are experiments (:func:`fitts.analysis.scenarios.patient_experiments`): row i of
the sample is virtual patient i, computed on any executor, with a resumable run store.

Convergence is shown by analysing nested subsets of the same sample (the first 1/8, 1/4,
1/2 and all of the base samples or trajectories), so a user sees whether the indices have
settled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.analysis.scenarios import DEFAULT_SCENARIO
from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
from fitts.run.executors import AbstractExecutor
from fitts.sim.quantiles import prior_ppf

METHODS = ("sobol", "morris", "delta")
#: the index each method's table is sorted by and its convergence follows
MAIN_INDEX = {"sobol": "ST", "morris": "mu_star", "delta": "delta"}
#: uniforms are kept this far from 0 and 1 so that unbounded priors stay finite
_EPS = 1e-9


@dataclass
class Sensitivity:
    """Indices of one outcome.

    Attributes
    ----------
    method
        ``sobol``, ``morris`` or ``delta``.
    outcome
        What was measured.
    indices
        One row per parameter. Sobol: ``S1``, ``S1_conf``, ``ST``, ``ST_conf``; Morris:
        ``mu_star``, ``mu_star_conf``, ``sigma``; delta: ``delta``, ``delta_conf``,
        ``S1``, ``S1_conf``. Sorted by the main index, largest first. Confidence
        half-widths at 95 %.
    second_order
        Sobol only: parameters x parameters, S2 (NaN on and below the diagonal).
    convergence
        The main index of every parameter at nested sample sizes (columns ``runs`` and
        the parameter names).
    runs
        Simulator runs (virtual patients simulated).
    outcome_mean, outcome_sd
        Mean and standard deviation of the outcome over the runs.
    settings
        Model, scenario and sampling settings.
    samples
        One row per run: the parameter values and the outcome (column ``outcome``).
    """

    method: str
    outcome: str
    indices: pd.DataFrame
    second_order: pd.DataFrame | None
    convergence: pd.DataFrame
    runs: int
    outcome_mean: float
    outcome_sd: float
    settings: dict = field(default_factory=dict)
    samples: pd.DataFrame | None = None

    @property
    def main_index(self) -> str:
        return MAIN_INDEX[self.method]


def sampled_parameters(model: CompiledModel, patterns: Sequence[str] | None = None) -> list[str]:
    """The model's sampled (prior) parameters, all of them or those matching glob `patterns`.

    Raises
    ------
    ModelError
        A pattern that matches no sampled parameter.
    """
    names = [p.name for p in model.params if p.kind == "prior"]
    if not patterns:
        return names
    chosen: list[str] = []
    for pat in patterns:
        hits = [n for n in names if fnmatchcase(n, pat)]
        if not hits:
            raise ModelError(f"no sampled parameter of {model.spec.name!r} matches {pat!r}."
                             + did_you_mean(pat, names),
                             hint="`fitts show MODEL` lists the parameters; node and edge rows are tau.NODE, "
                                  "baseline.NODE, weight.EDGE; glob patterns such as 'weight.*' work")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def problem(model: CompiledModel, parameters: Sequence[str]) -> dict:
    """The SALib problem spec over `parameters`, in prior quantiles (see the module docstring)."""
    return {"num_vars": len(parameters), "names": list(parameters), "bounds": [[0.0, 1.0]] * len(parameters),
            "dists": ["unif"] * len(parameters)}


def to_parameters(model: CompiledModel, parameters: Sequence[str], u: np.ndarray,
                  priors: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Prior quantiles `u` (shape (n, k)) -> parameter values by name, each shape (n,).

    `priors` replaces the model's prior of some parameters (e.g. as a calibration sets them).
    """
    u = np.clip(np.asarray(u, dtype=float), _EPS, 1.0 - _EPS)
    out = {}
    for j, name in enumerate(parameters):
        prior = (priors or {}).get(name) or model.params[model.param_index[name]].prior
        out[name] = np.asarray(prior_ppf(prior, u[:, j]), dtype=float)
    return out


def _check_outcome(model: CompiledModel, outcome: str) -> None:
    """A bad outcome is an error before any work (see :mod:`fitts.analysis.scenarios`)."""
    from fitts.analysis.scenarios import _parse_outcome

    _parse_outcome(model, outcome)


def simulate_outcome(model: CompiledModel, values: dict[str, np.ndarray], outcome: str, *, days: float,
                     schedule: Sequence[dict] = DEFAULT_SCENARIO, dt: float = 0.05, noise: bool = False,
                     seed: int = 0, backend: str = "numba",
                     progress: Callable[[float], None] | None = None, executor: AbstractExecutor | None = None,
                     directory: str | Path | None = None, resume: bool = False) -> np.ndarray:
    """Simulate one virtual patient per row of `values` (row i: patient id i at `seed`) and read
    `outcome` at the end, shape (n,), as experiments (:func:`fitts.analysis.scenarios.patient_experiments`)
    on `executor`, with the run store in `directory` (resumable).

    `progress` is called with the patient-days just simulated (after each block of rows).
    """
    from fitts.analysis.scenarios import patient_experiments

    done = [0]

    def rows_done(n: int, _planned: int) -> None:
        if progress is not None and n > done[0]:
            progress((n - done[0]) * days)
            done[0] = n

    res = patient_experiments(model, pd.DataFrame(values), [outcome], days=days, schedule=schedule, dt=dt,
                              noise=noise, seed=seed, backend=backend, executor=executor, directory=directory,
                              resume=resume, progress=rows_done)
    return res.outcomes[outcome].to_numpy(dtype=float)


def sample(method: str, prob: dict, n: int, seed: int) -> np.ndarray:
    """SALib sample in quantile space, shape (runs, k): Sobol' (Saltelli scheme, second order),
    Morris (n trajectories, 4 levels) or Latin hypercube (delta)."""
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(prob, n, calc_second_order=True, scramble=True, seed=seed)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(prob, n, num_levels=4, seed=seed)
    if method == "delta":
        from SALib.sample import latin

        return latin.sample(prob, n, seed=seed)
    raise ModelError(f"unknown method {method!r}", hint="methods: " + ", ".join(METHODS))


def analyze(method: str, prob: dict, X: np.ndarray, Y: np.ndarray, seed: int,
            second_order: bool = True) -> dict:
    """SALib analysis of outputs `Y` at inputs `X` (95 % confidence intervals)."""
    if method == "sobol":
        from SALib.analyze import sobol

        return sobol.analyze(prob, Y, calc_second_order=second_order, conf_level=0.95, seed=seed)
    if method == "morris":
        from SALib.analyze import morris

        return morris.analyze(prob, X, Y, conf_level=0.95, num_levels=4, seed=seed)
    from SALib.analyze import delta

    return delta.analyze(prob, X, Y, conf_level=0.95, seed=seed)


def _table(method: str, names: Sequence[str], res: dict) -> pd.DataFrame:
    cols = {"sobol": ("S1", "S1_conf", "ST", "ST_conf"), "morris": ("mu_star", "mu_star_conf", "sigma"),
            "delta": ("delta", "delta_conf", "S1", "S1_conf")}[method]
    df = pd.DataFrame({c: np.asarray(res[_key(method, c)], dtype=float) for c in cols},
                      index=pd.Index(names, name="parameter"))
    main = MAIN_INDEX[method]
    return df.sort_values(main, ascending=False)


def _key(method: str, column: str) -> str:
    """SALib's result key for a column: delta's moment-independent index is `delta_raw` in SALib 1.5+
    (`delta` before)."""
    if method == "delta" and column.startswith("delta"):
        return column.replace("delta", "delta_raw", 1)
    return column


def _block(method: str, k: int) -> int:
    """Rows per base sample (Sobol), per trajectory (Morris) or per sample (delta)."""
    return {"sobol": 2 * k + 2, "morris": k + 1, "delta": 1}[method]


def sensitivity_from_outputs(method: str, prob: dict, X: np.ndarray, Y: np.ndarray, *, outcome: str,
                             seed: int = 0) -> Sensitivity:
    """Indices, second-order matrix and convergence from a finished sample (any function's outputs).

    Raises
    ------
    ModelError
        The outcome does not vary over the sample (no variance to apportion).
    """
    names = prob["names"]
    k = len(names)
    if not np.isfinite(Y).all():
        raise ModelError("the outcome is not finite for every sample")
    if float(np.std(Y)) == 0.0:
        raise ModelError(f"the outcome {outcome!r} is the same ({float(Y[0]):g}) for every sample, so no "
                         "parameter moves it", hint="choose another outcome, a stronger scenario or other "
                                                     "parameters")
    res = analyze(method, prob, X, Y, seed)
    table = _table(method, names, res)
    s2 = None
    if method == "sobol":
        s2 = pd.DataFrame(np.asarray(res["S2"], dtype=float), index=names, columns=names)
    block = _block(method, k)
    n_base = len(Y) // block
    rows = []
    for frac in (8, 4, 2, 1):
        m = max(n_base // frac, 2 if method != "delta" else 16)
        if m > n_base or (rows and rows[-1]["runs"] == m * block):
            continue
        if m == n_base:
            sub = res  # the full sample: the same numbers as the table
        else:  # a Saltelli sample with second-order rows is read as one
            sub = analyze(method, prob, X[: m * block], Y[: m * block], seed, second_order=method == "sobol")
        main = _key(method, MAIN_INDEX[method])
        rows.append({"runs": m * block, **dict(zip(names, np.asarray(sub[main], dtype=float), strict=True))})
    return Sensitivity(method, outcome, table, s2, pd.DataFrame(rows), len(Y), float(np.mean(Y)),
                       float(np.std(Y)))


def sensitivity(model: CompiledModel, *, outcome: str = "ill", method: str = "morris", samples: int | None = None,
                parameters: Sequence[str] | None = None, days: float = 730.0,
                schedule: Sequence[dict] = DEFAULT_SCENARIO, dt: float = 0.05, noise: bool = False,
                seed: int = 0, backend: str = "numba",
                progress: Callable[[float], None] | None = None, executor: AbstractExecutor | None = None,
                directory: str | Path | None = None, resume: bool = False) -> Sensitivity:
    """Global sensitivity of `outcome` to the theory's parameters (see the module docstring).

    Parameters
    ----------
    outcome
        ``ill``, ``pain`` or ``state:NAME``, read at day `days` (or any outcome of
        :mod:`fitts.analysis.scenarios`).
    method
        ``morris`` (screening, r(k+1) runs), ``sobol`` (variance shares with interactions,
        N(2k+2) runs) or ``delta`` (moment-independent, N runs).
    samples
        Trajectories (Morris, default 20), base samples (Sobol, default 256, a power of 2)
        or samples (delta, default 1000).
    parameters
        Names or glob patterns of the sampled parameters to vary (default: all); the
        others stay at their prior medians.
    days, schedule, dt, noise, seed, backend
        The scenario every sample patient lives through (the default stressor is left out
        for a model without the input ``psychosocial_stress``).
    progress
        Called with patient-days done.
    executor, directory, resume
        Where the runs are computed, the run store (resumable) and whether to resume it
        (see :func:`fitts.run.experiments.perform_experiments`).
    """
    if method not in METHODS:
        raise ModelError(f"unknown method {method!r}", hint="methods: " + ", ".join(METHODS))
    names = sampled_parameters(model, parameters)
    if len(names) < 2:
        raise ModelError("global sensitivity needs two or more varied parameters",
                         hint="widen --params")
    _check_outcome(model, outcome)
    if schedule is DEFAULT_SCENARIO and "psychosocial_stress" not in model.inputs:
        schedule = ()  # a model without the standard stressor lives its own dynamics
    n = samples or {"sobol": 256, "morris": 20, "delta": 1000}[method]
    prob = problem(model, names)
    X = sample(method, prob, n, seed)
    values = to_parameters(model, names, X)
    Y = simulate_outcome(model, values, outcome, days=days, schedule=schedule, dt=dt,
                         noise=noise, seed=seed, backend=backend, progress=progress, executor=executor,
                         directory=directory, resume=resume)
    res = sensitivity_from_outputs(method, prob, X, Y, outcome=outcome, seed=seed)
    res.samples = pd.DataFrame({**values, "outcome": Y})
    res.settings = {"model": model.spec.name, "model_hash": model.model_hash, "days": days, "dt": dt,
                    "noise": noise, "seed": seed, "samples": n, "schedule": [dict(s) for s in schedule]}
    return res


def planned_runs(method: str, k: int, samples: int | None = None) -> int:
    """Simulator runs a method needs for `k` parameters."""
    n = samples or {"sobol": 256, "morris": 20, "delta": 1000}[method]
    return n * _block(method, k)
