"""Inverse distribution functions of the priors, from SciPy's special functions.

Every virtual patient's parameters and every random life event's magnitude are drawn as
``prior_ppf(prior, u)`` of a counter-based uniform ``u``: the inverse-CDF method keeps one
uniform per draw, so a patient's values do not depend on who else is simulated.

Why not ``scipy.stats``: importing it costs about 0.7 s of CPU, a quarter of a small
``fitts simulate`` end to end, and every command and worker process pays it. The
quantile functions below are the ones ``scipy.stats`` itself evaluates (``ndtri``,
``ndtri_exp``, ``log_ndtr``, ``betaincinv``, ``gammaincinv`` of ``scipy.special``); the
truncated normal works in log space on the side of the interval with more mass, as SciPy's
``truncnorm`` does, so it stays accurate in the far tails. ``tests/test_quantiles.py``
compares every distribution with ``scipy.stats``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from fitts.spec.schema import Prior


def truncated_normal_ppf(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """Quantiles of the standard normal truncated to [a, b] (a < b, either may be infinite).

    Parameters
    ----------
    u
        Probabilities in [0, 1], any shape.
    a, b
        Truncation bounds in standard-normal units.

    Returns
    -------
    np.ndarray
        Same shape as `u`, in [a, b].
    """
    u = np.asarray(u, dtype=float)
    if a >= 0:  # the interval lies in the upper tail: mirror it into the lower one
        return -truncated_normal_ppf(1.0 - u, -b, -a)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the bound itself
        # Phi(x) = (1 - u) Phi(a) + u Phi(b): two positive terms, no cancellation for a < 0
        log_phi = np.logaddexp(special.log_ndtr(a) + np.log1p(-u), special.log_ndtr(b) + np.log(u))
    x = np.clip(special.ndtri_exp(log_phi), a, b)
    return np.where(u <= 0.0, a, np.where(u >= 1.0, b, x))  # the bounds exactly, not through exp/log


def prior_ppf(prior: Prior, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of a prior (a pydantic prior of :mod:`fitts.spec.schema`) at uniforms `u`.

    Parameters
    ----------
    prior
        Any prior of the model language (fixed, uniform, normal with optional bounds,
        lognormal, beta, gamma, bernoulli).
    u
        Uniforms in [0, 1], any shape.

    Returns
    -------
    np.ndarray
        Same shape as `u`, in the parameter's units.
    """
    d = prior.dist
    if d == "fixed":
        return np.full(np.shape(u), prior.value)
    if d == "uniform":
        return prior.low + u * (prior.high - prior.low)
    if d == "normal":
        if prior.bounds is None:
            return prior.mean + prior.sd * special.ndtri(u)
        a = (prior.bounds[0] - prior.mean) / prior.sd
        b = (prior.bounds[1] - prior.mean) / prior.sd
        return prior.mean + prior.sd * truncated_normal_ppf(u, a, b)
    if d == "lognormal":
        return prior.median * np.exp(prior.sigma * special.ndtri(u))
    if d == "beta":
        return prior.low + (prior.high - prior.low) * special.betaincinv(prior.a, prior.b, u)
    if d == "gamma":
        return special.gammaincinv(prior.shape, u) * prior.scale
    if d == "bernoulli":
        return (np.asarray(u) < prior.p).astype(float)
    raise ValueError(f"unknown prior {d!r}")  # pragma: no cover
