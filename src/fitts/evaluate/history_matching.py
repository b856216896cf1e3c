"""History matching in waves: rule out the knob settings that cannot reproduce the targets.

The method of Vernon, Goldstein & Bower (Bayesian Analysis 2010) and Andrianakis et al.
(PLoS Comput Biol 2015), as the R package hmer implements it (Iskauskas et al., J Stat
Softw 2024). No Python package implements it with heteroscedastic Monte-Carlo noise,
per-wave emulators and the target-tension bookkeeping below, so the loop is written here
over scikit-learn emulators (:mod:`fitts.evaluate.emulator`) and SciPy's quasi-random
designs (:mod:`scipy.stats.qmc`).

Each wave

1. simulates a space-filling design (wave 1: a Latin hypercube of the whole knob cube;
   later waves: a maximin subset of points still *non-implausible*);
2. fits one emulator per simulated quantity on the runs inside the wave's region;
3. computes, for every candidate knob vector x and quantity q, the implausibility

   .. math:: I_q(x) = |E[f_q(x)] - z_q| / \\sqrt{V^{em}_q(x) + V^{mc}_q + V^{tol}_q + V^{disc}_q}

   where z is the published value (the middle of the accept band when the value lies
   outside it), V^em the emulator variance, V^mc the Monte-Carlo variance of one
   evaluation (from the runs' bootstrap intervals, rescaled to the cohort size the
   scorecard uses), V^tol the target's own tolerance -- the distance from z to the
   accept-band edge on the side of the prediction, over 3, so that with a perfect
   emulator and no noise I = 3 falls exactly on the band's edge -- and V^disc a stated
   model discrepancy (``discrepancy`` times the band's half width). A one-sided bound
   (``ratio_min: 3``) has I = 0 when met, else the shortfall over the same root;
4. keeps the points whose largest (or second-largest, ``measure="second"``)
   target implausibility is at most ``cutoff`` under this and every earlier wave.

When a wave leaves no point, the targets that empty the space are *set aside* (with
``set_aside``, the default) and matching goes on with the rest, as history matching in
practice drops outputs a model cannot reproduce (Andrianakis et al. 2015 drop outputs the
emulators cannot match; Vernon et al. 2010 treat them as model discrepancy): first every
target that no point tried meets even alone, then, while the space stays empty, the target
whose removal leaves the most points. A set-aside target is judged by no wave (earlier ones
included); it stays in the tension table, which is how the calibration names what the
theory cannot do. Each later wave tries the targets set aside before it again (the last
set aside first) and matches one again when its emulators, trained closer to the targets,
find settings that meet it together with the rest.

It stops when the space is empty (no setting meets the targets left together), when it stops
shrinking (``shrink`` of the previous fraction or more remains), when the emulators are
precise (their variance under ``precise`` of the other terms at most points left), or at
the budget.

Target tensions: for every pair of targets, whether some knob setting is non-implausible
for both (each point judged by every wave's emulators that are valid there, i.e. whose
training region contains it). An empty pair is a statement about the theory within the
knob ranges: it cannot meet the two targets together.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import qmc

from .emulator import Emulator, LooDiagnostics

#: a run's outputs: quantity name -> (value, Monte-Carlo variance)
Outputs = Mapping[str, tuple[float, float]]


# ---------------------------------------------------------------------- quantities
@dataclass(frozen=True)
class Quantity:
    """One emulated output and what it must match.

    Attributes
    ----------
    name
        ``ID`` for a target with one band, ``ID:NAME`` for a named band or bound.
    target
        The target id.
    low, high, centre
        The accept band and the value aimed at (published value, or the band's middle).
    bound, direction
        A one-sided bound and ``"min"`` (value >= bound) or ``"max"`` instead of a band.
    """

    name: str
    target: str
    low: float | None = None
    high: float | None = None
    centre: float | None = None
    bound: float | None = None
    direction: str | None = None

    @property
    def scale(self) -> float:
        """The size the discrepancy is a fraction of: half the band, or the bound's size."""
        if self.bound is not None:
            return max(abs(self.bound), 1e-9)
        return max((self.high - self.low) / 2.0, 1e-12)  # type: ignore[operator]

    def implausibility(self, mean: np.ndarray, var: np.ndarray, discrepancy: float) -> np.ndarray:
        """Implausibility of expected outputs `mean` with emulator + Monte-Carlo variance `var`."""
        mean = np.asarray(mean, dtype=float)
        disc = (discrepancy * self.scale) ** 2
        if self.bound is not None:
            short = (self.bound - mean) if self.direction == "min" else (mean - self.bound)
            return np.maximum(short, 0.0) / np.sqrt(var + disc)
        z = float(self.centre)  # type: ignore[arg-type]
        edge = np.where(mean >= z, self.high, self.low)  # type: ignore[arg-type]
        tol = ((edge - z) / 3.0) ** 2
        return np.abs(mean - z) / np.sqrt(var + tol + disc)

    def other_variance(self, mean: np.ndarray, discrepancy: float) -> np.ndarray:
        """Tolerance + discrepancy variance at predictions `mean` (for the precision rule)."""
        disc = (discrepancy * self.scale) ** 2
        if self.bound is not None:
            return np.full(np.shape(mean), disc)
        z = float(self.centre)  # type: ignore[arg-type]
        edge = np.where(np.asarray(mean) >= z, self.high, self.low)  # type: ignore[arg-type]
        return ((edge - z) / 3.0) ** 2 + disc


def band_quantity(name: str, target: str, band: tuple[float, float], value: float | None) -> Quantity:
    lo, hi = float(band[0]), float(band[1])
    centre = float(value) if value is not None and lo <= value <= hi else 0.5 * (lo + hi)
    return Quantity(name, target, lo, hi, centre)


def bound_quantity(name: str, target: str, bound: float, direction: str) -> Quantity:
    return Quantity(name, target, bound=float(bound), direction=direction)


# ---------------------------------------------------------------------- settings and results
@dataclass(frozen=True)
class Settings:
    """How history matching runs (all stated in the calibration file it writes).

    Attributes
    ----------
    wave_size
        Simulator runs per wave.
    max_waves
        Waves at most.
    cutoff
        Implausibility cut-off (3: Pukelsheim's three-sigma rule for unimodal distributions).
    measure
        ``"max"`` (every target) or ``"second"`` (all but the worst target) over targets.
    discrepancy
        Model-discrepancy sd as a fraction of each band's half width (or bound's size).
    mc_scale
        Factor on the runs' Monte-Carlo variances in the implausibility (runs' cohort size
        over the cohort size the scorecard uses).
    shrink
        Stop when a wave leaves at least this fraction of the previous wave's space.
    precise
        Stop when, at most points left, the emulator variance is below this fraction of the
        Monte-Carlo + tolerance + discrepancy variance for every quantity.
    samples
        Quasi-random points per exploration of the space.
    seed
        Seeds the designs and the emulators' optimiser restarts.
    set_aside
        When a wave empties the space, set aside the targets that empty it and go on with
        the rest (see the module docstring); without it the matching stops there.
    """

    wave_size: int = 40
    max_waves: int = 5
    cutoff: float = 3.0
    measure: str = "max"
    discrepancy: float = 0.1
    mc_scale: float = 1.0
    shrink: float = 0.8
    precise: float = 0.1
    samples: int = 8192
    seed: int = 0
    set_aside: bool = True

    def __post_init__(self) -> None:
        if self.measure not in ("max", "second"):
            raise ValueError(f"measure must be 'max' or 'second', got {self.measure!r}")


@dataclass
class Run:
    """One simulator evaluation: knobs on the unit cube and the outputs."""

    x: np.ndarray
    outputs: dict[str, tuple[float, float]]
    stage: str
    index: int


@dataclass
class Wave:
    """What one wave learnt.

    Attributes
    ----------
    number
        1, 2, ...
    runs
        Indices (into :attr:`HistoryMatch.runs`) of the runs its emulators were trained on.
    emulators
        Quantity name -> emulator (quantities with too few finite runs are missing).
    fraction
        Fraction of the whole knob cube still non-implausible after this wave.
    ruled_out
        Target id -> fraction of the wave's region it alone rules out (implausibility > cutoff).
    tensions
        Pairs of targets with the fraction of the cube where both are non-implausible.
    emulator_ratio
        Quantity -> median over the points left of emulator / other variance.
    points
        Non-implausible points after this wave (unit cube), shape (n, n_knobs).
    set_aside
        Targets set aside after this wave (target id -> why); see :attr:`HistoryMatch.set_aside`.
    restored
        Targets set aside by an earlier wave that this wave's emulators meet again together
        with the rest, so they are matched again (target id -> why they had been set aside).
    """

    number: int
    runs: list[int]
    emulators: dict[str, Emulator]
    fraction: float = float("nan")
    ruled_out: dict[str, float] = field(default_factory=dict)
    tensions: pd.DataFrame | None = None
    emulator_ratio: dict[str, float] = field(default_factory=dict)
    points: np.ndarray | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    set_aside: dict[str, str] = field(default_factory=dict)
    restored: dict[str, str] = field(default_factory=dict)

    def loo(self) -> dict[str, LooDiagnostics]:
        return {q: e.loo() for q, e in self.emulators.items()}


Simulator = Callable[[np.ndarray, str], list[dict[str, tuple[float, float]]]]


# ---------------------------------------------------------------------- the engine
class HistoryMatch:
    """History matching of a stochastic simulator over the unit cube of its knobs.

    Parameters
    ----------
    quantities
        The outputs to match (each belongs to a target).
    n_knobs
        Dimension of the knob cube.
    settings
        See :class:`Settings`.
    mc_scales
        Quantity name -> factor on its runs' Monte-Carlo variance, for quantities whose
        sample does not grow in proportion to the cohort (a study capped at a fixed number
        of patients); the others use ``settings.mc_scale``.
    fits
        Emulator hyperparameters of earlier fits by :meth:`Emulator.data_key` (a resumed
        calibration's): an emulator of the same runs is conditioned on them instead of
        being optimised again. New fits are added to it (:attr:`fits`).
    """

    def __init__(self, quantities: Sequence[Quantity], n_knobs: int, settings: Settings | None = None,
                 mc_scales: Mapping[str, float] | None = None, fits: Mapping[str, Sequence[float]] | None = None):
        if not quantities:
            raise ValueError("history matching needs at least one quantity to match")
        self.quantities = {q.name: q for q in quantities}
        #: per-quantity factor on the runs' Monte-Carlo variance (default: ``settings.mc_scale``)
        self.mc_scales = dict(mc_scales or {})
        self.targets = list(dict.fromkeys(q.target for q in quantities))
        self.d = int(n_knobs)
        self.settings = settings or Settings()
        self.runs: list[Run] = []
        self.waves: list[Wave] = []
        self.stop_reason: str | None = None
        #: targets no longer matched (target id -> why), in the order they were set aside
        self.set_aside: dict[str, str] = {}
        #: emulator hyperparameters by training-data key (given, and fitted here)
        self.fits: dict[str, list[float]] = {k: list(v) for k, v in (fits or {}).items()}
        #: emulators conditioned on stored hyperparameters instead of optimised again
        self.reused_fits = 0

    # ------------------------------------------------------------------ designs
    def design(self, number: int) -> np.ndarray:
        """The points wave `number` simulates (deterministic given the earlier waves)."""
        s = self.settings
        if number == 1:
            lhs = qmc.LatinHypercube(d=self.d, optimization="random-cd", seed=s.seed)
            return lhs.random(s.wave_size)
        pts = self.waves[-1].points
        if pts is None or len(pts) == 0:
            return np.empty((0, self.d))
        return maximin(pts, s.wave_size, seed=s.seed + number)

    # ------------------------------------------------------------------ implausibility
    def _targets_impl(self, wave: Wave, x: np.ndarray) -> np.ndarray:
        """Implausibility per target (max over its quantities) under one wave, shape (n, n_targets)."""
        out = np.zeros((len(x), len(self.targets)))
        col = {t: i for i, t in enumerate(self.targets)}
        mc = self._mc_var(wave)
        for name, em in wave.emulators.items():
            q = self.quantities[name]
            mean, var = em.predict(x)
            imp = q.implausibility(mean, var + mc[name], self.settings.discrepancy)
            j = col[q.target]
            out[:, j] = np.maximum(out[:, j], imp)
        return out

    def _mc_var(self, wave: Wave) -> dict[str, float]:
        """Monte-Carlo variance of one evaluation per quantity (median over the wave's runs, rescaled)."""
        got = {}
        for name in wave.emulators:
            v = [self.runs[i].outputs.get(name, (np.nan, np.nan))[1] for i in wave.runs]
            v = [a for a in v if np.isfinite(a)]
            got[name] = float(np.median(v)) * self._scale(name) if v else 0.0
        return got

    def _scale(self, name: str) -> float:
        return float(self.mc_scales.get(name, self.settings.mc_scale))

    def _measure(self, imp: np.ndarray, aside: Sequence[str] | None = None) -> np.ndarray:
        """Implausibility over the targets still matched, shape (n,), from per-target `imp` (n, targets)."""
        aside = self.set_aside if aside is None else aside
        if aside:
            keep = [j for j, t in enumerate(self.targets) if t not in aside]
            imp = imp[:, keep]
        if imp.shape[1] == 0:
            return np.zeros(len(imp))
        if self.settings.measure == "second" and imp.shape[1] > 1:
            return np.sort(imp, axis=1)[:, -2]
        return imp.max(axis=1)

    def impl_through(self, x: np.ndarray, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-wave target implausibilities at `x` and where each wave is valid.

        Returns
        -------
        imp
            Shape (waves, n, n_targets); NaN where the wave's emulators are not valid
            (the point was ruled out before that wave).
        ok
            Shape (waves, n): non-implausible after each wave.
        """
        waves = self.waves[: upto if upto is not None else len(self.waves)]
        n = len(x)
        imp = np.full((len(waves), n, len(self.targets)), np.nan)
        ok = np.zeros((len(waves), n), dtype=bool)
        alive = np.ones(n, dtype=bool)
        for k, w in enumerate(waves):
            if alive.any():
                imp[k, alive] = self._targets_impl(w, x[alive])
                alive = alive & (np.nan_to_num(self._measure(np.nan_to_num(imp[k], nan=0.0)), nan=np.inf)
                                 <= self.settings.cutoff)
            ok[k] = alive
        return imp, ok

    # ------------------------------------------------------------------ exploring the space
    def explore(self, upto: int, want: int = 1000) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Non-implausible points after wave `upto` and the fraction of the cube they fill.

        A Sobol sample of the whole cube estimates the fraction; when it finds few points,
        samples of the bounding box of what it found (then clouds around the best runs)
        add points and refine the estimate; while still fewer than `want`, clouds around
        the points found add more (so a wave is designed from many candidates, not a handful).

        Returns
        -------
        points, fraction, all_x, all_imp
            The non-implausible points; the fraction of the cube; every point tried and its
            per-wave target implausibilities (for the tension matrix).
        """
        s = self.settings
        sob = qmc.Sobol(d=self.d, scramble=True, seed=s.seed + 1000 * upto)
        x = sob.random(s.samples)
        imp, ok = self.impl_through(x, upto)
        hits = ok[-1]
        fraction = float(hits.mean())
        xs, imps = [x], [imp]
        points = x[hits]
        rounds = 0
        while 0 < len(points) < want and rounds < 3:
            rounds += 1
            span = points.max(axis=0) - points.min(axis=0)
            lo = np.clip(points.min(axis=0) - 0.1 * span - 0.01, 0, 1)
            hi = np.clip(points.max(axis=0) + 0.1 * span + 0.01, 0, 1)
            y = lo + qmc.Sobol(d=self.d, scramble=True, seed=s.seed + 1000 * upto + rounds).random(s.samples) * (
                hi - lo)
            imp_y, ok_y = self.impl_through(y, upto)
            xs.append(y)
            imps.append(imp_y)
            if hits.sum() < 50:  # too few uniform hits: the box sample estimates the fraction better
                fraction = float(ok_y[-1].mean() * np.prod(hi - lo))
            points = np.concatenate([points, y[ok_y[-1]]])
        if len(points) == 0:  # look near the runs that came closest before declaring the space empty
            best = self._closest_runs(upto, 5)
            if len(best):
                rng = np.random.default_rng(s.seed + upto)
                y = np.clip(np.repeat(best, s.samples // len(best) + 1, axis=0)[: s.samples]
                            + rng.normal(0, 0.05, (s.samples, self.d)), 0, 1)
                imp_y, ok_y = self.impl_through(y, upto)
                xs.append(y)
                imps.append(imp_y)
                points = y[ok_y[-1]]
                if len(points):
                    fraction = min(fraction, 1.0 / s.samples) if fraction == 0 else fraction
        # A few points in many dimensions: a bounding box is mostly empty, so grow the set
        # outward from the points themselves (clouds scaled to their spread), as hmer's
        # importance sampling around known non-implausible points does. The fraction stays
        # the uniform (or box) estimate: these samples are not uniform.
        rng = np.random.default_rng(s.seed + 1000 * upto + 500)
        clouds = 0
        while 0 < len(points) < want and clouds < 6:
            clouds += 1
            spread = points.std(axis=0) if len(points) > 1 else np.zeros(self.d)
            sd = np.maximum(0.5 * spread, 0.02)
            y = np.clip(points[rng.integers(len(points), size=s.samples)]
                        + rng.normal(0.0, 1.0, (s.samples, self.d)) * sd, 0, 1)
            imp_y, ok_y = self.impl_through(y, upto)
            xs.append(y)
            imps.append(imp_y)
            points = np.concatenate([points, y[ok_y[-1]]])
        return points, fraction, np.concatenate(xs), np.concatenate(imps, axis=1)

    def _closest_runs(self, upto: int, k: int) -> np.ndarray:
        if not self.runs:
            return np.empty((0, self.d))
        x = np.array([r.x for r in self.runs])
        m = self._measure(np.nan_to_num(self.impl_through(x, upto)[0][0], nan=0.0))
        return x[np.argsort(m)[:k]]

    # ------------------------------------------------------------------ tensions
    def tensions(self, x: np.ndarray, imp: np.ndarray, n_uniform: int) -> pd.DataFrame:
        """For every pair of targets (and each alone), the fraction of the cube where both are met.

        Each point is judged by every wave whose emulators are valid there. `n_uniform`
        is how many of the first points are a uniform sample of the cube (the rest only
        show existence, not size).
        """
        c = self.settings.cutoff
        per_target = np.where(np.isnan(imp), -np.inf, imp)  # waves not valid at a point do not judge it
        emulated = {self.quantities[q].target for w in self.waves for q in w.emulators}
        judged = [j for j, t in enumerate(self.targets) if t in emulated]
        # simulated runs that met targets with their own noise: evidence beside the emulators
        met = np.array([self.observed_implausibility(r, rescale=False) <= c for r in self.runs]).reshape(
            len(self.runs), len(self.targets))
        rows = []
        for a, b in itertools.combinations_with_replacement(judged, 2):
            joint = np.all(np.maximum(per_target[:, :, a], per_target[:, :, b]) <= c, axis=0)
            rows.append({"a": self.targets[a], "b": self.targets[b],
                         "fraction": float(joint[:n_uniform].mean()), "points": int(joint.sum()),
                         "impossible": not bool(joint.any()), "tried": int(len(joint)),
                         "runs_meeting": int(np.sum(met[:, a] & met[:, b]))})
        return pd.DataFrame(rows, columns=["a", "b", "fraction", "points", "impossible", "tried", "runs_meeting"])

    # ------------------------------------------------------------------ a wave
    def add_runs(self, x: np.ndarray, outputs: Sequence[Mapping[str, tuple[float, float]]], stage: str) -> None:
        for i, (xi, o) in enumerate(zip(x, outputs, strict=True)):
            self.runs.append(Run(np.asarray(xi, dtype=float), dict(o), stage, i))

    def fit_wave(self, number: int) -> Wave:
        """Emulators of wave `number` from the runs inside its region, then the space left."""
        s = self.settings
        x_all = np.array([r.x for r in self.runs])
        if number == 1:
            inside = np.ones(len(self.runs), dtype=bool)
        else:
            inside = self.impl_through(x_all, number - 1)[1][-1] | np.array(
                [r.stage == f"wave {number}" for r in self.runs])
        idx = [i for i in np.flatnonzero(inside) if self.runs[i].stage.startswith("wave")]
        emulators: dict[str, Emulator] = {}
        skipped: dict[str, str] = {}
        for name in self.quantities:
            vals = np.array([self.runs[i].outputs.get(name, (np.nan, np.nan)) for i in idx], dtype=float)
            if vals.size == 0 or np.isfinite(vals[:, 0]).sum() < 4:
                skipped[name] = f"only {int(np.isfinite(vals[:, 0]).sum()) if vals.size else 0} finite runs"
                continue
            key = Emulator.data_key(x_all[idx], vals[:, 0], vals[:, 1], s.seed + number)
            em = Emulator(x_all[idx], vals[:, 0], vals[:, 1], seed=s.seed + number, theta=self.fits.get(key))
            self.reused_fits += not em.refitted
            self.fits[key] = em.theta
            emulators[name] = em
        wave = Wave(number, idx, emulators, skipped=skipped)
        self.waves.append(wave)
        points, fraction, xs, imps = self.explore(number)
        wave.tensions = self.tensions(xs, imps, s.samples)
        while s.set_aside and len(points) == 0:
            chosen = self._targets_to_set_aside(wave.tensions, xs, imps, number)
            if not chosen:
                break
            wave.set_aside.update(chosen)
            self.set_aside.update(chosen)
            points, fraction, xs, imps = self.explore(number)
            wave.tensions = self.tensions(xs, imps, s.samples)
        if len(points):
            # a target set aside by an earlier wave's emulators is matched again when this
            # wave's (trained closer to the targets) find settings that meet it with the rest
            for t in [t for t in reversed(list(self.set_aside)) if t not in wave.set_aside]:
                kept = self.set_aside
                self.set_aside = {k: v for k, v in kept.items() if k != t}
                again = self.explore(number)
                if len(again[0]):
                    wave.restored[t] = kept[t]
                    points, fraction, xs, imps = again
                    wave.tensions = self.tensions(xs, imps, s.samples)
                else:
                    self.set_aside = kept
        wave.points, wave.fraction = points, fraction
        region = np.isfinite(imps[number - 1, : s.samples, 0])  # uniform points inside this wave's region
        if region.any():
            last = imps[number - 1, : s.samples][region]
            emulated = {self.quantities[q].target for q in emulators}
            wave.ruled_out = {t: float(np.mean(last[:, j] > s.cutoff)) for j, t in enumerate(self.targets)
                              if t in emulated}
        if len(points):
            mc = self._mc_var(wave)
            for name, em in emulators.items():
                mean, var = em.predict(points)
                other = mc[name] + self.quantities[name].other_variance(mean, s.discrepancy)
                wave.emulator_ratio[name] = float(np.median(var / np.maximum(other, 1e-300)))
        return wave

    def _targets_to_set_aside(self, tensions: pd.DataFrame | None, x: np.ndarray, imp: np.ndarray,
                              number: int) -> dict[str, str]:
        """The targets to set aside when the space is empty (empty dict: none can be).

        Every target that no point tried meets alone goes at once; otherwise the one target
        whose removal leaves the most points non-implausible (judged as in :meth:`tensions`).
        """
        active = [t for t in self.targets if t not in self.set_aside]
        if len(active) <= 1:
            return {}
        c = self.settings.cutoff
        if tensions is not None and not tensions.empty:
            alone = tensions[(tensions.a == tensions.b) & tensions.impossible]
            out = {t: (f"wave {number}: no knob setting tried is non-implausible for it, even alone")
                   for t in alone.a if t in active}
            if out and len(out) < len(active):
                return out
        per = np.where(np.isnan(imp), -np.inf, imp)  # (waves, n, targets); invalid waves do not judge
        counts = {}
        for t in active:
            aside = [*self.set_aside, t]
            ok = np.ones(per.shape[1], dtype=bool)
            for k in range(per.shape[0]):
                ok &= self._measure(per[k], aside) <= c
            counts[t] = int(ok.sum())
        best = max(active, key=lambda t: (counts[t], -active.index(t)))
        if counts[best] == 0:  # no single target empties it alone: set aside the one ruling out most
            worst = {t: float(np.mean(per[:, :, self.targets.index(t)].max(axis=0) > c)) for t in active}
            best = max(active, key=lambda t: (worst[t], -active.index(t)))
        others = [t for t in active if t != best]
        return {best: f"wave {number}: the space was empty with it; without it {counts[best]} of "
                      f"{per.shape[1]} points tried are non-implausible for the others ({', '.join(others)})"}

    def stop(self) -> str | None:
        """Why to stop after the last wave, or None to go on."""
        s = self.settings
        w = self.waves[-1]
        if w.points is None or len(w.points) == 0:
            what = "all targets" if not self.set_aside else "the targets left"
            return f"empty: no knob setting is non-implausible for {what} together"
        prev = self.waves[-2].fraction if len(self.waves) >= 2 else 0.0
        # a space too small for the uniform sample to see (fraction 0) has not stopped shrinking
        if prev > 0 and not w.set_aside and w.fraction >= s.shrink * prev:
            return (f"converged: the space stopped shrinking ({w.fraction:.3g} of the cube, "
                    f"{w.fraction / prev:.2f} of the previous wave)")
        if w.emulator_ratio and max(w.emulator_ratio.values()) < s.precise:
            return (f"converged: emulator variance below {s.precise:g} of the other variance for every "
                    "quantity")
        if len(self.waves) >= s.max_waves:
            return f"stopped after {s.max_waves} waves (--waves)"
        return None

    def run(self, simulate: Simulator, *, budget: Callable[[int], bool] | None = None,
            on_wave: Callable[[Wave], None] | None = None,
            designs: Mapping[int, np.ndarray] | None = None) -> str:
        """Waves until a stopping rule or the budget.

        Parameters
        ----------
        simulate
            ``simulate(points, stage)`` -> outputs per point (points on the unit cube).
        budget
            ``budget(n)`` says whether `n` more runs still fit.
        on_wave
            Called after each wave.
        designs
            Wave number -> the points that wave already simulated (a resumed calibration):
            those waves keep their runs as simulated, even when the exploration that chose
            them has changed since, so no finished run is thrown away.
        """
        number = len(self.waves) + 1
        while True:
            x = (designs or {}).get(number)
            x = self.design(number) if x is None else np.asarray(x, dtype=float)
            if len(x) == 0:
                self.stop_reason = "empty: no knob setting is non-implausible for all targets together"
                break
            if budget is not None and not budget(len(x)):
                self.stop_reason = f"budget: wave {number} of {len(x)} runs does not fit"
                break
            self.add_runs(x, simulate(x, f"wave {number}"), f"wave {number}")
            wave = self.fit_wave(number)
            if on_wave is not None:
                on_wave(wave)
            reason = self.stop()
            if reason:
                self.stop_reason = reason
                break
            number += 1
        return self.stop_reason or ""

    # ------------------------------------------------------------------ summaries
    def observed_implausibility(self, run: Run, *, rescale: bool = True) -> np.ndarray:
        """Implausibility of a run's own outputs per target (Monte-Carlo variance only).

        With ``rescale`` the run's Monte-Carlo variance is rescaled to the scorecard's
        cohort (``mc_scale``), as for emulated points; without it, the run is judged with
        its own noise (did this run, as simulated, land near the targets?).
        """
        out = np.zeros(len(self.targets))
        for name, q in self.quantities.items():
            value, var = run.outputs.get(name, (np.nan, np.nan))
            if not np.isfinite(value):
                continue
            v = (var * (self._scale(name) if rescale else 1.0)) if np.isfinite(var) else 0.0
            j = self.targets.index(q.target)
            out[j] = max(out[j], float(q.implausibility(np.array([value]), np.array([v]),
                                                        self.settings.discrepancy)[0]))
        return out

    def best_runs(self, k: int = 1) -> list[int]:
        """Indices of the runs whose own outputs are least implausible (max, then sum over targets)."""
        scores = [(float(self._measure(self.observed_implausibility(r)[None, :])[0]),
                   float(np.sum(np.minimum(self.observed_implausibility(r), 50.0))), i)
                  for i, r in enumerate(self.runs)]
        return [i for *_, i in sorted(scores)[:k]]

    def wave_table(self) -> pd.DataFrame:
        """One row per wave: runs, fraction left, the target ruling out most, emulator precision."""
        rows = []
        for w in self.waves:
            worst = max(w.ruled_out, key=w.ruled_out.get) if w.ruled_out else ""
            loo = w.loo()
            rows.append({"wave": w.number, "runs": len(w.runs), "fraction": w.fraction,
                         "points_left": 0 if w.points is None else len(w.points),
                         "rules_out_most": worst, "ruled_out_share": w.ruled_out.get(worst, math.nan),
                         "max_emulator_ratio": max(w.emulator_ratio.values()) if w.emulator_ratio else math.nan,
                         "loo_outside_3": max((d.outside for d in loo.values()), default=math.nan),
                         "set_aside": ", ".join(w.set_aside), "restored": ", ".join(w.restored),
                         **tension_counts(w.tensions)})
        return pd.DataFrame(rows)


def tension_counts(tensions: pd.DataFrame | None) -> dict[str, int]:
    """Targets no setting meets alone, and pairs of targets each met alone but never together."""
    if tensions is None or tensions.empty:
        return {"unreachable": 0, "empty_pairs": 0}
    alone = set(tensions[(tensions.a == tensions.b) & tensions.impossible].a)
    pairs = tensions[(tensions.a != tensions.b) & tensions.impossible & ~tensions.a.isin(alone)
                     & ~tensions.b.isin(alone)]
    return {"unreachable": len(alone), "empty_pairs": len(pairs)}


def maximin(points: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    """A space-filling subset of `points`: greedy farthest-point selection (n rows)."""
    points = np.unique(np.asarray(points, dtype=float), axis=0)
    if len(points) <= n:
        return points
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(points)))]
    dist = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(n - 1):
        j = int(np.argmax(dist))
        chosen.append(j)
        dist = np.minimum(dist, np.linalg.norm(points - points[j], axis=1))
    return points[chosen]
