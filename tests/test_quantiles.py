"""The priors' inverse CDFs (scipy.special) against scipy.stats, in the bulk and the tails."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from fitts.sim.quantiles import prior_ppf, truncated_normal_ppf
from fitts.spec.schema import BetaPrior, GammaPrior, LogNormalPrior, NormalPrior

U = np.concatenate([[0.0, 1e-300, 1e-12, 1e-6], np.linspace(0.001, 0.999, 199), [1 - 1e-6, 1 - 1e-12, 1.0]])
#: where scipy.stats.truncnorm is itself accurate to 1e-12 (beyond, it loses digits: see the mpmath test)
BULK = U[3:-2]


@given(a=st.floats(-12, 11), width=st.floats(1e-3, 20), infinite=st.sampled_from(["none", "low", "high"]))
def test_truncated_normal_matches_scipy(a: float, width: float, infinite: str) -> None:
    b = a + width
    if infinite == "low":
        a = -np.inf
    elif infinite == "high":
        b = np.inf
    got = truncated_normal_ppf(U, a, b)
    assert np.all((got >= a) & (got <= b))
    assert got[0] == a and got[-1] == b
    assert np.all(np.diff(got) >= 0)  # quantiles never decrease
    np.testing.assert_allclose(got[3:-2], stats.truncnorm.ppf(BULK, a, b), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("a, b", [(-1.0, np.inf), (-np.inf, 1.0), (2.0, 9.0), (-9.0, -3.0), (-0.5, 0.5)])
def test_truncated_normal_tails_are_exact_to_many_digits(a: float, b: float) -> None:
    """Against 60-digit arithmetic, where scipy's truncnorm loses up to 6 digits (upper tail)."""
    import mpmath as mp

    mp.mp.dps = 60
    u = np.array([1e-12, 1e-6, 0.3, 1 - 1e-6, 1 - 1e-12])
    got = truncated_normal_ppf(u, a, b)
    pa, pb = mp.ncdf(a), mp.ncdf(b)
    for ui, gi in zip(u, got, strict=True):
        p = pa + mp.mpf(ui) * (pb - pa)  # P(X <= x); solve in the tail of smaller probability
        x = -mp.sqrt(2) * mp.erfinv(1 - 2 * p) if p < 0.5 else mp.sqrt(2) * mp.erfinv(1 - 2 * (1 - p))
        assert gi == pytest.approx(float(x), rel=1e-11, abs=1e-13), (ui, gi, x)


@pytest.mark.parametrize("prior, frozen", [
    (NormalPrior(dist="normal", mean=1.5, sd=0.4), stats.norm(1.5, 0.4)),
    (NormalPrior(dist="normal", mean=0.2, sd=0.5, bounds=[0.0, np.inf]),
     stats.truncnorm(-0.4, np.inf, loc=0.2, scale=0.5)),
    (NormalPrior(dist="normal", mean=-1.0, sd=0.3, bounds=[-4.0, -0.5]),
     stats.truncnorm(-10.0, 0.5 / 0.3, loc=-1.0, scale=0.3)),
    (LogNormalPrior(dist="lognormal", median=2.0, sigma=0.5), stats.lognorm(0.5, scale=2.0)),
    (BetaPrior(dist="beta", a=2.0, b=5.0), stats.beta(2.0, 5.0)),
    (GammaPrior(dist="gamma", shape=3.0, scale=0.5), stats.gamma(3.0, scale=0.5)),
])
def test_every_prior_matches_scipy_stats(prior, frozen) -> None:
    u = BULK
    np.testing.assert_allclose(prior_ppf(prior, u), frozen.ppf(u), rtol=1e-10, atol=1e-13)
    assert prior_ppf(prior, u.reshape(3, -1)).shape == (3, len(u) // 3)


def test_simulating_imports_no_scipy_stats() -> None:
    """What the module is for: a simulation does not pay the import of scipy.stats."""
    code = ("import sys, fitts; fitts.simulate(fitts.load_model('fitts'), patients=3, days=2, backend='numpy'); "
            "print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
