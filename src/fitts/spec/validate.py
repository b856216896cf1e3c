"""Rules that need the whole composed model: names, references, expressions, cycles.

Each rule is one small function raising one kind of ModelError, so a message always
says which rule was broken.
"""

from __future__ import annotations

import keyword
import re
from graphlib import CycleError, TopologicalSorter

from fitts.errors import Location, ModelError, did_you_mean, excerpt
from fitts.spec.expr import FUNCTIONS, RESERVED, Expr, parse_expr
from fitts.spec.model import NODE_QUANTITIES, Spec

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: names with a meaning in rate expressions
SPECIAL_NAMES = frozenset({"t", "drive"})
#: longest name of a node, input or parameter
MAX_NAME_CHARS = 100


def check_identifier(spec: Spec, section: str, name: str) -> None:
    """A declared name must be a plain identifier, not a function or reserved word."""
    loc = spec.location(section, name)
    if len(name) > MAX_NAME_CHARS:
        raise ModelError(f"name {excerpt(name, 40)} is longer than {MAX_NAME_CHARS} characters", loc,
                         "use a short identifier; put the full wording in `label:` or `description:`")
    if not _IDENT.match(name) or keyword.iskeyword(name):
        raise ModelError(
            f"{excerpt(name)} is not a valid name",
            loc,
            "names start with a letter and use only letters, digits and _ (no spaces, no dots)",
        )
    if name in FUNCTIONS or name in RESERVED or name in SPECIAL_NAMES:
        raise ModelError(f"{name!r} is reserved (a function or built-in name)", loc,
                         "choose another name, for example by adding a suffix")


def check_unique_names(spec: Spec) -> None:
    """Nodes, inputs, parameters and auxiliaries share one namespace (expressions refer to
    all of them)."""
    seen: dict[str, str] = {}
    singular = {"nodes": "node", "inputs": "input", "parameters": "parameter",
                "auxiliaries": "auxiliary"}
    for section in ("nodes", "inputs", "parameters", "auxiliaries"):
        for name in getattr(spec, section):
            check_identifier(spec, section, name)
            if name in seen:
                article = "an" if section[0] in "aeiou" else "a"
                raise ModelError(
                    f"duplicate name {name!r}: it is both a {seen[name]} and {article} {singular[section]}",
                    spec.location(section, name),
                    "nodes, inputs, parameters and auxiliaries share one namespace; rename one",
                )
            seen[name] = singular[section]
    for name in spec.events:  # not names in expressions: only the form is checked
        if not _IDENT.match(name) or len(name) > MAX_NAME_CHARS:
            raise ModelError(f"{excerpt(name, 40)} is not a valid name", spec.location("events", name),
                             "names start with a letter and use only letters, digits and _")


def _unknown(spec: Spec, section: str, name: str, what: str, ref: str, choices: list[str]) -> ModelError:
    return ModelError(
        f"unknown {what} {excerpt(ref)}." + did_you_mean(ref, choices),
        spec.location(section, name),
        f"declare it under `{what}s:` first, or use one of: " + ", ".join(choices[:25]),
    )


def check_edges(spec: Spec) -> None:
    nodes = list(spec.nodes)
    sources = nodes + list(spec.inputs)
    node_set, source_set = set(nodes), set(sources)  # sets: validation stays linear in the model's size
    for eid, edge in spec.edges.items():
        if edge.from_ not in source_set:
            raise _unknown(spec, "edges", eid, "node", edge.from_, sources)
        if edge.to not in node_set:
            hint_list = nodes
            if edge.to in spec.inputs:
                raise ModelError(f"edge target {edge.to!r} is an input; inputs cannot be driven",
                                 spec.location("edges", eid), "point the edge at a node")
            raise _unknown(spec, "edges", eid, "node", edge.to, hint_list)
        if edge.gate is not None and edge.gate not in node_set:
            raise _unknown(spec, "edges", eid, "node", edge.gate, nodes)


def check_parameter_graph(spec: Spec) -> None:
    """Parameter expressions may refer to parameters only, and never in a cycle."""
    params = set(spec.parameters)
    graph: TopologicalSorter[str] = TopologicalSorter()
    for name, p in spec.parameters.items():
        graph.add(name)
        if isinstance(p.value, str):
            expr = parse_expr(p.value, allowed_names=params, location=spec.location("parameters", name))
            graph.add(name, *sorted(expr.names))
    _refuse_cycle(graph, spec, "parameters",
                  "a derived parameter must be computable from parameters that do not depend on it")


def _refuse_cycle(graph: TopologicalSorter[str], spec: Spec, section: str, hint: str) -> None:
    """A ModelError naming a cycle of `graph` (entries of `section` that use each other)."""
    try:
        graph.prepare()
    except CycleError as exc:
        names = list(exc.args[1])  # along the arrows, used -> user, the first name repeated last
        raise ModelError(f"{section} refer to each other in a cycle: " + " -> ".join(names),
                         spec.location(section, names[1]), hint) from None


def check_quantities(spec: Spec) -> None:
    """Expressions in node fields and edge weights may use parameters only."""
    params = set(spec.parameters)
    for name, node in spec.nodes.items():
        for q in NODE_QUANTITIES:
            v = getattr(node, q)
            if isinstance(v, str):
                loc = spec.location("nodes", name)
                parse_expr(v, allowed_names=params, location=loc.__class__(loc.file, loc.line,
                                                                           f"node '{name}'.{q}"))
    for eid, edge in spec.edges.items():
        if isinstance(edge.weight, str):
            loc = spec.location("edges", eid)
            parse_expr(edge.weight, allowed_names=params,
                       location=loc.__class__(loc.file, loc.line, f"edge '{eid}'.weight"))


def _sub(loc: Location, what: str) -> Location:
    return Location(loc.file, loc.line, what)


def check_auxiliaries(spec: Spec) -> None:
    """Auxiliaries use states, inputs, parameters, `t` and other auxiliaries, never in a cycle."""
    allowed = set(spec.nodes) | set(spec.inputs) | set(spec.parameters) | set(spec.auxiliaries) | {"t"}
    graph: TopologicalSorter[str] = TopologicalSorter()
    for name, aux in spec.auxiliaries.items():
        expr = parse_expr(aux.expr, allowed_names=allowed,
                          location=_sub(spec.location("auxiliaries", name), f"auxiliary '{name}'.expr"))
        graph.add(name, *sorted(expr.names & set(spec.auxiliaries)))
    _refuse_cycle(graph, spec, "auxiliaries",
                  "an auxiliary must be computable from states, inputs, parameters and auxiliaries "
                  "that do not depend on it; a quantity that feeds back on itself is a state (a node with a rate)")


def check_rates(spec: Spec) -> None:
    """Custom rates may use states, inputs, parameters, auxiliaries, `t` and `drive` (the
    summed edges)."""
    allowed = (set(spec.nodes) | set(spec.inputs) | set(spec.parameters) | set(spec.auxiliaries)
               | SPECIAL_NAMES)
    incoming: dict[str, int] = {n: 0 for n in spec.nodes}
    for edge in spec.edges.values():
        incoming[edge.to] += 1
    for name, node in spec.nodes.items():
        if node.rate is None:
            continue
        loc = spec.location("nodes", name)
        expr = parse_expr(node.rate, allowed_names=allowed,
                          location=loc.__class__(loc.file, loc.line, f"node '{name}'.rate"))
        if node.signs:
            direct = _direct_names(spec, expr) & (set(spec.nodes) | set(spec.inputs))
            for src in node.signs:
                if src not in direct:
                    raise ModelError(
                        f"node {name!r} declares the sign of {excerpt(src)}, which its rate does not use",
                        loc, "`signs:` gives the sign of states and inputs the rate names: "
                             + (", ".join(sorted(direct)) or "(none)"))
        if incoming[name] and "drive" not in expr.names:
            raise ModelError(
                f"node {name!r} has {incoming[name]} incoming edge(s) but its rate ignores them",
                loc,
                "use `drive` (baseline + weighted inputs) in the rate, e.g. "
                "rate: '(sigmoid(drive) - x) / tau', or remove the edges",
            )


def _direct_names(spec: Spec, expr: Expr) -> set[str]:
    """Names an expression uses, directly or through (chains of) auxiliaries."""
    seen, todo = set(), list(expr.names)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in spec.auxiliaries:
            todo += parse_expr(spec.auxiliaries[n].expr).names
    return seen


def check_noise_scales(spec: Spec) -> None:
    """A noise scale uses states, inputs, parameters, auxiliaries and `t`, on a node with noise."""
    allowed = set(spec.nodes) | set(spec.inputs) | set(spec.parameters) | set(spec.auxiliaries) | {"t"}
    for name, node in spec.nodes.items():
        if node.noise_scale is None:
            continue
        loc = spec.location("nodes", name)
        parse_expr(node.noise_scale, allowed_names=allowed, location=_sub(loc, f"node '{name}'.noise_scale"))
        if node.noise == 0.0 or node.noise == 0:
            raise ModelError(f"node {name!r} has a noise_scale but no noise", loc,
                             "give `noise:` (the amplitude the scale multiplies), or remove noise_scale")


def check_observations(spec: Spec) -> None:
    allowed = set(spec.nodes) | set(spec.parameters) | set(spec.inputs) | set(spec.auxiliaries)
    for name, obs in spec.observations.items():
        loc = spec.location("observations", name)
        parse_expr(obs.expr, allowed_names=allowed,
                   location=loc.__class__(loc.file, loc.line, f"observation '{name}'.expr"))


def check_interventions(spec: Spec) -> None:
    params = list(spec.parameters) + spec.auto_parameter_names()
    param_set = set(params)
    for name, iv in spec.interventions.items():
        for action in iv.actions:
            if hasattr(action, "clamp") and action.clamp not in spec.nodes:
                raise _unknown(spec, "interventions", name, "node", action.clamp, list(spec.nodes))
            if hasattr(action, "set_state") and action.set_state not in spec.nodes:
                raise _unknown(spec, "interventions", name, "node", action.set_state, list(spec.nodes))
            for attr in ("scale_edge", "cut_edge"):
                ref = getattr(action, attr, None)
                if ref is not None and ref not in spec.edges:
                    raise _unknown(spec, "interventions", name, "edge", ref, list(spec.edges))
            for attr in ("shift", "set"):
                ref = getattr(action, attr, None)
                if isinstance(ref, str) and ref not in param_set:
                    raise _unknown(spec, "interventions", name, "parameter", ref, params)
            comp = getattr(action, "add_input", None)
            if comp is not None and comp.input not in spec.inputs:
                raise _unknown(spec, "interventions", name, "input", comp.input, list(spec.inputs))


def check_schedule(spec: Spec) -> None:
    for comp in spec.schedule:
        if comp.input not in spec.inputs:
            raise ModelError(
                f"schedule: unknown input {comp.input!r}." + did_you_mean(comp.input, spec.inputs),
                spec.location("schedule", comp.input),
                "declare it under `inputs:` first",
            )


def check_events(spec: Spec) -> None:
    """Event updates set states and sampled or fixed parameters; conditions use the model's
    names; draws (uniform, normal, bernoulli) only in updates."""
    params = set(spec.parameters)
    names = set(spec.nodes) | set(spec.inputs) | params | set(spec.auxiliaries) | {"t"}
    settable = set(spec.nodes) | {n for n, p in spec.parameters.items() if not isinstance(p.value, str)}
    for name, ev in spec.events.items():
        loc = spec.location("events", name)
        for target, value in ev.set.items():
            if target not in settable:
                if target in params:
                    raise ModelError(
                        f"event {name!r} sets the derived parameter {target!r}", loc,
                        "a derived parameter is recomputed from its expression; set the parameters "
                        "it is derived from, or give it a prior or a number")
                raise ModelError(
                    f"event {name!r} sets unknown state or parameter {excerpt(target)}."
                    + did_you_mean(target, settable), loc,
                    "an event sets nodes (states) and parameters with a prior or a number: "
                    + ", ".join(sorted(settable)[:25]))
            parse_expr(value, allowed_names=names, random=True,
                       location=_sub(loc, f"event '{name}'.set.{target}"))
        if ev.when is not None:
            parse_expr(ev.when, allowed_names=names, location=_sub(loc, f"event '{name}'.when"))
            parse_expr(ev.crosses, allowed_names=params, location=_sub(loc, f"event '{name}'.crosses"))


def check_not_empty(spec: Spec) -> None:
    if not spec.nodes:
        raise ModelError("the model has no nodes", spec.location("nodes", ""),
                         "declare at least one node under `nodes:` (or include a module)")


RULES = (
    check_not_empty,
    check_unique_names,
    check_edges,
    check_parameter_graph,
    check_quantities,
    check_auxiliaries,
    check_rates,
    check_noise_scales,
    check_observations,
    check_events,
    check_interventions,
    check_schedule,
)


def validate_spec(spec: Spec) -> None:
    """Apply every rule; the first broken one raises ModelError."""
    for rule in RULES:
        rule(spec)
