"""Steady states of one patient under constant inputs: where, how stable, healthy or ill.

A patient is one full parameter vector (every row of the parameter table) and a constant
level of every input. The right-hand side ``f(x) = dx/dt`` (activation per day) is the
simulator's own: the NumPy source rendered from the compiled, checked rate trees. The
Jacobian ``df/dx`` (per day) is exact: the same trees are rendered to sympy objects by
:class:`fitts.spec.expr.SympyRenderer` (never from text), differentiated symbolically and
turned into NumPy functions with ``sympy.lambdify``. Nothing from a model file is passed
to ``eval``.

Steady states are found by multi-start root finding (``scipy.optimize.root``, MINPACK
``hybr`` with the exact Jacobian) from

- a scrambled Sobol set of starts inside the state bounds (``[0, 1]`` for the default
  dynamics),
- the ends of deterministic simulations (LSODA with the exact Jacobian) from the
  patient's initial state and from some of the Sobol starts, which land in attractors,
- points on the segments between the attractors found, where saddles sit,

then polished by Newton steps and deduplicated. Each is classified by the eigenvalues of
its Jacobian, and each attractor is labelled *healthy* or *ill* by the observation model:
the noise-free pain NRS (instrument ``pain_nrs`` of :mod:`fitts.observe.instruments`) at
or above :data:`ILL_NRS_CUTOFF`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fitts.analysis.keyed_cache import KeyedCache
from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
from fitts.observe.instruments import expressible, measure
from fitts.sim.backends.codegen import build, numpy_rhs_source
from fitts.sim.sample import derive, sample_free
from fitts.spec.expr import SympyRenderer, parse_expr

#: pain NRS (0-10, noise-free, integer like the scale) at or above which an attractor is
#: "ill": moderate pain or worse (Boonstra AM et al. Pain 2014;155:2545-50, NRS cut-offs
#: mild <= 3, moderate 4-6, severe >= 7; 4/10 is also the usual entry criterion of
#: fibromyalgia drug trials).
ILL_NRS_CUTOFF = 4.0
#: instrument used to label attractors
LABEL_INSTRUMENT = "pain_nrs"

class _Kernels:
    """Per-model NumPy functions: rhs (generated source) and exact derivatives (sympy)."""

    def __init__(self, model: CompiledModel):
        import sympy as sp

        for name, rate in zip(model.states, model.rates, strict=True):
            if "t" in rate.names:
                raise ModelError(f"the rate of node {name!r} depends on time t; steady states need "
                                 "an autonomous model", hint="express time courses as inputs")
        self.rhs = build(numpy_rhs_source(model))
        xs = sp.symbols(f"x0:{model.n_states}")
        ps = sp.symbols(f"p0:{len(model.params)}")
        us = sp.symbols(f"u0:{len(model.inputs)}") if model.inputs else ()
        sym: dict[str, Any] = {s: xs[i] for i, s in enumerate(model.states)}
        sym.update({p.name: ps[k] for k, p in enumerate(model.params)})
        sym.update({u: us[j] for j, u in enumerate(model.inputs)})
        r = SympyRenderer(sym)
        F = sp.Matrix([r.render(e) for e in model.rates])
        used = sorted({model.param_index[n] for e in model.rates for n in e.names
                       if n in model.param_index})
        self.used_params = np.array(used, dtype=np.int64)
        args = [list(xs), list(ps), list(us)]
        self.jac = sp.lambdify(args, F.jacobian(xs), modules="numpy", cse=True)
        self.dfdp = sp.lambdify(args, F.jacobian([ps[k] for k in used]), modules="numpy", cse=True)
        self.dfdu = sp.lambdify(args, F.jacobian(us), modules="numpy", cse=True) if us else None
        # gain g_i = d f_i / d drive_i: rate as a function of its own drive symbol d
        gains = []
        d = sp.Symbol("d")
        for i, name in enumerate(model.states):
            node = model.spec.nodes[name]
            drive = model.drives[i]
            if node.rate is None:
                # per day: a model in hours or minutes has its rates times its unit per day
                rate_d = model.time_factor * (1 / (1 + sp.exp(-d)) - xs[i]) / sym[f"tau.{name}"]
            else:
                rate_d = SympyRenderer({**sym, "drive": d}).render(
                    model.rate_in_days(model.inline(parse_expr(node.rate))))
            g = sp.diff(rate_d, d)
            gains.append(g.subs(d, r.render(drive)) if drive is not None else sp.Integer(0) * g)
        self.gain = sp.lambdify(args, sp.Matrix(gains), modules="numpy", cse=True)


def kernels(model: CompiledModel) -> _Kernels:
    """The model's NumPy right-hand side and exact derivative functions (cached by model hash)."""
    model.require_smooth("the steady-state analysis")
    return _kernels_by_hash(model)


#: the kernels of the models used last (sympy derivation takes seconds per model)
_kernels_by_hash: KeyedCache[CompiledModel, _Kernels] = KeyedCache(_Kernels, key=lambda m: m.model_hash, maxsize=16)


def _check_names(names: Mapping[str, Any], known: Mapping[str, int], what: str) -> None:
    for name in names:
        if name not in known:
            raise ModelError(f"unknown {what} {name!r}." + did_you_mean(name, known),
                             hint=f"{what}s: " + (", ".join(list(known)[:30]) or "(none)")
                             + (" ..." if len(known) > 30 else ""))


def parameter_vector(model: CompiledModel, params: Mapping[str, float] | None = None) -> np.ndarray:
    """Every row of the parameter table for one patient, shape (n_params,).

    Rows not in `params` take the typical value (prior median, as
    :func:`fitts.sim.sample.typical_parameters`); derived rows are evaluated after the
    overrides, so ``{"early_adversity": 1}`` moves every baseline that depends on it.

    Raises
    ------
    ModelError
        Unknown names (with a did-you-mean) or values outside a row's domain.
    """
    params = dict(params or {})
    _check_names(params, model.param_index, "parameter")
    P = sample_free(model, np.array([0]), seed=0, u=np.full((1, len(model.params)), 0.5))
    adjust = {model.param_index[k]: [("set", float(v))] for k, v in params.items()}
    return derive(model, P, None, adjust)[:, 0].copy()


def input_vector(model: CompiledModel, inputs: Mapping[str, float] | None = None) -> np.ndarray:
    """Constant input levels, shape (n_inputs,): the inputs' defaults, overridden by `inputs`."""
    inputs = dict(inputs or {})
    _check_names(inputs, model.input_index, "input")
    U = np.array(model.input_defaults, dtype=float)
    for k, v in inputs.items():
        U[model.input_index[k]] = float(v)
    return U


@dataclass(frozen=True)
class VectorField:
    """``dx/dt = f(x)`` of one patient under constant inputs, with exact derivatives.

    Attributes
    ----------
    model
        The compiled model.
    P
        Full parameter vector, shape (n_params,).
    U
        Input levels, shape (n_inputs,).
    """

    model: CompiledModel
    P: np.ndarray
    U: np.ndarray
    k: _Kernels = dataclasses.field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.k is None:
            object.__setattr__(self, "k", kernels(self.model))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Rates (activation per day): x of shape (n,) gives (n,); (n, m) gives (n, m)."""
        X = np.asarray(x, dtype=float)
        X2 = X[:, None] if X.ndim == 1 else X
        out = np.empty_like(X2)
        with np.errstate(all="ignore"):
            self.k.rhs(X2, self.P[:, None], self.U[:, None], 0.0, out)
        return out[:, 0] if X.ndim == 1 else out

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Exact ``J[i, j] = d f_i / d x_j`` (per day), shape (n, n)."""
        with np.errstate(all="ignore"):
            return np.asarray(self.k.jac(np.asarray(x, float), self.P, self.U), dtype=float)

    def dfdp(self, x: np.ndarray) -> np.ndarray:
        """Exact ``d f_i / d P_k`` for every row k of the parameter table, shape (n, n_params).

        Derived rows are treated as independent here (chain through them with the
        derivative of the derived values, as :mod:`fitts.analysis.continuation` does).
        """
        out = np.zeros((self.model.n_states, len(self.P)))
        with np.errstate(all="ignore"):
            out[:, self.k.used_params] = np.asarray(self.k.dfdp(np.asarray(x, float), self.P, self.U),
                                                    dtype=float)
        return out

    def dfdu(self, x: np.ndarray) -> np.ndarray:
        """Exact ``d f_i / d u_j`` for every input, shape (n, n_inputs)."""
        if self.k.dfdu is None:
            return np.zeros((self.model.n_states, 0))
        with np.errstate(all="ignore"):
            return np.asarray(self.k.dfdu(np.asarray(x, float), self.P, self.U), dtype=float)

    def gain(self, x: np.ndarray) -> np.ndarray:
        """``d f_i / d drive_i``: effect of an additive push on node i's drive, shape (n,).

        For the default dynamics this is ``sigmoid'(drive_i) / tau_i`` (per day); zero for
        a custom rate that does not use ``drive``.
        """
        with np.errstate(all="ignore"):
            return np.asarray(self.k.gain(np.asarray(x, float), self.P, self.U), dtype=float).reshape(-1)

    def initial_state(self) -> np.ndarray:
        """The patient's initial state (rows ``initial.NODE``), shape (n,)."""
        return np.array([self.P[self.model.param_index[f"initial.{s}"]] for s in self.model.states])


def vector_field(model: CompiledModel, params: Mapping[str, float] | None = None,
                 inputs: Mapping[str, float] | None = None) -> VectorField:
    """The right-hand side of one patient under constant inputs.

    Parameters
    ----------
    model
        A compiled model.
    params
        Parameter rows by name (others at their prior median; see :func:`parameter_vector`).
    inputs
        Constant input levels by name (input units; others at their default).
    """
    return VectorField(model, parameter_vector(model, params), input_vector(model, inputs))


def classify(eigenvalues: np.ndarray, rtol: float = 1e-8) -> str:
    """Name a steady state by the eigenvalues of its Jacobian.

    ``stable node`` / ``stable focus`` (all real parts < 0; focus when the slowest mode is
    oscillatory), ``saddle`` (real parts of both signs), ``unstable node`` / ``unstable
    focus`` (all > 0), or ``non-hyperbolic`` (a real part within ``rtol * max|eig|`` of 0).
    """
    ev = np.asarray(eigenvalues)
    tol = rtol * max(float(np.max(np.abs(ev))), 1e-300)
    re = ev.real
    n_pos, n_neg = int(np.sum(re > tol)), int(np.sum(re < -tol))
    if n_pos + n_neg < len(ev):
        return "non-hyperbolic"
    if n_pos and n_neg:
        return "saddle"
    lead = ev[np.argmax(re)] if n_pos == 0 else ev[np.argmin(re)]
    kind = "focus" if abs(lead.imag) > tol else "node"
    return f"{'stable' if n_pos == 0 else 'unstable'} {kind}"


def n_unstable(eigenvalues: np.ndarray, rtol: float = 1e-8) -> int:
    """Number of eigenvalues with positive real part (the unstable dimension)."""
    ev = np.asarray(eigenvalues)
    tol = rtol * max(float(np.max(np.abs(ev))), 1e-300)
    return int(np.sum(ev.real > tol))


def newton_polish(field: VectorField, x: np.ndarray, *, steps: int = 8, xtol: float = 1e-12
                  ) -> tuple[np.ndarray, float]:
    """Newton iterations on ``f(x) = 0``; returns the point and the last step's max norm."""
    x = np.array(x, dtype=float)
    step = np.inf
    for _ in range(steps):
        try:
            dx = np.linalg.solve(field.jacobian(x), -field(x))
        except np.linalg.LinAlgError:
            return x, np.inf
        x = x + dx
        step = float(np.max(np.abs(dx)))
        if not np.isfinite(step) or step < xtol:
            break
    return x, step


def _box(model: CompiledModel, extra: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = model.lower.copy(), model.upper.copy()
    for i in range(model.n_states):
        if not np.isfinite(lo[i]):
            lo[i] = (hi[i] - 2.0) if np.isfinite(hi[i]) else -1.0
        if not np.isfinite(hi[i]):
            hi[i] = lo[i] + 3.0
        if extra is not None and len(extra):
            lo[i] = min(lo[i], float(np.min(extra[:, i])))
            hi[i] = max(hi[i], float(np.max(extra[:, i])))
    return lo, hi


def settle(field: VectorField, x0: np.ndarray, days: float | None = None) -> np.ndarray:
    """End of a deterministic simulation from each start (LSODA, exact Jacobian).

    Parameters
    ----------
    x0
        Starts, shape (m, n).
    days
        Simulated time; default 20 times the slowest time constant (``tau.*`` rows).

    Returns
    -------
    numpy.ndarray
        End states, shape (m, n); NaN rows where the integration failed.
    """
    from scipy.integrate import solve_ivp

    m = field.model
    if days is None:
        taus = [field.P[m.param_index[f"tau.{s}"]] for s in m.states]
        days = 20.0 * float(max(taus))
    ends = np.full_like(np.asarray(x0, float), np.nan)
    for r, x in enumerate(np.asarray(x0, float)):
        sol = solve_ivp(lambda t, y: field(y), (0.0, days), x, method="LSODA",
                        jac=lambda t, y: field.jacobian(y), rtol=1e-8, atol=1e-10)
        if sol.success and np.all(np.isfinite(sol.y[:, -1])):
            ends[r] = sol.y[:, -1]
    return ends


def _solve(field: VectorField, starts: np.ndarray, lo: np.ndarray, hi: np.ndarray,
           xtol: float) -> list[np.ndarray]:
    from scipy.optimize import root

    found = []
    for x0 in starts:
        if not np.all(np.isfinite(x0)):
            continue
        with np.errstate(all="ignore"):
            sol = root(field, x0, jac=field.jacobian, method="hybr", options={"xtol": 1e-10})
        x, step = newton_polish(field, sol.x)
        if not (np.all(np.isfinite(x)) and step < xtol):
            continue
        if np.any(x < field.model.lower - 1e-9) or np.any(x > field.model.upper + 1e-9):
            continue  # outside the state bounds: the simulator would clamp it away
        found.append(x)
    return found


def _dedup(points: list[np.ndarray], tol: float) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for x in points:
        if not any(np.max(np.abs(x - y)) < tol for y in out):
            out.append(x)
    return out


def find_steady_states(field: VectorField, *, starts: int = 128, simulations: int = 4, seed: int = 0,
                       xtol: float = 1e-9, dedup_tol: float = 1e-6) -> list[np.ndarray]:
    """All steady states found by multi-start root finding, each of shape (n,).

    Parameters
    ----------
    field
        The patient's vector field.
    starts
        Number of Sobol starts inside the state bounds (rounded up to a power of 2).
    simulations
        Deterministic simulations run to their end, from the initial state and from the
        first ``simulations - 1`` Sobol starts; their ends are starts too.
    seed
        Seed of the Sobol scrambling.
    xtol
        A root is accepted when the last Newton step is below this (activation).
    dedup_tol
        Roots closer than this (max norm) are one steady state.
    """
    from scipy.stats import qmc

    m = field.model
    n = m.n_states
    sobol = qmc.Sobol(d=n, scramble=True, seed=seed).random(int(2 ** np.ceil(np.log2(max(starts, 2)))))
    x_init = field.initial_state()
    sims = settle(field, np.vstack([x_init[None, :], *([] if simulations <= 1 else [sobol[:simulations - 1]])])
                  if simulations > 0 else x_init[None, :])
    finite_sims = sims[np.all(np.isfinite(sims), axis=1)] if simulations > 0 else np.empty((0, n))
    lo, hi = _box(m, finite_sims)
    cand = np.vstack([finite_sims, x_init[None, :], lo + sobol * (hi - lo)])
    found = _dedup(_solve(field, cand, lo, hi, xtol), dedup_tol)
    # saddles sit between attractors: try points on the segments joining them
    stable = [x for x in found if n_unstable(np.linalg.eigvals(field.jacobian(x))) == 0]
    seg = [a + f * (b - a) for i, a in enumerate(stable) for b in stable[i + 1:]
           for f in np.linspace(0.05, 0.95, 19)]
    if seg:
        found = _dedup(found + _solve(field, np.array(seg), lo, hi, xtol), dedup_tol)
    return found


def label_states(model: CompiledModel, points: np.ndarray, cutoff: float = ILL_NRS_CUTOFF
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free pain NRS of each point and its label ("healthy" / "ill").

    Parameters
    ----------
    points
        States, shape (k, n).
    cutoff
        Pain NRS (0-10) at or above which a point is "ill".

    Returns
    -------
    nrs, labels
        Shapes (k,): NRS (NaN and label "" when the model has no state the instrument
        needs, e.g. no ``pain``).
    """
    points = np.asarray(points, float).reshape(-1, model.n_states)
    k = len(points)
    ok, _ = expressible(model.states, LABEL_INSTRUMENT)
    if not ok or k == 0:
        return np.full(k, np.nan), np.array([""] * k, dtype=object)
    ds = xr.Dataset({"trajectory": (("patient", "time", "state"), points[:, None, :])},
                    coords={"patient": np.arange(k), "time": [0.0], "state": list(model.states)})
    nrs = measure(ds, LABEL_INSTRUMENT, noise=False, time=0.0).values.astype(float)
    labels = np.where(nrs >= cutoff, "ill", "healthy").astype(object)
    return nrs, labels


def steady_states(model: CompiledModel, params: Mapping[str, float] | None = None,
                  inputs: Mapping[str, float] | None = None, *, starts: int = 128, simulations: int = 4,
                  seed: int = 0, cutoff: float = ILL_NRS_CUTOFF) -> pd.DataFrame:
    """All steady states of one patient under constant inputs, classified and labelled.

    Parameters
    ----------
    model
        A compiled model.
    params
        Parameter rows by name (others at their prior median), e.g.
        ``typical_parameters(model, {"early_adversity": 1.0})``.
    inputs
        Constant input levels by name (input units; others at their default, usually 0).
    starts, simulations, seed
        Multi-start settings, see :func:`find_steady_states`.
    cutoff
        Pain NRS at or above which an attractor is "ill" (:data:`ILL_NRS_CUTOFF`).

    Returns
    -------
    pandas.DataFrame
        One row per steady state, attractors first (by pain), then the unstable ones.
        Columns: ``steady`` (0..k-1), ``label`` ("healthy"/"ill" for attractors, "" for
        unstable states and models without pain), ``stability`` (see :func:`classify`),
        ``stable`` (bool), ``n_unstable`` (unstable dimension), ``leading_re`` and
        ``leading_im`` (eigenvalue with the largest real part, per day), ``pain_nrs``
        (0-10, noise-free) and one column per state (activation). ``attrs`` hold the model
        name and hash, the inputs and the cut-off.
    """
    field = vector_field(model, params, inputs)
    return steady_table(field, find_steady_states(field, starts=starts, simulations=simulations, seed=seed),
                        cutoff=cutoff)


def steady_table(field: VectorField, points: list[np.ndarray], cutoff: float = ILL_NRS_CUTOFF) -> pd.DataFrame:
    """Classify and label given steady states (shape (n,) each) as in :func:`steady_states`."""
    m = field.model
    X = np.array(points, dtype=float).reshape(-1, m.n_states)
    nrs, labels = label_states(m, X, cutoff)
    rows = []
    for x, v, lab in zip(X, nrs, labels, strict=True):
        ev = np.linalg.eigvals(field.jacobian(x))
        lead = ev[np.argmax(ev.real)]
        nu = n_unstable(ev)
        rows.append({"label": lab if nu == 0 else "", "stability": classify(ev), "stable": nu == 0,
                     "n_unstable": nu, "leading_re": float(lead.real), "leading_im": float(abs(lead.imag)),
                     "pain_nrs": float(v), **{s: float(x[i]) for i, s in enumerate(m.states)}})
    df = pd.DataFrame(rows, columns=["label", "stability", "stable", "n_unstable", "leading_re", "leading_im",
                                     "pain_nrs", *m.states])
    if len(df):
        order = np.lexsort((df[list(m.states)].sum(axis=1).to_numpy(), np.nan_to_num(df["pain_nrs"].to_numpy()),
                            df["n_unstable"].to_numpy()))
        df = df.iloc[order].reset_index(drop=True)
    df.insert(0, "steady", np.arange(len(df)))
    df.attrs.update(model_name=m.spec.name, model_hash=m.model_hash,
                    inputs={u: float(field.U[j]) for j, u in enumerate(m.inputs)},
                    cutoff_pain_nrs=float(cutoff), label_instrument=LABEL_INSTRUMENT)
    return df


def state_columns(df: pd.DataFrame, model: CompiledModel) -> np.ndarray:
    """The states of a steady-state table as an array, shape (k, n)."""
    return df[list(model.states)].to_numpy(dtype=float)


__all__ = ["ILL_NRS_CUTOFF", "VectorField", "classify", "find_steady_states", "label_states", "n_unstable",
           "newton_polish", "parameter_vector", "settle", "steady_states", "steady_table", "vector_field"]
