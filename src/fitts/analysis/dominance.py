"""Loop dominance along a trajectory: loop eigenvalue elasticity analysis (LEEA).

Method
------
Loop eigenvalue elasticity analysis (Kampmann 2012, "Feedback loop gains and system
behavior", System Dynamics Review 28(4):370-395; Kampmann & Oliva 2006, "Loop eigenvalue
elasticity analysis: three case studies", System Dynamics Review 22(2):141-162; Kampmann &
Oliva 2008, "Structural dominance analysis and theory building in system dynamics",
Systems Research and Behavioral Science 25(4):505-519).

At each time point the model is linearised around the current state. The *link gain* of
an edge ``s -> t`` is its share of ``∂f_t/∂x_s`` (1/day), where ``f_t`` is the rate of
``t`` (computed symbolically from the compiled expression trees, see :func:`_link_gains`).
Besides the model's edges every state has a *decay link* ``t -> t``: the part of
``∂f_t/∂x_t`` that is not an edge (the leak ``-1/tau`` of the default dynamics). The
*gain of a loop* is the product of its link gains; loops are the model's elementary loops
(:func:`fitts.analysis.graph.elementary_loops`) plus one first-order *decay loop* per state.

The characteristic polynomial of the Jacobian ``J`` is a polynomial in the loop gains
(the permutation expansion of ``det(λI - J)``: every permutation is a set of disjoint
loops). Taking the loop gains as its variables gives, for an eigenvalue ``λ`` of
multiplicity one and a loop ``L`` with gain ``g_L``,

    ∂λ/∂g_L = det(λI - J[V∖L]) / p'(λ),      p'(λ) = Π_{μ ≠ λ} (λ - μ),

where ``J[V∖L]`` is the principal submatrix on the states *not* on ``L`` (determinant 1
when ``L`` covers every state). The *loop eigenvalue elasticity* is
``ε_L = (g_L / λ) ∂λ/∂g_L``. This is the elasticity with respect to the full set of
elementary loops (no independent loop set has to be chosen); it is consistent with the
link elasticities (the elasticity of a link is the sum of the elasticities of the loops
through it) and obeys ``Σ_L length(L)·ε_L = 1`` (Euler's theorem: λ is homogeneous of
degree one in J).

Dominance is read off the *dominant eigenvalue*, the one with the largest real part: it
governs growth away from (positive) or slowest return to (negative) the current state. The
*dominance* of a loop is its share ``|ε_L| / Σ_K |ε_K|``; the dominant loop has the largest
share. A reinforcing loop dominating a positive eigenvalue drives a transition (onset); a
balancing loop dominating a negative one holds the state.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fitts.analysis.graph import Loop, elementary_loops, gate_edge_id
from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
from fitts.sim.sample import start_at
from fitts.spec.expr import SympyRenderer
from fitts.spec.schema import ScheduleComponent

DECAY_PREFIX = "decay: "


def decay_link_id(state: str) -> str:
    """Id of the implicit first-order decay link (and loop) of a state: ``'decay: X'``."""
    return f"{DECAY_PREFIX}{state}"


# --------------------------------------------------------------------------- link gains


@dataclass(frozen=True)
class LinkGains:
    """Link gains of a compiled model as vectorised functions.

    Attributes
    ----------
    links
        Link ids: model edge ids, gate edge ids (:func:`gate_edge_id`), then one
        :func:`decay_link_id` per state.
    source, target
        State indices of each link's source and target, shape (n_links,).
    func
        ``func(X, U, P, t) -> (G, F)``: X states (n_states, m), U inputs (n_inputs, m), P
        parameters (n_params, m), t times (m,) in days; G link gains (n_links, m), 1/day;
        F rates of change (n_states, m), 1/day.
    """

    links: tuple[str, ...]
    source: np.ndarray
    target: np.ndarray
    func: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                   tuple[np.ndarray, np.ndarray]] = field(repr=False)

    @property
    def index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.links)}


def _factors(node: ast.expr) -> list[ast.expr]:
    """Factors of a left-nested product ``((a * b) * c)`` -> [a, b, c]."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return [*_factors(node.left), node.right]
    return [node]


class _TagEdges(ast.NodeTransformer):
    """Give every edge term ``weight.e * src (* gate)`` its own source (and gate) names.

    compile_model builds each edge term of a drive as exactly this left-nested product, so
    the derivative with respect to the tagged name is that edge's link gain.
    """

    def __init__(self, model: CompiledModel):
        self.edges = model.spec.edges
        self.tags: dict[str, tuple[str, str, str]] = {}  # tag -> (link id, source state, kind)

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        if isinstance(node.op, ast.Mult):
            fs = _factors(node)
            head = fs[0]
            if isinstance(head, ast.Name) and head.id.startswith("weight."):
                eid = head.id[len("weight."):]
                edge = self.edges.get(eid)
                want = 3 if edge is not None and edge.mode == "gating" else 2
                if (edge is not None and len(fs) == want and isinstance(fs[1], ast.Name)
                        and fs[1].id == edge.from_
                        and (want == 2 or (isinstance(fs[2], ast.Name) and fs[2].id == edge.gate))):
                    src_tag = f"__src_{len(self.tags)}"
                    self.tags[src_tag] = (eid, edge.from_, "edge")
                    out: ast.expr = ast.BinOp(left=head, op=ast.Mult(),
                                              right=ast.Name(id=src_tag, ctx=ast.Load()))
                    if want == 3:
                        gate_tag = f"__gate_{len(self.tags)}"
                        self.tags[gate_tag] = (gate_edge_id(eid, edge.gate), edge.gate, "gate")
                        out = ast.BinOp(left=out, op=ast.Mult(),
                                        right=ast.Name(id=gate_tag, ctx=ast.Load()))
                    return out
        return self.generic_visit(node)


def _link_gains(model: CompiledModel) -> LinkGains:
    """Link gains ∂f_target/∂x_source of every edge and every state's decay, as numpy code.

    The compiled rate trees are rendered to sympy (:class:`fitts.spec.expr.SympyRenderer`)
    with every edge term's source (and gate) replaced by its own symbol, differentiated,
    and turned into one vectorised numpy function (``sympy.lambdify`` with common
    subexpression elimination).

    Parameters
    ----------
    model
        A compiled model.

    Returns
    -------
    LinkGains

    Raises
    ------
    ModelError
        A custom rate that depends on another state directly instead of through an edge
        (such an influence would be a link missing from the loop structure).
    """
    model.require_smooth("loop dominance")
    import sympy as sp

    states, inputs = model.states, model.inputs
    xs = sp.symbols([f"x{i}" for i in range(len(states))], real=True)
    us = sp.symbols([f"u{j}" for j in range(len(inputs))], real=True)
    ps = sp.symbols([f"p{k}" for k in range(len(model.params))], real=True)
    t = sp.Symbol("t", real=True)
    base: dict[str, Any] = {"t": t}
    base.update(zip(states, xs, strict=True))
    base.update(zip(inputs, us, strict=True))
    base.update({p.name: s for p, s in zip(model.params, ps, strict=True)})

    links: list[str] = []
    source: list[int] = []
    target: list[int] = []
    exprs: list[Any] = []
    decay: list[Any] = []
    rates: list[Any] = []
    for i, rate in enumerate(model.rates):
        tagger = _TagEdges(model)
        tree = tagger.visit(copy.deepcopy(rate.tree))
        symbols = dict(base)
        tag_syms = {tag: sp.Symbol(tag, real=True) for tag in tagger.tags}
        symbols.update(tag_syms)
        f = SympyRenderer(symbols).render(tree)
        back = {tag_syms[tag]: base[src] for tag, (_, src, _) in tagger.tags.items()}
        rates.append(f.subs(back))
        for tag, (lid, src, _) in tagger.tags.items():
            links.append(lid)
            source.append(model.state_index.get(src, -1))
            target.append(i)
            exprs.append(sp.diff(f, tag_syms[tag]).subs(back))
        for j, x in enumerate(xs):
            if j != i and f.has(x):
                raise ModelError(
                    f"the rate of {states[i]!r} uses the state {states[j]!r} directly, not "
                    "through an edge; the loop analysis would miss that link",
                    model.spec.location("nodes", states[i]),
                    f"declare an edge {states[j]} -> {states[i]} and use `drive` in the rate")
        decay.append(sp.diff(f, xs[i]).subs(back))
    # edges from inputs carry no loop: drop them (source -1)
    keep = [k for k, s in enumerate(source) if s >= 0]
    links = [links[k] for k in keep] + [decay_link_id(s) for s in states]
    source = [source[k] for k in keep] + list(range(len(states)))
    target = [target[k] for k in keep] + list(range(len(states)))
    exprs = [exprs[k] for k in keep] + decay
    raw = sp.lambdify([xs, us, ps, t], [*exprs, *rates], modules="numpy", cse=True)
    n_links = len(links)

    def func(X: np.ndarray, U: np.ndarray, P: np.ndarray, tt: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        m = np.shape(tt)[0]
        with np.errstate(all="ignore"):
            vals = raw(list(X), list(U), list(P), tt)
        out = np.empty((len(vals), m))
        for k, v in enumerate(vals):
            out[k] = np.broadcast_to(np.asarray(v, dtype=float), (m,))
        return out[:n_links], out[n_links:]

    return LinkGains(tuple(links), np.array(source, dtype=np.int64), np.array(target, dtype=np.int64),
                     func)


# --------------------------------------------------------------------------- elasticities


def dominance_loops(model: CompiledModel) -> list[Loop]:
    """The loops LEEA works with: the model's elementary loops, then one decay loop per state.

    A decay loop has the single link :func:`decay_link_id` and is balancing (its gain is
    ``-1/tau`` for the default dynamics).
    """
    loops = list(elementary_loops(model.spec))
    for s in model.states:
        loops.append(Loop(nodes=(s,), edges=(decay_link_id(s),), polarity="balancing", length=1))
    return loops


@dataclass(frozen=True)
class Elasticities:
    """Loop eigenvalue elasticities at m points (see the module docstring).

    Attributes
    ----------
    eigenvalues
        All eigenvalues of the Jacobian at each point, shape (m, n_states), complex, 1/day.
    weights
        Weight of each eigenvalue (mode) in the behaviour, shape (m, n_states), rows sum to 1.
    main
        Index of the highest-weighted eigenvalue at each point, shape (m,).
    gain
        Loop gains, shape (m, n_loops), (1/day)**length.
    elasticity
        ε_L of the main eigenvalue, shape (m, n_loops), complex, dimensionless.
    score
        Weighted elasticity magnitude ``Σ_k w_k |ε_{L,k}|``, shape (m, n_loops).
    """

    eigenvalues: np.ndarray
    weights: np.ndarray
    main: np.ndarray
    gain: np.ndarray
    elasticity: np.ndarray
    score: np.ndarray


def jacobian(G: np.ndarray, lg: LinkGains, n_states: int) -> np.ndarray:
    """Jacobian from link gains: ``J[:, t, s] = Σ gains of links s -> t``, shape (m, n, n)."""
    J = np.zeros((G.shape[1], n_states, n_states))
    np.add.at(J, (slice(None), lg.target, lg.source), G.T)
    return J


def mode_weights(J: np.ndarray, rate: np.ndarray | None, behaviour: int | None) -> tuple[np.ndarray,
                                                                                          np.ndarray]:
    """Eigenvalues and the weight of each mode in the current behaviour.

    With `behaviour` (a state index) and `rate` (ẋ, shape (m, n)), the weight of mode k is
    ``|r_k[y] (l_k · ẋ)|`` normalised over k: the share of mode k in the rate of change of
    state y, from the eigen-decomposition ``ẋ = Σ_k r_k (l_k · ẋ)`` with right and left
    eigenvectors r_k, l_k (Gonçalves 2009, "Behavior modes, pathways and overall
    trajectories", System Dynamics Review 25(1):35-67). Without them, or where the state is
    at rest (all weights 0), the mode with the largest real part gets weight 1.

    Returns
    -------
    eigenvalues : numpy.ndarray
        Shape (m, n), complex.
    weights : numpy.ndarray
        Shape (m, n), rows sum to 1.
    """
    lam, R = np.linalg.eig(J)
    m, n = lam.shape
    w = np.zeros((m, n))
    if behaviour is not None and rate is not None:
        try:
            Linv = np.linalg.inv(R)
        except np.linalg.LinAlgError:
            Linv = np.linalg.pinv(R)
        proj = np.einsum("mkn,mn->mk", Linv, rate.astype(complex))
        w = np.abs(R[:, behaviour, :] * proj)
    total = w.sum(axis=1, keepdims=True)
    scale = np.abs(rate).max(axis=1, keepdims=True) if rate is not None else np.zeros((m, 1))
    rest = (total[:, 0] <= 1e-12 * np.maximum(scale[:, 0], 1e-300)) | (total[:, 0] <= 1e-14)
    with np.errstate(all="ignore"):
        w = np.where(rest[:, None], 0.0, w / np.where(total > 0, total, 1.0))
    top = np.argmax(lam.real, axis=1)
    w[rest, top[rest]] = 1.0
    return lam, w


def loop_elasticities(G: np.ndarray, lg: LinkGains, loops: Sequence[Loop], n_states: int, *,
                      rate: np.ndarray | None = None, behaviour: int | None = None,
                      min_weight: float = 1e-3) -> Elasticities:
    """Loop gains and eigenvalue elasticities from link gains.

    Parameters
    ----------
    G
        Link gains, shape (n_links, m), ordered as ``lg.links``.
    lg
        The model's link gains (for link ids, sources and targets).
    loops
        Loops whose edges are ids of ``lg.links`` (for example :func:`dominance_loops`).
    n_states
        Number of states.
    rate, behaviour
        Rates of change (m, n_states) and the index of the state whose behaviour weights
        the modes (:func:`mode_weights`); default: the eigenvalue with the largest real part.
    min_weight
        Modes with a smaller weight are left out of the score.

    Returns
    -------
    Elasticities
        Elasticities of an eigenvalue that is repeated at a point are NaN there.
    """
    m = G.shape[1]
    J = jacobian(G, lg, n_states)
    lam, w = mode_weights(J, rate, behaviour)
    main = np.argmax(w, axis=1)
    # p'(λ_k) = Π_{j≠k} (λ_k - λ_j)
    diff = lam[:, :, None] - lam[:, None, :]
    idx = np.arange(n_states)
    diff[:, idx, idx] = 1.0
    dp = np.prod(diff, axis=2)  # (m, n)
    gap = np.abs(diff).min(axis=2)
    repeated = gap <= 1e-9 * np.maximum(np.abs(lam), 1.0)
    index = lg.index
    gain = np.ones((m, len(loops)))
    for j, lp in enumerate(loops):
        for e in lp.edges:
            if e not in index:
                raise ModelError(f"loop {lp} has a link {e!r} the model has no gain for."
                                 + did_you_mean(e, index))
            gain[:, j] *= G[index[e]]
    # det(λ_k I - J[V∖L]) = Π (λ_k - μ), μ the eigenvalues of the principal submatrix
    sub_eigs: dict[tuple[int, ...], np.ndarray] = {}
    used = w >= min_weight
    used[np.arange(m), main] = True
    elast = np.full((m, len(loops)), np.nan, dtype=complex)
    score = np.zeros((m, len(loops)))
    rows = np.arange(m)
    for j, lp in enumerate(loops):
        on = {int(lg.target[index[e]]) for e in lp.edges}
        rest = tuple(i for i in range(n_states) if i not in on)
        if rest not in sub_eigs:
            sub_eigs[rest] = (np.linalg.eigvals(J[:, rest][:, :, rest]) if rest
                              else np.zeros((m, 0), dtype=complex))
        mu = sub_eigs[rest]
        det = np.prod(lam[:, :, None] - mu[:, None, :], axis=2)  # (m, n)
        with np.errstate(all="ignore"):
            eps = gain[:, j, None] * det / (lam * dp)
        eps = np.where(repeated, np.nan, eps)
        elast[:, j] = eps[rows, main]
        score[:, j] = np.where(used, w * np.nan_to_num(np.abs(eps), nan=0.0), 0.0).sum(axis=1)
    return Elasticities(eigenvalues=lam, weights=w, main=main, gain=gain, elasticity=elast,
                        score=score)


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    """Onset under a stressor, persistence, then recovery under a treatment.

    Attributes
    ----------
    stressor
        Schedule components (dicts as for :func:`fitts.simulate`) of the stressor.
    treatment_start
        Day the treatment starts (after the stressor has ended).
    treatment
        Parameter values set from `treatment_start` on (``{name: value}``), for example
        ``{'weight.pain -> threat': 0.0}``; a value may be a per-patient array.
    treatment_schedule
        Extra input components from `treatment_start` on, timed from day 0 of the
        treatment phase (for example a ``social_support`` step).
    days
        Total length, days.
    """

    stressor: tuple[Mapping[str, Any] | ScheduleComponent, ...]
    treatment_start: float
    days: float
    treatment: Mapping[str, float] = field(default_factory=dict)
    treatment_schedule: tuple[Mapping[str, Any] | ScheduleComponent, ...] = ()
    label: str = "scenario"


def default_scenario(model: CompiledModel) -> Scenario:
    """The standard scenario: a psychosocial stressor (level 2 for 120 days from day 30),
    persistence to day 300, then from day 300 a treatment that cuts every feedback edge
    from ``pain`` to another state (pain no longer acts as a threat, stressor or sleep
    disturber); the run ends at day 500.

    Requires the input ``psychosocial_stress`` and the state ``pain``.
    """
    if "psychosocial_stress" not in model.inputs or "pain" not in model.states:
        raise ModelError(
            f"the default scenario needs the input 'psychosocial_stress' and the state 'pain'; "
            f"{model.spec.name!r} has inputs {', '.join(model.inputs) or '(none)'}",
            hint="build a fitts.analysis.dominance.Scenario for this model")
    cut = {f"weight.{eid}": 0.0 for eid, e in model.spec.edges.items()
           if e.from_ == "pain" and e.to in model.state_index}
    return Scenario(
        stressor=({"input": "psychosocial_stress", "kind": "pulse", "start": 30.0,
                   "duration": 120.0, "level": 2.0},),
        treatment_start=300.0, days=500.0, treatment=cut,
        label="stressor day 30-150, treatment (pain feedback cut) from day 300")


def run_scenario(model: CompiledModel, scenario: Scenario, *, params: Mapping[str, Any] | None = None,
                 patients: int | Sequence[int] | np.ndarray = 1, seed: int = 0, dt: float = 0.05,
                 record_every: float = 1.0, backend: str = "numba") -> tuple[xr.Dataset, np.ndarray,
                                                                             np.ndarray]:
    """Simulate a scenario deterministically (no noise), in two phases.

    Phase 1 runs the stressor to `treatment_start`; phase 2 starts from phase 1's final
    states (through the ``initial.*`` parameters) with the treatment's parameters.

    Returns
    -------
    trajectory : xarray.Dataset
        The joined trajectory (patient, time, state), as :func:`fitts.simulate`.
    P : numpy.ndarray
        Parameters in force at each recorded time, shape (n_params, n_patients, n_times).
    U : numpy.ndarray
        Inputs at each recorded time, shape (n_inputs, n_patients, n_times).
    """
    from fitts.sim.schedule import Schedule
    from fitts.sim.simulate import _components, simulate

    params = dict(params or {})
    t1 = scenario.treatment_start
    if not 0 < t1 < scenario.days:
        raise ModelError(f"treatment_start ({t1}) must lie inside (0, {scenario.days}) days")
    kw = dict(dt=dt, seed=seed, noise=False, record_every=record_every, backend=backend)
    a = simulate(model, patients=patients, days=t1, schedule=list(scenario.stressor),
                 params=params, **kw)
    init = start_at(model, a.trajectory.isel(time=-1).transpose("patient", "state").values)
    shifted = [_shift(c, t1, model) for c in scenario.stressor]
    b = simulate(model, patients=a.patient.values, days=scenario.days - t1,
                 schedule=[*shifted, *scenario.treatment_schedule],
                 params={**params, **init, **dict(scenario.treatment)}, **kw)
    b = b.assign_coords(time=b.time.values + t1)
    traj = xr.concat([a.trajectory, b.trajectory.isel(time=slice(1, None))], dim="time")
    ds = xr.Dataset({"trajectory": traj})
    ds.attrs.update(a.attrs)
    times = ds.time.values
    Pa, Pb = a.params.values.T, b.params.values.T  # (n_params, n)
    P = np.where((times < t1 - 1e-9)[None, None, :], Pa[:, :, None], Pb[:, :, None])
    ids = a.patient.values
    sa = Schedule(model.schedule + _components(scenario.stressor, model), model.inputs,
                  model.input_defaults, seed, ids, scenario.days)
    sb = Schedule(model.schedule + _components([*shifted, *scenario.treatment_schedule],
                                                          model),
                  model.inputs, model.input_defaults, seed, ids, scenario.days - t1)
    Ua = sa.evaluate(times[times < t1 - 1e-9])
    Ub = sb.evaluate(times[times >= t1 - 1e-9] - t1)
    U = np.concatenate([np.broadcast_to(Ua, (*Ua.shape[:2], len(ids))),
                        np.broadcast_to(Ub, (*Ub.shape[:2], len(ids)))], axis=0)
    return ds, P, U.transpose(1, 2, 0)


def _shift(comp: Mapping[str, Any] | ScheduleComponent, by: float, model: CompiledModel
           ) -> ScheduleComponent:
    """A stressor component re-timed for phase 2 (day 0 = `by`); its past part drops out."""
    from fitts.sim.simulate import _components

    c = _components([comp], model)[0]
    upd: dict[str, Any] = {"start": c.start - by}
    if getattr(c, "end", None) is not None:
        upd["end"] = c.end - by
    return c.model_copy(update=upd)


# --------------------------------------------------------------------------- dominance


def loop_dominance(model: CompiledModel, X: np.ndarray, U: np.ndarray, P: np.ndarray,
                   times: np.ndarray, *, loops: Sequence[Loop] | None = None,
                   behaviour: str | None = "pain") -> xr.Dataset:
    """Loop eigenvalue elasticities and dominance along one patient's trajectory.

    Parameters
    ----------
    model
        A compiled model.
    X
        States, shape (n_states, m).
    U
        Inputs, shape (n_inputs, m).
    P
        Parameters, shape (n_params, m).
    times
        Times, shape (m,), days.
    loops
        Loops to score; default :func:`dominance_loops` (all elementary loops and the
        decay loops). The elasticities of a subset are the same as in the full set.
    behaviour
        The state whose behaviour weights the eigenvalues (:func:`mode_weights`); None:
        the eigenvalue with the largest real part alone. A model without the state falls
        back to None.

    Returns
    -------
    xarray.Dataset
        Dims ``time`` and ``loop`` (integer index into `loops`). Variables:
        ``eigenvalue_real``/``eigenvalue_imag`` (time; 1/day) of the main eigenvalue (the
        highest-weighted mode), ``mode_weight`` (time) its weight, ``gain`` (time, loop),
        ``elasticity`` (time, loop; real part of ε_L for the main eigenvalue),
        ``elasticity_imag``, ``score`` (time, loop) = Σ_k w_k |ε_{L,k}|, and ``dominance``
        (time, loop) = score / Σ score (0..1). Coordinates on ``loop``: ``name`` (path
        text), ``polarity``, ``length``.
    """
    lg = _link_gains(model)
    loops = list(loops) if loops is not None else dominance_loops(model)
    G, F = lg.func(X, U, P, times)
    y = model.state_index.get(behaviour) if behaviour is not None else None
    el = loop_elasticities(G, lg, loops, model.n_states, rate=F.T, behaviour=y)
    rows = np.arange(len(times))
    lam = el.eigenvalues[rows, el.main]
    mag = el.score
    total = np.nansum(mag, axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        share = np.where(total > 0, mag / total, np.nan)
    names = [loop_name(lp) for lp in loops]
    return xr.Dataset(
        {
            "eigenvalue_real": (("time",), lam.real, {"units": "1/day"}),
            "eigenvalue_imag": (("time",), lam.imag, {"units": "1/day"}),
            "mode_weight": (("time",), el.weights[rows, el.main]),
            "score": (("time", "loop"), mag),
            "gain": (("time", "loop"), el.gain, {"units": "(1/day)**length"}),
            "elasticity": (("time", "loop"), el.elasticity.real,
                           {"long_name": "loop eigenvalue elasticity of the dominant eigenvalue"}),
            "elasticity_imag": (("time", "loop"), el.elasticity.imag),
            "dominance": (("time", "loop"), share, {"long_name": "score / sum of scores"}),
        },
        coords={"time": np.asarray(times, dtype=float), "loop": np.arange(len(loops)),
                "name": ("loop", names), "polarity": ("loop", [lp.polarity for lp in loops]),
                "length": ("loop", [lp.length for lp in loops])},
        attrs={"method": "loop eigenvalue elasticity (Kampmann & Oliva 2006; Kampmann 2012)",
               "behaviour": behaviour if y is not None else "largest real part",
               "model_name": model.spec.name,
               "model_hash": model.model_hash},
    )


def loop_name(lp: Loop) -> str:
    """Short text of a loop: ``R3: a -> b -> c -> a``; decay loops read ``decay: a``."""
    if len(lp.edges) == 1 and lp.edges[0].startswith(DECAY_PREFIX):
        return lp.edges[0]
    return str(lp)


def dominance_over_time(model: CompiledModel, scenario: Scenario | None = None, *,
                        params: Mapping[str, Any] | None = None, patient: int = 0, seed: int = 0,
                        dt: float = 0.05, record_every: float = 1.0, backend: str = "numba",
                        behaviour: str | None = "pain") -> xr.Dataset:
    """Simulate one patient through a scenario and score loop dominance at every recorded day.

    Parameters
    ----------
    model
        A compiled model.
    scenario
        Default :func:`default_scenario`.
    params
        Parameter values of the patient (for example ``typical_parameters(model, ...)``);
        other rows are sampled from patient `patient`'s stream.
    patient, seed
        The patient id and seed for the sampled rows.
    dt, record_every
        Integration step and scoring interval, days.
    behaviour
        State whose behaviour weights the eigenvalues (see :func:`loop_dominance`).

    Returns
    -------
    xarray.Dataset
        :func:`loop_dominance` output plus ``trajectory`` (time, state) and the scenario's
        ``treatment_start`` and ``label`` as attributes.
    """
    model.require_smooth("loop dominance")
    scenario = scenario or default_scenario(model)
    ds, P, U = run_scenario(model, scenario, params=params, patients=[patient], seed=seed, dt=dt,
                            record_every=record_every, backend=backend)
    X = ds.trajectory.values[0].T
    out = loop_dominance(model, X, U[:, 0], P[:, 0], ds.time.values, behaviour=behaviour)
    out["trajectory"] = (("time", "state"), ds.trajectory.values[0])
    out = out.assign_coords(state=list(model.states))
    out.attrs.update(treatment_start=float(scenario.treatment_start), scenario=scenario.label,
                     stressor_end=float(max((_end(c) for c in scenario.stressor), default=0.0)),
                     stressor_start=float(min((_get(c, "start", 0.0) for c in scenario.stressor),
                                              default=0.0)))
    return out


def _get(comp: Mapping[str, Any] | ScheduleComponent, key: str, default: Any = None) -> Any:
    return comp.get(key, default) if isinstance(comp, Mapping) else getattr(comp, key, default)


def _end(comp: Mapping[str, Any] | ScheduleComponent) -> float:
    if _get(comp, "duration") is not None:
        return float(_get(comp, "start", 0.0)) + float(_get(comp, "duration"))
    return float(_get(comp, "end") or _get(comp, "start", 0.0))


def top_loops(dom: xr.Dataset, k: int = 6, *, include_decay: bool = True) -> pd.DataFrame:
    """The `k` loops with the highest peak dominance, with when they dominate.

    With ``include_decay=False`` the first-order decay loops are left out of the ranking
    (their dominance still counts in every share).

    Returns
    -------
    pandas.DataFrame
        Columns ``loop``, ``name``, ``polarity``, ``peak_dominance``, ``mean_dominance``,
        ``days_dominant`` (days on which the loop has the largest share).
    """
    share = dom["dominance"].values
    peak = np.nanmax(np.nan_to_num(share, nan=0.0), axis=0)
    ok = np.array([include_decay or not str(n).startswith(DECAY_PREFIX) for n in dom.name.values])
    top = [j for j in np.argsort(-peak) if ok[j]][:k]
    arg = np.nanargmax(np.nan_to_num(share, nan=-1.0), axis=1)
    step = float(np.median(np.diff(dom.time.values))) if dom.sizes["time"] > 1 else 0.0
    rows = []
    for j in top:
        rows.append({"loop": int(j), "name": str(dom.name.values[j]),
                     "polarity": str(dom.polarity.values[j]), "peak_dominance": float(peak[j]),
                     "mean_dominance": float(np.nanmean(share[:, j])) if np.isfinite(share[:, j]).any()
                     else float("nan"),
                     "days_dominant": float((arg == j).sum() * step)})
    return pd.DataFrame(rows)
