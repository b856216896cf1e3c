"""Tipping points and hysteresis: pseudo-arclength continuation of steady states.

Steady states of one patient are followed as one quantity λ changes: any row of the
parameter table (derived rows are re-evaluated at every λ, so continuing in
``early_adversity`` moves the baselines that depend on it) or the sustained level of an
input (``psychosocial_stress``). The branch is the curve ``F(x, λ) = 0`` in
``(x, μ)``, with ``μ = (λ - A) / (B - A)`` so that states and the scaled parameter have
comparable sizes; each step is a tangent predictor and a Newton corrector on the
pseudo-arclength condition ``t · (y - y_pred) = 0`` (Keller 1977; Kuznetsov, *Elements of
Applied Bifurcation Theory*, ch. 10), with exact ``F_x`` and ``F_λ`` from
:class:`fitts.analysis.steady.VectorField`.

A fold (saddle-node) lies where the parameter component of the tangent changes sign
(there ``det F_x`` changes sign too); it is located by a root search (Brent) on that
component along the curve between the two points that bracket it. Stability along the
branch comes from the eigenvalues of ``F_x`` at every point. For an input or a
parameter that makes a patient ill, the fold where the healthy attractor ends is the
**onset threshold** and the fold where the ill attractor ends is the **recovery
threshold**; hysteresis is the interval between them.

Why hand-written: no maintained Python continuation library fits. PyDSTool (PyCont) is
unmaintained since 2020 and does not install on current NumPy/SciPy; AUTO-07p and
MatCont are Fortran and MATLAB programs, not Python packages; BifurcationKit is Julia.
The algorithm here is the textbook one, tested against folds known analytically.

Limitations: branches are started from the steady states found at both ends of the range
(:func:`fitts.analysis.steady.find_steady_states`), so a closed branch (isola) that
touches neither end is not found; Hopf points are not located (a change of stability
without a fold is visible in the ``n_unstable`` column).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from fitts.analysis.steady import (
    ILL_NRS_CUTOFF,
    VectorField,
    find_steady_states,
    input_vector,
    kernels,
    label_states,
    n_unstable,
    newton_polish,
)
from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
from fitts.sim.sample import derive, sample_free


class Family:
    """A one-parameter family of vector fields ``λ -> f(.; λ)`` for one patient.

    Parameters
    ----------
    model
        A compiled model.
    name
        An input name (its sustained level is λ, input units) or a parameter row.
    params, inputs
        The patient (other rows at their prior median) and the other input levels.
    """

    def __init__(self, model: CompiledModel, name: str, params: Mapping[str, float] | None = None,
                 inputs: Mapping[str, float] | None = None):
        self.model, self.name = model, name
        params = dict(params or {})
        if name in model.input_index:
            self.kind = "input"
        elif name in model.param_index:
            self.kind = "parameter"
            params.pop(name, None)
        else:
            raise ModelError(f"unknown parameter or input {name!r}."
                             + did_you_mean(name, [*model.inputs, *model.param_index]),
                             hint="continue in an input (" + ", ".join(model.inputs)
                             + ") or a row of the parameter table (`fitts show` lists the model's names)")
        for k in params:
            if k not in model.param_index:
                raise ModelError(f"unknown parameter {k!r}." + did_you_mean(k, model.param_index))
        self.U = input_vector(model, inputs)
        self.P_free = sample_free(model, np.array([0]), seed=0, u=np.full((1, len(model.params)), 0.5))
        self.adjust = {model.param_index[k]: [("set", float(v))] for k, v in params.items()}
        self.k = kernels(model)
        self.field = lru_cache(maxsize=64)(self._field)

    def _P(self, lam: float) -> np.ndarray:
        adjust = dict(self.adjust)
        if self.kind == "parameter":
            adjust[self.model.param_index[self.name]] = [("set", lam)]
        return derive(self.model, self.P_free.copy(), None, adjust)[:, 0].copy()

    def _field(self, lam: float) -> VectorField:
        """The vector field at λ (input units or the parameter's units)."""
        if self.kind == "input":
            U = self.U.copy()
            U[self.model.input_index[self.name]] = lam
            return VectorField(self.model, self._P(lam), U, self.k)
        return VectorField(self.model, self._P(lam), self.U, self.k)

    def dfdlam(self, x: np.ndarray, lam: float) -> np.ndarray:
        """``d f / d λ`` at (x, λ), shape (n,): exact for inputs; for parameters exact in
        ``f`` and central differences through the derived rows (exact for affine ones)."""
        f = self.field(lam)
        if self.kind == "input":
            return f.dfdu(x)[:, self.model.input_index[self.name]]
        h = 1e-6 * max(1.0, abs(lam))
        dP = (self._P(lam + h) - self._P(lam - h)) / (2 * h)
        return f.dfdp(x) @ dP


@dataclass(frozen=True)
class Fold:
    """A fold (saddle-node) point of a branch.

    Attributes
    ----------
    value
        λ at the fold (input or parameter units).
    x
        States at the fold, shape (n,).
    branch
        Index of the branch it lies on.
    lost_when
        ``"increasing"`` when the branches meeting here exist for λ below the fold (they
        vanish as λ increases past it), else ``"decreasing"``.
    lost
        Label of the attractor that vanishes here (``healthy``/``ill``, "" when neither
        side is stable or the model has no pain state).
    """

    value: float
    x: np.ndarray
    branch: int
    lost_when: str
    lost: str


@dataclass(frozen=True)
class Branch:
    """One continued branch: λ values (shape (k,)), states (k, n), unstable dimension (k,)."""

    values: np.ndarray
    states: np.ndarray
    n_unstable: np.ndarray
    status: str

    @property
    def stable(self) -> np.ndarray:
        return self.n_unstable == 0


@dataclass(frozen=True)
class FoldThresholds:
    """Onset and recovery thresholds of a patient read from the folds.

    `onset` is the λ at which the healthy attractor vanishes as λ rises (None when it
    survives the whole range); `recovery` the λ at which the ill attractor vanishes as λ
    falls (None when it survives the whole range).
    """

    onset: float | None
    recovery: float | None

    @property
    def ratio(self) -> float:
        """onset / recovery; NaN unless both exist and are > 0 (a recovery threshold <= 0
        means the ill state persists without any stress)."""
        if self.onset is None or self.recovery is None or self.recovery <= 0 or self.onset <= 0:
            return float("nan")
        return self.onset / self.recovery

    @property
    def width(self) -> float:
        """Hysteresis width onset - recovery (λ units); NaN unless both exist."""
        if self.onset is None or self.recovery is None:
            return float("nan")
        return self.onset - self.recovery


@dataclass(frozen=True)
class Continuation:
    """Branches of steady states of one patient against λ, and their folds."""

    model: CompiledModel
    name: str
    kind: str
    span: tuple[float, float]
    branches: list[Branch]
    folds: list[Fold]
    cutoff: float = ILL_NRS_CUTOFF
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Long table: ``branch``, ``point``, ``value`` (λ), ``stable``, ``n_unstable``,
        ``pain_nrs`` and one column per state (activation)."""
        frames = []
        for b, br in enumerate(self.branches):
            nrs, _ = label_states(self.model, br.states, self.cutoff)
            df = pd.DataFrame(br.states, columns=list(self.model.states))
            df.insert(0, "pain_nrs", nrs)
            df.insert(0, "n_unstable", br.n_unstable)
            df.insert(0, "stable", br.stable)
            df.insert(0, "value", br.values)
            df.insert(0, "point", np.arange(len(br.values)))
            df.insert(0, "branch", b)
            frames.append(df)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        out.attrs.update(model_name=self.model.spec.name, model_hash=self.model.model_hash,
                         continued=self.name, kind=self.kind)
        return out

    def fold_table(self) -> pd.DataFrame:
        """One row per fold: ``branch``, ``value``, ``lost_when``, ``lost`` and the states."""
        rows = [{"branch": f.branch, "value": f.value, "lost_when": f.lost_when, "lost": f.lost,
                 **dict(zip(self.model.states, f.x.tolist(), strict=True))} for f in self.folds]
        return pd.DataFrame(rows, columns=["branch", "value", "lost_when", "lost", *self.model.states])

    def thresholds(self) -> FoldThresholds:
        """Onset (lowest fold where the healthy attractor ends going up) and recovery
        (highest fold where the ill attractor ends going down)."""
        on = [f.value for f in self.folds if f.lost == "healthy" and f.lost_when == "increasing"]
        rec = [f.value for f in self.folds if f.lost == "ill" and f.lost_when == "decreasing"]
        return FoldThresholds(min(on) if on else None, max(rec) if rec else None)


class _Tracer:
    """Predictor-corrector on y = (x, μ), μ = (λ - A) / (B - A)."""

    def __init__(self, fam: Family, span: tuple[float, float], tol: float = 1e-10):
        self.fam, self.A, self.L, self.tol = fam, float(span[0]), float(span[1] - span[0]), tol

    def lam(self, mu: float) -> float:
        return self.A + self.L * float(mu)

    def G(self, y: np.ndarray) -> np.ndarray:
        return self.fam.field(self.lam(y[-1]))(y[:-1])

    def DG(self, y: np.ndarray) -> np.ndarray:
        lam = self.lam(y[-1])
        Fx = self.fam.field(lam).jacobian(y[:-1])
        return np.hstack([Fx, self.L * self.fam.dfdlam(y[:-1], lam)[:, None]])

    def tangent(self, y: np.ndarray, t_prev: np.ndarray) -> np.ndarray:
        M = np.vstack([self.DG(y), t_prev])
        rhs = np.zeros(len(y))
        rhs[-1] = 1.0
        t = np.linalg.solve(M, rhs)
        return t / np.linalg.norm(t)

    def correct(self, y_pred: np.ndarray, t: np.ndarray, max_iter: int = 12) -> np.ndarray | None:
        y = y_pred.copy()
        for _ in range(max_iter):
            try:
                r = np.append(self.G(y), t @ (y - y_pred))
                dy = np.linalg.solve(np.vstack([self.DG(y), t]), -r)
            except (np.linalg.LinAlgError, ModelError):
                return None
            y = y + dy
            if not np.all(np.isfinite(y)):
                return None
            if np.max(np.abs(dy)) < self.tol:
                return y
        return None

    def on_curve(self, y0: np.ndarray, t0: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray] | None:
        y = self.correct(y0 + s * t0, t0)
        if y is None:
            return None
        return y, self.tangent(y, t0)

    def boundary(self, y: np.ndarray, y_new: np.ndarray, mu_b: float) -> np.ndarray | None:
        frac = (mu_b - y[-1]) / (y_new[-1] - y[-1])
        x0 = y[:-1] + frac * (y_new[:-1] - y[:-1])
        x, step = newton_polish(self.fam.field(self.lam(mu_b)), x0, steps=20)
        return np.append(x, mu_b) if step < 1e-9 else None

    def trace(self, x0: np.ndarray, mu0: float, direction: int, *, ds: float, ds_min: float, ds_max: float,
              max_points: int) -> tuple[list[np.ndarray], list[np.ndarray], list[float], str]:
        y = np.append(x0, mu0)
        e = np.zeros(len(y))
        e[-1] = float(direction)
        t = self.tangent(y, e)
        ys, ts, steps = [y], [t], []
        status = "reached the maximum number of points"
        while len(ys) < max_points:
            res = self.on_curve(y, t, ds)
            if res is not None and res[1] @ t < 0.97:  # turned too sharply: refine
                res = None
            if res is None:
                ds /= 2
                if ds < ds_min:
                    status = "step size fell below the minimum (singular point?)"
                    break
                continue
            y_new, t_new = res
            mu = y_new[-1]
            if mu < 0.0 or mu > 1.0:
                yb = self.boundary(y, y_new, 0.0 if mu < 0.0 else 1.0)
                if yb is not None:
                    ys.append(yb)
                    ts.append(self.tangent(yb, t))
                    steps.append(float(np.linalg.norm(yb - y)))
                status = "left the range"
                break
            ys.append(y_new)
            ts.append(t_new)
            steps.append(ds)
            if len(ys) > 10 and np.max(np.abs(y_new - ys[0])) < 0.5 * ds:
                status = "closed loop"
                break
            y, t = y_new, t_new
            ds = min(ds * 1.3, ds_max)
        return ys, ts, steps, status

    def refine_fold(self, y0: np.ndarray, t0: np.ndarray, s1: float) -> np.ndarray:
        """The point between y0 and the next point (arclength s1 along t0) where t_μ = 0."""
        from scipy.optimize import brentq

        def phi(s: float) -> float:
            res = self.on_curve(y0, t0, s)
            if res is None:
                raise ArithmeticError
            return float(res[1][-1])

        try:
            a, b = phi(0.0), phi(s1)
            if a * b > 0:
                raise ArithmeticError
            s = brentq(phi, 0.0, s1, xtol=1e-12 * max(s1, 1e-12))
            res = self.on_curve(y0, t0, s)
            if res is None:
                raise ArithmeticError
            return res[0]
        except (ArithmeticError, ValueError):
            return y0


def _covered(branches: list[Branch], x: np.ndarray, lam: float, tol: float = 1e-6) -> bool:
    for br in branches:
        near = np.abs(br.values - lam) < tol
        if near.any() and np.min(np.max(np.abs(br.states[near] - x), axis=1)) < tol * 10:
            return True
    return False


def continuation(model: CompiledModel, name: str, span: tuple[float, float], *,
                 params: Mapping[str, float] | None = None, inputs: Mapping[str, float] | None = None,
                 ds: float = 0.01, ds_min: float = 1e-7, ds_max: float = 0.05, max_points: int = 4000,
                 starts: int = 64, seed: int = 0, cutoff: float = ILL_NRS_CUTOFF) -> Continuation:
    """Continue every steady state of one patient across a range of λ and locate the folds.

    Parameters
    ----------
    model
        A compiled model.
    name
        What λ is: an input (its sustained level, input units) or a row of the parameter
        table (its units).
    span
        The range (A, B) of λ, A < B.
    params, inputs
        The patient (other rows at their prior median) and the other inputs' levels.
    ds, ds_min, ds_max
        Initial, minimal and maximal step, in arclength of (states, (λ - A) / (B - A)).
    max_points
        Points per branch at most.
    starts, seed
        Multi-start settings for the steady states at both ends of the range.
    cutoff
        Pain NRS at or above which an attractor is "ill".

    Returns
    -------
    Continuation
        Branches (λ, states, unstable dimension), folds, and :meth:`Continuation.thresholds`.
    """
    model.require_smooth("continuation")
    A, B = float(span[0]), float(span[1])
    if not B > A:
        raise ModelError(f"range must be A < B, got {A:g} {B:g}", hint="e.g. --range -1 4")
    fam = Family(model, name, params, inputs)
    tracer = _Tracer(fam, (A, B))
    branches: list[Branch] = []
    folds: list[Fold] = []
    notes: list[str] = []
    for mu0, direction in ((0.0, 1), (1.0, -1)):
        lam0 = tracer.lam(mu0)
        for x0 in find_steady_states(fam.field(lam0), starts=starts, seed=seed):
            if _covered(branches, x0, lam0):
                continue
            ys, ts, steps, status = tracer.trace(x0, mu0, direction, ds=ds, ds_min=ds_min, ds_max=ds_max,
                                                 max_points=max_points)
            Y = np.array(ys)
            nu = np.array([n_unstable(np.linalg.eigvals(fam.field(tracer.lam(y[-1])).jacobian(y[:-1])))
                           for y in Y])
            bi = len(branches)
            branches.append(Branch(values=A + (B - A) * Y[:, -1], states=Y[:, :-1], n_unstable=nu, status=status))
            if status not in ("left the range", "closed loop"):
                notes.append(f"branch {bi} from {name}={lam0:g} stopped: {status}")
            tm = np.array([t[-1] for t in ts])
            for i in np.flatnonzero(tm[:-1] * tm[1:] < 0):
                yf = tracer.refine_fold(Y[i], ts[i], steps[i])
                lam_f = tracer.lam(yf[-1])
                side = "increasing" if Y[i][-1] < yf[-1] else "decreasing"
                stable_side = [Y[j, :-1] for j in (i, i + 1) if nu[j] == 0]
                lost = label_states(model, stable_side[0][None, :], cutoff)[1][0] if stable_side else ""
                folds.append(Fold(value=lam_f, x=yf[:-1], branch=bi, lost_when=side, lost=str(lost)))
    folds.sort(key=lambda f: f.value)
    return Continuation(model=model, name=name, kind=fam.kind, span=(A, B), branches=branches, folds=folds,
                        cutoff=cutoff, notes=notes)


def fold_thresholds(model: CompiledModel, params: Mapping[str, float] | None = None, *,
                    input_name: str = "psychosocial_stress", span: tuple[float, float] = (-3.0, 5.0),
                    **kwargs: object) -> FoldThresholds:
    """Onset and recovery thresholds of a patient from the folds of its steady states.

    The continuation counterpart of :func:`fitts.analysis.thresholds.stress_thresholds`
    (same defaults): λ is the sustained level of `input_name` over `span`.
    """
    return continuation(model, input_name, span, params=params, **kwargs).thresholds()  # type: ignore[arg-type]
