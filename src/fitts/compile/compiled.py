"""Spec -> CompiledModel: index arrays, a parameter table and one checked rate tree per node.

Every per-node and per-edge quantity becomes a row of the parameter table with a
stable name (`tau.threat`, `baseline.threat`, `noise.threat`, `initial.threat`,
`weight.threat -> salience`) next to the model's own named parameters. A row is
`fixed` (a number), `prior` (sampled per patient) or `derived` (an expression over
other rows, evaluated per patient in dependency order).

Rates are built as checked expression trees (the same `ast` subset the parser
accepts), so the NumPy, numba and sympy renderers all work from one tree. Built trees
use the table's names directly as `ast.Name` ids; they never pass through text.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import hashlib
import heapq
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from graphlib import TopologicalSorter
from typing import Any, Literal

import numpy as np

from fitts.errors import ModelError, did_you_mean
from fitts.spec.expr import CONSTANTS, Expr, parse_expr
from fitts.spec.model import Spec
from fitts.spec.schema import Grade, ParameterSpec, value_support

ParamKind = Literal["fixed", "prior", "derived"]


@dataclass(frozen=True)
class ParamInfo:
    """One row of the parameter table.

    Attributes
    ----------
    name
        Stable name (`tau.threat`, `weight.a -> b`, or a declared parameter).
    kind
        `fixed`, `prior` (sampled per patient) or `derived` (expression).
    value
        The number of a fixed row.
    prior
        The prior of a sampled row (a pydantic prior from :mod:`fitts.spec.schema`).
    expr
        The checked expression of a derived row.
    domain
        Closed interval every patient's value must lie in (tau > 0, noise >= 0, ...).
    """

    name: str
    kind: ParamKind
    value: float | None = None
    prior: Any = None
    expr: Expr | None = None
    domain: tuple[float, float] = (-np.inf, np.inf)
    open_low: bool = False
    source: str | None = None
    grade: Grade | None = None
    group: str | None = None
    description: str | None = None


def _name(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Load())


def _num(v: float) -> ast.Constant:
    return ast.Constant(value=float(v))


def _sum(terms: list[ast.expr]) -> ast.expr:
    out = terms[0]
    for t in terms[1:]:
        out = ast.BinOp(left=out, op=ast.Add(), right=t)
    return out


def _mul(*factors: ast.expr) -> ast.expr:
    out = factors[0]
    for f in factors[1:]:
        out = ast.BinOp(left=out, op=ast.Mult(), right=f)
    return out


def _names_in(tree: ast.AST) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)) - set(CONSTANTS)


def _expr_from_tree(tree: ast.expr) -> Expr:
    tree = ast.fix_missing_locations(tree)
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}  # type: ignore[attr-defined]
    return Expr(text=ast.unparse(tree), tree=tree, names=_names_in(tree) - calls)


class _Substitute(ast.NodeTransformer):
    """Replace names by (copies of) trees: the built `drive` into custom rates, auxiliaries
    into the expressions that use them."""

    def __init__(self, table: Mapping[str, ast.expr]):
        self.table = table

    def visit_Name(self, node: ast.Name) -> ast.expr:
        tree = self.table.get(node.id)
        return node if tree is None else copy.deepcopy(tree)


def _substitute(tree: ast.expr, table: Mapping[str, ast.expr]) -> ast.expr:
    if not table:
        return tree
    return _Substitute(table).visit(copy.deepcopy(tree))


@dataclass(frozen=True)
class CompiledModel:
    """A model ready to simulate: ordered states, inputs, parameter table and rate trees.

    Build with :func:`compile_model`. Per-patient parameters are arrays of shape
    (n_params, n_patients) ordered as `params`.
    """

    spec: Spec
    states: tuple[str, ...]
    inputs: tuple[str, ...]
    params: tuple[ParamInfo, ...]
    rates: tuple[Expr, ...]
    drives: tuple[Expr | None, ...]
    noise_states: tuple[int, ...]
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    input_defaults: np.ndarray = field(repr=False)
    derived_order: tuple[int, ...] = ()
    #: auxiliaries in evaluation order: (name, tree over states, inputs, parameters, `t` and
    #: the auxiliaries before it)
    auxiliaries: tuple[tuple[str, Expr], ...] = ()
    #: the rates as written, referring to auxiliaries by name (what the generated code
    #: evaluates, each auxiliary once); `rates` has them substituted (for the analyses)
    rates_local: tuple[Expr, ...] = ()
    #: each auxiliary with every auxiliary it uses substituted (over states, inputs,
    #: parameters and `t` only)
    auxiliaries_inlined: Mapping[str, Expr] = field(default_factory=dict, repr=False)
    #: per state, the expression multiplying its noise (None: 1); all None for most models
    noise_scales: tuple[Expr | None, ...] = ()
    #: model time units per day (`time_unit:`); every tree above is already per day, `t` in days
    time_factor: float = 1.0
    #: prior fields set by a calibration, ``(("prior:PARAM.FIELD", value), ...)`` sorted by
    #: name (see :meth:`with_prior_knobs`); empty for the model as written
    calibration: tuple[tuple[str, float], ...] = ()

    def with_prior_knobs(self, knobs: Iterable[tuple[str, float]]) -> CompiledModel:
        """This model with some priors' fields set: a calibrated theory.

        Parameters
        ----------
        knobs
            ``("prior:PARAM.FIELD", value)`` pairs, as a calibration file's knobs
            (``prior:weight.pain -> threat.median``); pairs of other kinds (``protocol:...``)
            are skipped, since they set a study protocol, not the model.

        Each patient keeps the uniform draw of every parameter, so a patient sampled from
        the calibrated model is the same patient re-mapped through the changed prior (as
        in the calibration's own evaluations). The calibration is part of
        :attr:`model_hash`, so a calibrated model is never taken for the one as written.
        """
        params = list(self.params)
        applied = dict(self.calibration)
        for name, value in knobs:
            kind, _, path = str(name).partition(":")
            if kind != "prior":
                continue
            i = self.param_index[self.prior_knob(path, value)[0]]
            params[i] = dataclasses.replace(params[i], prior=params[i].prior.model_copy(
                update={path.rpartition(".")[2]: float(value)}))
            applied[str(name)] = float(value)
        return dataclasses.replace(self, params=tuple(params), calibration=tuple(sorted(applied.items())))

    def in_days(self, expr: Expr) -> Expr:
        """An expression written in the model's time unit with `t` read in days (t -> f·t)."""
        if self.time_factor == 1.0 or "t" not in expr.names:
            return expr
        return _expr_from_tree(_substitute(expr.tree, {"t": _mul(_num(self.time_factor), _name("t"))}))

    def rate_in_days(self, expr: Expr) -> Expr:
        """A rate written per model time unit as a rate per day (f·rate, `t` in days)."""
        expr = self.in_days(expr)
        if self.time_factor == 1.0:
            return expr
        return _expr_from_tree(_mul(_num(self.time_factor), expr.tree))

    @property
    def schedule(self) -> list[Any]:
        """The model file's schedule components with their times in days."""
        f = self.time_factor
        if f == 1.0:
            return list(self.spec.schedule)
        out = []
        for comp in self.spec.schedule:
            update = {k: getattr(comp, k) / f for k in ("start", "end", "duration", "period")
                      if getattr(comp, k, None) is not None}
            out.append(comp.model_copy(update=update))
        return out

    @property
    def has_noise_scales(self) -> bool:
        """Whether any state's noise amplitude depends on an expression (states, inputs, ...)."""
        return any(e is not None for e in self.noise_scales)

    @cached_property
    def param_index(self) -> dict[str, int]:
        return {p.name: i for i, p in enumerate(self.params)}

    @cached_property
    def state_index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.states)}

    @cached_property
    def input_index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.inputs)}

    def prior_knob(self, path: str, value: float) -> tuple[str, Any]:
        """A knob ``PARAM.FIELD`` checked against this model: the parameter's name and its
        prior with the field set to `value` (a ModelError names what is wrong)."""
        pname, _, fld = path.rpartition(".")
        if pname not in self.param_index:
            raise ModelError(f"knob prior:{path}: the theory has no parameter {pname!r}."
                             + did_you_mean(pname, self.param_index))
        row = self.params[self.param_index[pname]]
        if row.kind != "prior":
            raise ModelError(f"knob prior:{path}: parameter {pname!r} has no prior ({row.kind})",
                             hint="calibrate a parameter declared with a prior")
        if fld not in type(row.prior).model_fields or fld == "dist":
            fields = [f for f in type(row.prior).model_fields if f != "dist"]
            raise ModelError(f"knob prior:{path}: a {row.prior.dist} prior has no field {fld!r}."
                             + did_you_mean(fld, fields), hint="fields: " + ", ".join(fields))
        return pname, row.prior.model_copy(update={fld: value})

    @property
    def model_hash(self) -> str:
        """Content hash of the model file(s), combined with the calibration's knobs if any."""
        if not self.calibration:
            return self.spec.content_hash
        text = json.dumps([self.spec.content_hash, [list(k) for k in self.calibration]])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def auxiliary_names(self) -> tuple[str, ...]:
        """Auxiliaries in the order they are evaluated (and recorded)."""
        return tuple(name for name, _ in self.auxiliaries)

    def require_smooth(self, analysis: str) -> None:
        """Refuse an analysis that assumes smooth dynamics (steady states, continuation, loop
        dominance) for a model with events: its vector field alone does not describe it."""
        if self.spec.events:
            raise ModelError(
                f"{analysis} assumes smooth dynamics, but model {self.spec.name!r} has discrete events "
                f"({', '.join(self.spec.events)}): the rates alone do not describe its behaviour",
                hint="simulate it instead (fitts simulate), or analyse a variant without the events "
                     "(include it with `exclude: {events: [...]}`)")

    def inline(self, expr: Expr) -> Expr:
        """`expr` with every auxiliary it uses replaced by its expression over states, inputs,
        parameters and `t` (an expression without auxiliaries is returned as it is)."""
        used = expr.names & set(self.auxiliaries_inlined)
        if not used:
            return expr
        table = {a: self.auxiliaries_inlined[a].tree for a in used}
        return _expr_from_tree(_substitute(expr.tree, table))

    def noise_param(self, i: int) -> int:
        return self.param_index[f"noise.{self.states[i]}"]

    def name_map(self, target: Literal["numpy", "numba"]) -> dict[str, str]:
        """Render names to array accesses: states X, inputs U, parameters P.

        numpy: X[i] (row over patients); numba: X[i, p] inside a loop over patients, with
        inputs indexed U[j, p * us] so that patient-independent inputs can have one column.
        """
        out: dict[str, str] = {"t": "t"}
        col = "" if target == "numpy" else ", p"
        for i, s in enumerate(self.states):
            out[s] = f"X[{i}{col}]"
        for j, u in enumerate(self.inputs):
            out[u] = f"U[{j}]" if target == "numpy" else f"U[{j}, p * us]"
        for k, p in enumerate(self.params):
            out[p.name] = f"P[{k}{col}]"
        for k, (a, _) in enumerate(self.auxiliaries):
            out[a] = f"aux_{k}"  # a local variable of the generated rate function
        return out

    def summary(self) -> dict[str, int]:
        return {
            "states": self.n_states,
            "inputs": len(self.inputs),
            "edges": len(self.spec.edges),
            "parameters": len(self.params),
            "sampled": sum(p.kind == "prior" for p in self.params),
        }


def _quantity_row(name: str, value: Any, params: set[str], *, domain: tuple[float, float],
                  open_low: bool = False, **meta: Any) -> ParamInfo:
    if isinstance(value, bool):
        value = float(value)
    if isinstance(value, int | float):
        return ParamInfo(name, "fixed", value=float(value), domain=domain, open_low=open_low, **meta)
    if isinstance(value, str):
        return ParamInfo(name, "derived", expr=parse_expr(value, allowed_names=params),
                         domain=domain, open_low=open_low, **meta)
    if getattr(value, "dist", None) == "fixed":
        return ParamInfo(name, "fixed", value=float(value.value), domain=domain,
                         open_low=open_low, **meta)
    return ParamInfo(name, "prior", prior=value, domain=domain, open_low=open_low, **meta)


def _declared_row(name: str, p: ParameterSpec, params: set[str]) -> ParamInfo:
    dom = tuple(p.bounds) if p.bounds is not None else (-np.inf, np.inf)
    meta = dict(source=p.source, grade=p.grade, group=p.group, description=p.description)
    return _quantity_row(name, p.quantity, params, domain=dom, **meta)  # type: ignore[arg-type]


def compile_model(spec: Spec) -> CompiledModel:
    """Compile a validated Spec into arrays and checked rate trees (no code is generated here)."""
    states = tuple(spec.nodes)
    inputs = tuple(spec.inputs)
    declared = set(spec.parameters)
    rows: list[ParamInfo] = [_declared_row(n, p, declared) for n, p in spec.parameters.items()]
    inf = np.inf
    for name, node in spec.nodes.items():
        meta = dict(source=node.source, grade=node.grade, group=node.group)
        rows.append(_quantity_row(f"tau.{name}", node.tau, declared, domain=(0.0, inf),
                                  open_low=True, **meta))
        rows.append(_quantity_row(f"baseline.{name}", node.baseline, declared,
                                  domain=(-inf, inf), **meta))
        rows.append(_quantity_row(f"noise.{name}", node.noise, declared, domain=(0.0, inf), **meta))
        lo, hi = node.bounds
        dom = (-inf if lo is None else lo, inf if hi is None else hi)
        if node.initial is None:
            # resting level of a unit with no input; custom rates start at the lower bound
            if node.rate is None:
                tree = ast.Call(func=_name("sigmoid"), args=[_name(f"baseline.{name}")], keywords=[])
                rows.append(ParamInfo(f"initial.{name}", "derived", expr=_expr_from_tree(tree),
                                      domain=dom))
            else:
                rows.append(ParamInfo(f"initial.{name}", "fixed",
                                      value=0.0 if lo is None else float(lo), domain=dom))
        else:
            rows.append(_quantity_row(f"initial.{name}", node.initial, declared, domain=dom))
    for eid, edge in spec.edges.items():
        dom = (0.0, inf) if edge.sign == "+" else (-inf, 0.0)
        rows.append(_quantity_row(f"weight.{eid}", edge.weight, declared, domain=dom,
                                  source=edge.source, grade=edge.grade))
    index = {r.name: i for i, r in enumerate(rows)}

    # derived rows in dependency order
    graph: TopologicalSorter[int] = TopologicalSorter()
    for i, r in enumerate(rows):
        graph.add(i, *(index[dep] for dep in (r.expr.names if r.kind == "derived" and r.expr is not None else ())))
    order = tuple(i for i in graph.static_order() if rows[i].kind == "derived")

    auxiliaries, aux_inlined = _auxiliaries(spec)

    # rate trees
    incoming: dict[str, list[Any]] = {s: [] for s in states}
    for eid, edge in spec.edges.items():
        incoming[edge.to].append((eid, edge))
    rates: list[Expr] = []
    drives: list[Expr | None] = []
    for name, node in spec.nodes.items():
        terms: list[ast.expr] = [_name(f"baseline.{name}")]
        for eid, edge in incoming[name]:
            factors = [_name(f"weight.{eid}"), _name(edge.from_)]
            if edge.mode == "gating":
                factors.append(_name(edge.gate))
            terms.append(_mul(*factors))
        drive = _sum(terms)
        if node.rate is None:
            tree: ast.expr = ast.BinOp(
                left=ast.BinOp(
                    left=ast.Call(func=_name("sigmoid"), args=[drive], keywords=[]),
                    op=ast.Sub(), right=_name(name)),
                op=ast.Div(), right=_name(f"tau.{name}"))
        else:
            user = parse_expr(node.rate)
            tree = _Substitute({"drive": drive}).visit(ast.parse(ast.unparse(user.tree),
                                                                 mode="eval").body)
        rates.append(_expr_from_tree(tree))
        drives.append(_expr_from_tree(drive))
    rates_local = tuple(rates)
    if auxiliaries:
        table = {a: e.tree for a, e in aux_inlined.items()}
        rates = [_expr_from_tree(_substitute(r.tree, table)) for r in rates_local]

    noise_states = tuple(
        i for i, node in enumerate(spec.nodes.values())
        if not (value_support(node.noise) == (0.0, 0.0))
    )
    lower = np.array([-np.inf if n.bounds[0] is None else n.bounds[0] for n in spec.nodes.values()])
    upper = np.array([np.inf if n.bounds[1] is None else n.bounds[1] for n in spec.nodes.values()])
    defaults = np.array([u.default for u in spec.inputs.values()], dtype=float)
    noise_scales = tuple(None if n.noise_scale is None else parse_expr(n.noise_scale)
                         for n in spec.nodes.values())
    model = CompiledModel(
        spec=spec, states=states, inputs=inputs, params=tuple(rows), rates=tuple(rates),
        drives=tuple(drives), noise_states=noise_states, lower=lower, upper=upper,
        input_defaults=defaults, derived_order=order, auxiliaries=auxiliaries,
        rates_local=rates_local, auxiliaries_inlined=aux_inlined, noise_scales=noise_scales,
    )
    f = spec.time_factor
    if f == 1.0:
        return model
    # a model in hours or minutes: every rate times f, `t` read as f·t, noise per sqrt(unit)
    # times sqrt(f); the simulator and the analyses then work in days as for any model
    unit = CompiledModel(**{**{k: getattr(model, k) for k in model.__dataclass_fields__}, "time_factor": f})
    scales = tuple(
        None if i not in noise_states else _expr_from_tree(
            _mul(_num(f ** 0.5), (unit.in_days(e).tree if e is not None else _num(1.0))))
        for i, e in enumerate(noise_scales))
    return dataclasses.replace(
        unit,
        rates=tuple(unit.rate_in_days(r) for r in rates),
        rates_local=tuple(unit.rate_in_days(r) for r in rates_local),
        auxiliaries=tuple((n, unit.in_days(e)) for n, e in auxiliaries),
        auxiliaries_inlined={n: unit.in_days(e) for n, e in aux_inlined.items()},
        noise_scales=scales,
    )


def _file_ordered_topological_sort(uses: dict[str, list[str]]) -> list[str]:
    """The names of `uses` (name -> the names it uses, acyclic) so that each comes after
    those it uses, and among names free to go next, the first in `uses` goes first.

    graphlib gives which names are ready; a heap on the file position picks among them
    (networkx's lexicographical topological sort does the same, at 0.15 s of import).
    """
    position = {name: i for i, name in enumerate(uses)}
    graph = TopologicalSorter(uses)
    graph.prepare()
    ready = [(position[n], n) for n in graph.get_ready()]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        graph.done(name)
        for n in graph.get_ready():
            heapq.heappush(ready, (position[n], n))
    return order


def _auxiliaries(spec: Spec) -> tuple[tuple[tuple[str, Expr], ...], dict[str, Expr]]:
    """The auxiliaries in dependency order (file order among independent ones), and each one
    with the auxiliaries it uses substituted."""
    if not spec.auxiliaries:
        return (), {}
    parsed = {name: parse_expr(a.expr) for name, a in spec.auxiliaries.items()}
    order = _file_ordered_topological_sort({name: [d for d in e.names if d in parsed] for name, e in parsed.items()})
    inlined: dict[str, Expr] = {}
    for name in order:
        table = {a: inlined[a].tree for a in parsed[name].names if a in inlined}
        inlined[name] = _expr_from_tree(_substitute(parsed[name].tree, table))
    return tuple((name, parsed[name]) for name in order), inlined
