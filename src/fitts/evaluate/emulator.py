"""Gaussian-process emulators of a stochastic simulator's outputs, with known Monte-Carlo noise.

One :class:`Emulator` stands in for one simulated quantity (for example the prevalence a
theory gives as a function of its calibration knobs). It is a scikit-learn
``GaussianProcessRegressor`` (constant mean after standardising the outputs, an ARD
squared-exponential kernel, a small fitted white-noise term) whose nugget is each run's
own Monte-Carlo variance: a run whose statistic rests on few patients is trusted less.
This is the emulator of history matching (Vernon, Goldstein & Bower, Bayesian Analysis
2010; Andrianakis et al., PLoS Comput Biol 2015), in the stochastic form of the R package
hmer (Iskauskas et al., J Stat Softw 2024) with the run-to-run noise known rather than
estimated.

:meth:`Emulator.predict` returns the expected simulator output and the variance of that
expectation (the uncertainty of the emulator itself, without the Monte-Carlo noise of a
single run). :meth:`Emulator.loo` gives closed-form leave-one-out predictions
(Rasmussen & Williams 2006, eq. 5.12) for the diagnostics hmer draws: standardised errors
beyond 3 mean the emulator is over-confident there.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve
from threadpoolctl import threadpool_limits

#: below this many finite training runs a quantity is not emulated
MIN_RUNS = 4


@dataclass(frozen=True)
class LooDiagnostics:
    """Leave-one-out check of an emulator.

    Attributes
    ----------
    mean, sd
        Leave-one-out prediction of every training run and its sd (including the run's
        Monte-Carlo noise), shape (n_runs,).
    standardised
        (observed - mean) / sd, shape (n_runs,); mostly within +-3 for a sound emulator.
    """

    mean: np.ndarray
    sd: np.ndarray
    standardised: np.ndarray

    @property
    def outside(self) -> float:
        """Fraction of runs whose standardised leave-one-out error exceeds 3."""
        return float(np.mean(np.abs(self.standardised) > 3.0)) if len(self.standardised) else float("nan")

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.standardised)))) if len(self.standardised) else float("nan")


class Emulator:
    """A GP emulator of one simulator output over the unit cube of the knobs.

    Parameters
    ----------
    x
        Training inputs, shape (n_runs, n_knobs), each knob scaled to [0, 1].
    y
        Simulated outputs, shape (n_runs,); non-finite rows are dropped.
    mc_var
        Monte-Carlo variance of each output, shape (n_runs,) (in the units of y squared);
        non-finite values are replaced by the largest finite one.
    seed
        Seed of the optimiser's restarts. The fit is deterministic given the data, whatever
        the number of BLAS threads of the process (it runs on one).
    theta
        Hyperparameters of an earlier fit of the same data (:attr:`theta`, log scale): the
        Gaussian process is conditioned on the runs at these values without optimising
        them again, which gives the very same emulator in a fraction of the time.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, mc_var: np.ndarray, *, seed: int = 0,
                 theta: Sequence[float] | None = None):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        v = np.asarray(mc_var, dtype=float)
        keep = np.isfinite(y) & np.all(np.isfinite(x), axis=1)
        x, y, v = x[keep], y[keep], v[keep]
        if len(y) < MIN_RUNS:
            raise ValueError(f"an emulator needs at least {MIN_RUNS} finite runs, got {len(y)}")
        finite = np.isfinite(v) & (v >= 0)
        v = np.where(finite, v, np.max(v[finite]) if finite.any() else 0.0)
        self.x, self.y, self.mc_var = x, y, v
        self.mu = float(np.mean(y))
        # an output that never varies still gets a scale, so the nugget stays meaningful
        self.scale = float(np.std(y)) or float(np.sqrt(np.mean(v))) or max(abs(self.mu), 1.0) * 1e-3
        yn = (y - self.mu) / self.scale
        alpha = v / self.scale**2 + 1e-8
        d = x.shape[1]
        kernel = (ConstantKernel(1.0, (1e-3, 1e2)) * RBF(np.full(d, 0.5), (2e-2, 1e2))
                  + WhiteKernel(1e-3, (1e-8, 1.0)))
        self.refitted = theta is None
        # One BLAS thread: a multi-threaded Cholesky sums in an order that depends on the
        # thread count, and the likelihood optimiser turns last-digit differences into other
        # hyperparameters, so a resumed calibration would refit other emulators than the
        # process that ran the waves. A few hundred runs fit as fast on one thread.
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")  # bounds reached on flat outputs are expected, not a failure
            if theta is None:
                found = GaussianProcessRegressor(kernel, alpha=alpha, normalize_y=False, n_restarts_optimizer=2,
                                                 random_state=seed).fit(x, yn)
                theta = found.kernel_.theta
            self._theta = [float(v) for v in theta]
            # conditioned on the hyperparameters as stored (log scale), here and in a later
            # process alike: exp(log(p)) need not give p back to the last digit
            self.gp = GaussianProcessRegressor(kernel.clone_with_theta(np.asarray(theta, dtype=float)), alpha=alpha,
                                               normalize_y=False, optimizer=None).fit(x, yn)
        self._white = float(self.gp.kernel_.k2.noise_level)

    @property
    def theta(self) -> list[float]:
        """The hyperparameters (log scale) this emulator is conditioned on, exactly as given or
        found, to condition a later emulator of the same runs."""
        return list(self._theta)

    @staticmethod
    def data_key(x: np.ndarray, y: np.ndarray, mc_var: np.ndarray, seed: int) -> str:
        """A hash of the training data and seed: equal keys, equal fits."""
        import hashlib

        h = hashlib.sha256()
        for a in (x, y, mc_var):
            h.update(np.ascontiguousarray(np.asarray(a, dtype=float)).tobytes())
        h.update(f"{np.shape(x)}|{seed}".encode())
        return h.hexdigest()[:24]

    @property
    def length_scales(self) -> np.ndarray:
        """Fitted correlation lengths per knob (unit-cube units); short = the output depends strongly."""
        return np.atleast_1d(np.asarray(self.gp.kernel_.k1.k2.length_scale, dtype=float))

    @property
    def white(self) -> float:
        """Fitted variance beyond the runs' Monte-Carlo noise, in output units squared."""
        return self._white * self.scale**2

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected output and emulator variance at `x` (shape (n, n_knobs)).

        Returns
        -------
        mean, var
            Shape (n,) each; ``var`` excludes run-to-run noise (the fitted white term).
        """
        x = np.atleast_2d(np.asarray(x, dtype=float))
        m, s = self.gp.predict(x, return_std=True)
        var = np.maximum(s**2 - self._white, 1e-12)
        return self.mu + self.scale * m, var * self.scale**2

    def loo(self) -> LooDiagnostics:
        """Closed-form leave-one-out predictions at the fitted hyperparameters."""
        kinv = cho_solve((self.gp.L_, True), np.eye(len(self.y)))
        yn = (self.y - self.mu) / self.scale
        diag = np.diag(kinv)
        mean_n = yn - (kinv @ yn) / diag
        sd_n = np.sqrt(1.0 / diag)
        mean = self.mu + self.scale * mean_n
        sd = self.scale * sd_n
        return LooDiagnostics(mean, sd, (self.y - mean) / sd)
