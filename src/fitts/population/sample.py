"""Populations of virtual patients: priors joined by a Gaussian copula, set prevalences.

A population is plain data (:class:`PopulationSpec`): which sampled parameters are
correlated and how strongly, and the prevalence of each predisposition. Sampling is a
pure function of (model, spec, seed, patient ids), so a patient's parameters are the
same alone, in any chunk or on any worker.

Gaussian copula
---------------
For the k correlated parameters, each patient draws k standard normals from its own
``population`` stream, multiplies them by the Cholesky factor of the correlation matrix
R (normal scores), maps them to uniforms with the normal CDF and then through each
prior's inverse CDF (the same mapping :func:`fitts.sim.sample.sample_free` uses). The
marginals stay the priors; R is the correlation of the normal scores (Spearman's rank
correlation is (6/pi) arcsin(rho/2), slightly below rho). Parameters outside the copula
keep their independent draws from the patient's ``params`` stream.

Prevalences
-----------
A predisposition is a Bernoulli prior row; its prevalence p replaces the prior's p:
the patient carries it when its uniform (from the copula when the row is correlated,
else the row's own ``params`` uniform) is below p.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtr

from fitts.compile.compiled import CompiledModel, ParamInfo
from fitts.errors import ModelError, did_you_mean
from fitts.sim.quantiles import prior_ppf
from fitts.sim.rng import normals, uniforms
from fitts.sim.sample import sample_parameters

#: uniforms are kept this far from 0 and 1 so that unbounded priors stay finite
_U_EPS = 1e-15


@dataclass(frozen=True)
class PopulationSpec:
    """Correlations and prevalences of a virtual population (plain data).

    Attributes
    ----------
    prevalence
        Bernoulli parameter (a predisposition) -> prevalence in [0, 1].
    correlation
        ``(name_a, name_b, rho)`` triples: the correlation of the two sampled parameters'
        normal scores (Gaussian copula); pairs not given are uncorrelated.
    """

    prevalence: Mapping[str, float] = field(default_factory=dict)
    correlation: Sequence[tuple[str, str, float]] = ()

    def matrix(self, model: CompiledModel) -> tuple[list[str], np.ndarray]:
        """The correlated parameters (in model order) and their correlation matrix R.

        Raises
        ------
        ModelError
            A name that is not a sampled parameter, |rho| >= 1, a pair given twice, or an
            R that is not positive definite.
        """
        self.check(model)
        names = sorted({n for a, b, _ in self.correlation for n in (a, b)}, key=model.param_index.__getitem__)
        pos = {n: i for i, n in enumerate(names)}
        R = np.eye(len(names))
        seen = set()
        for a, b, rho in self.correlation:
            key = frozenset((a, b))
            if a == b:
                raise ModelError(f"correlation between {a!r} and itself: give two different parameters")
            if key in seen:
                raise ModelError(f"correlation between {a!r} and {b!r} is given twice")
            seen.add(key)
            if not -1.0 < rho < 1.0:
                raise ModelError(f"correlation between {a!r} and {b!r} is {rho}; it must lie in (-1, 1)")
            R[pos[a], pos[b]] = R[pos[b], pos[a]] = rho
        if names:
            low = float(np.linalg.eigvalsh(R).min())
            if low <= 1e-10:
                raise ModelError(f"the correlation matrix of {', '.join(names)} is not positive definite "
                                 f"(smallest eigenvalue {low:.3g})",
                                 hint="weaken some correlations: they contradict each other")
        return names, R

    def check(self, model: CompiledModel) -> None:
        """Every name must be a sampled parameter; prevalences need Bernoulli rows."""
        for name, p in self.prevalence.items():
            row = _prior_row(model, name, "prevalence")
            if row.prior.dist != "bernoulli":
                raise ModelError(f"prevalence of {name!r}: the parameter has a {row.prior.dist} prior, "
                                 "and a prevalence needs a Bernoulli one (a predisposition)",
                                 hint="predispositions: " + ", ".join(predispositions(model)))
            if not 0.0 <= p <= 1.0:
                raise ModelError(f"prevalence of {name!r} is {p}; it must lie in [0, 1]")
        for a, b, _ in self.correlation:
            _prior_row(model, a, "correlation")
            _prior_row(model, b, "correlation")


def _prior_row(model: CompiledModel, name: str, what: str) -> ParamInfo:
    sampled = [p.name for p in model.params if p.kind == "prior"]
    if name not in model.param_index or model.params[model.param_index[name]].kind != "prior":
        raise ModelError(f"{what}: {name!r} is not a sampled parameter of {model.spec.name!r}."
                         + did_you_mean(name, sampled),
                         hint="sampled parameters: " + ", ".join(n for n in sampled if "." not in n))
    return model.params[model.param_index[name]]


def predispositions(model: CompiledModel) -> list[str]:
    """The model's predispositions: its Bernoulli prior rows, in model order."""
    return [p.name for p in model.params if p.kind == "prior" and p.prior.dist == "bernoulli"]


def population_overrides(model: CompiledModel, spec: PopulationSpec | None, ids: np.ndarray,
                         seed: int) -> dict[str, np.ndarray]:
    """Values of the rows the population changes, for patients `ids`.

    Returns ``{parameter: values (n,)}`` ready for ``simulate(params=...)``; empty when
    `spec` changes nothing (the priors' independent draws are then used as they are).
    """
    if spec is None:
        return {}
    ids = np.asarray(ids, dtype=np.int64)
    names, R = spec.matrix(model)
    out: dict[str, np.ndarray] = {}
    if names:
        z = normals(seed, ids, "population", len(names)) @ np.linalg.cholesky(R).T
        u = np.clip(ndtr(z), _U_EPS, 1.0 - _U_EPS)
        for j, name in enumerate(names):
            row = model.params[model.param_index[name]]
            p = spec.prevalence.get(name)
            out[name] = (u[:, j] < p).astype(float) if p is not None else prior_ppf(row.prior, u[:, j])
    for name, p in spec.prevalence.items():
        if name not in out:
            k = model.param_index[name]
            out[name] = (uniforms(seed, ids, "params", 1, offset=k)[:, 0] < p).astype(float)
    return out


def sample_population(model: CompiledModel, patients: int | Sequence[int] | np.ndarray, *, seed: int = 0,
                      spec: PopulationSpec | None = None) -> pd.DataFrame:
    """Sample a population: one row per patient, one column per sampled parameter.

    Parameters
    ----------
    patients
        A count n (ids 0..n-1) or patient ids, shape (n,).
    spec
        Correlations and prevalences (default: the priors, independent).

    Returns
    -------
    pandas.DataFrame
        ``patient`` and the sampled (prior) parameter rows, after the copula and
        prevalences; derived rows are checked but not returned.
    """
    ids = np.arange(patients) if isinstance(patients, int | np.integer) else np.asarray(patients, dtype=np.int64)
    P = sample_parameters(model, ids, seed, population_overrides(model, spec, ids, seed))
    cols = {"patient": ids}
    for k, row in enumerate(model.params):
        if row.kind == "prior":
            cols[row.name] = P[k]
    return pd.DataFrame(cols)
