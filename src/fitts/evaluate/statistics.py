"""Statistics of a target and their Monte-Carlo intervals.

Each statistic takes one or two samples of per-patient values (last axis = patients) and
returns its value along that axis, so that :func:`scipy.stats.bootstrap` can evaluate
it on many resamples at once. The interval of a simulated statistic is the percentile
bootstrap over virtual patients: it is the Monte-Carlo uncertainty that comes from
simulating a finite population, not the uncertainty of the published value.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

Statistic = Callable[..., np.ndarray]


def proportion(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Fraction of 1s (or True) in a 0/1 sample."""
    return np.mean(x, axis=axis)


def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean of a per-patient quantity (e.g. flares per year)."""
    return np.mean(x, axis=axis)


def odds_ratio(exposed: np.ndarray, unexposed: np.ndarray, axis: int = -1) -> np.ndarray:
    """Odds ratio of the event (0/1) in exposed versus unexposed (Haldane 0.5 correction
    applied to every cell when any cell is empty)."""
    a = np.sum(exposed, axis=axis)
    b = np.shape(exposed)[axis] - a
    c = np.sum(unexposed, axis=axis)
    d = np.shape(unexposed)[axis] - c
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    add = np.where(zero, 0.5, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((a + add) * (d + add)) / ((b + add) * (c + add))


def _pooled_sd(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    nx, ny = np.shape(x)[axis], np.shape(y)[axis]
    vx, vy = np.var(x, axis=axis, ddof=1), np.var(y, axis=axis, ddof=1)
    return np.sqrt(((nx - 1) * vx + (ny - 1) * vy) / (nx + ny - 2))


def smd(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Standardised mean difference (Cohen's d): (mean x - mean y) / pooled SD."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.mean(x, axis=axis) - np.mean(y, axis=axis)) / _pooled_sd(x, y, axis)


def hedges_g(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Hedges' g: Cohen's d times the small-sample correction J = 1 - 3 / (4 (nx + ny) - 9)."""
    n = np.shape(x)[axis] + np.shape(y)[axis]
    return smd(x, y, axis) * (1.0 - 3.0 / (4.0 * n - 9.0))


def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Ratio of means, mean x / mean y."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(x, axis=axis) / np.mean(y, axis=axis)


def mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Difference of means, mean x - mean y (in the observation's units)."""
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def correlation(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pearson correlation of paired samples x and y."""
    xc = x - np.mean(x, axis=axis, keepdims=True)
    yc = y - np.mean(y, axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(xc * yc, axis=axis) / np.sqrt(np.sum(xc**2, axis=axis) * np.sum(yc**2, axis=axis))


def nnt(treated: np.ndarray, comparator: np.ndarray, axis: int = -1) -> np.ndarray:
    """Number needed to treat: 1 / (responder share treated - responder share comparator).

    Infinite when the shares are equal; negative when the comparator does better (a
    number needed to harm).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / (np.mean(treated, axis=axis) - np.mean(comparator, axis=axis))


def _centred(a: np.ndarray) -> np.ndarray:
    return a - a.mean(axis=1, keepdims=True)


def lagged_sums(cause: np.ndarray, effect: np.ndarray) -> list[np.ndarray]:
    """Per-person sums for a within-person cross-lagged regression, shapes (patients,).

    The effect at report t+1 is regressed on the cause and on the effect itself at report
    t, every series centred on the person's own mean over the lagged pairs (the fixed,
    within-person part of a multilevel cross-lagged model). Returns the sums of squares and
    products s11 (cause), s22 (effect at t), s12, s1o, s2o, soo (o = effect at t+1), which a
    resample of persons adds up.

    Parameters
    ----------
    cause, effect
        Daily reports, shape (patients, reports).
    """
    p1, p2, o = _centred(cause[:, :-1]), _centred(effect[:, :-1]), _centred(effect[:, 1:])
    return [np.sum(a * b, axis=1) for a, b in ((p1, p1), (p2, p2), (p1, p2), (p1, o), (p2, o), (o, o))]


def cross_lagged(s11: np.ndarray, s22: np.ndarray, s12: np.ndarray, s1o: np.ndarray, s2o: np.ndarray,
                 soo: np.ndarray, axis: int = -1) -> np.ndarray:
    """Standardised within-person cross-lagged coefficient from :func:`lagged_sums` (summed over persons).

    beta = (s22 s1o - s12 s2o) / (s11 s22 - s12^2), standardised by sqrt(s11 / soo): the
    change in the next report of the effect, in its within-person SDs, per within-person SD
    of the cause, holding the effect's own previous report fixed.
    """
    a11, a22, a12, a1o, a2o, aoo = (np.sum(v, axis=axis) for v in (s11, s22, s12, s1o, s2o, soo))
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = (a22 * a1o - a12 * a2o) / (a11 * a22 - a12**2)
        return beta * np.sqrt(a11 / aoo)


def cross_lagged_difference(*sums: np.ndarray, axis: int = -1) -> np.ndarray:
    """Forward minus reverse cross-lagged coefficient: the 12 per-person sums of both directions."""
    return cross_lagged(*sums[:6], axis=axis) - cross_lagged(*sums[6:], axis=axis)


#: two-sample statistics by the names used in target files
TWO_SAMPLE: dict[str, Statistic] = {
    "odds_ratio": odds_ratio, "hedges_g": hedges_g, "smd": smd, "ratio": ratio,
    "mean_difference": mean_difference, "correlation": correlation, "nnt": nnt,
}


@dataclass(frozen=True)
class Estimate:
    """A simulated statistic with its percentile-bootstrap Monte-Carlo interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def estimate(statistic: Statistic, *samples: np.ndarray, paired: bool = False, resamples: int = 400,
             seed: int = 0, level: float = 0.95) -> Estimate:
    """Value of `statistic` on `samples` and its bootstrap interval over patients.

    Parameters
    ----------
    statistic
        A function of the samples with an ``axis`` argument (patients on the last axis).
    samples
        One or more 1-D arrays of per-patient values; with ``paired=True`` they are equal
        in length and resampled together (the same virtual patients in every sample).
    """
    arrays = [np.asarray(s, dtype=float) for s in samples]
    value = float(statistic(*arrays, axis=-1))
    if any(len(a) < 2 for a in arrays) or not np.isfinite(value):
        return Estimate(value, float("nan"), float("nan"))
    if all(np.ptp(a) == 0 for a in arrays):  # every patient alike: no Monte-Carlo spread to resample
        return Estimate(value, value, value)
    # resamples may give inf (a ratio over an all-zero resample) or all-equal statistics, about
    # which scipy warns; the percentile interval is still what is wanted
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(arrays, statistic, paired=paired, vectorized=True, n_resamples=resamples,
                              confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return Estimate(value, float(low), float(high))
