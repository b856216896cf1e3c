"""Signed links read from custom rates: what a `rate:` expression depends on, and with which sign.

A node written with a custom rate depends on the states and inputs its expression names
(directly or through auxiliaries), not only through `drive`. Each such dependency is a
link of the causal graph, so that loops, the diagram and the loop tables see a model
written with rates. Its sign is the one declared in the node's `signs:` or, when not
declared, the sign of ∂rate/∂source where that sign is clear: the derivative (sympy,
exact) is evaluated at many points (states across their bounds, inputs and `drive`
across a wide range, parameters at the typical patient) and has one sign at all of
them. A dependency whose sign changes is left out and reported (declare it to include it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitts.analysis.keyed_cache import keyed_cache
from fitts.spec.model import Spec

#: points at which a derivative's sign is read
N_POINTS = 256
#: range used for an unbounded state, an input or `drive`
WIDE = 3.0


@dataclass(frozen=True)
class RateLink:
    """A dependency of a custom rate: `source` acts on `target` with `sign` (+1, -1; 0: unclear)."""

    source: str
    target: str
    sign: int
    declared: bool

    @property
    def id(self) -> str:
        """The link's id in the signed graph: ``"source -> target [rate]"``."""
        return f"{self.source} -> {self.target} [rate]"


def rate_links(spec: Spec) -> tuple[RateLink, ...]:
    """Every state or input a custom rate names directly (not through `drive`), signed."""
    if not any(node.rate is not None for node in spec.nodes.values()):
        return ()
    return _rate_links(spec)


@keyed_cache(key=lambda spec: spec.content_hash, maxsize=32)  # sympy per model content: slow, reused often
def _rate_links(spec: Spec) -> tuple[RateLink, ...]:
    import sympy as sp

    from fitts.compile.compiled import compile_model
    from fitts.sim.sample import derive, sample_free
    from fitts.spec.expr import SympyRenderer, parse_expr

    model = compile_model(spec)
    P = derive(model, sample_free(model, np.array([0]), 0, u=np.full((1, len(model.params)), 0.5)))
    values = {p.name: float(P[k, 0]) for k, p in enumerate(model.params)}
    rng = np.random.default_rng(0)
    sources = list(spec.nodes) + list(spec.inputs)
    samples: dict[str, np.ndarray] = {}
    for name, node in spec.nodes.items():
        lo, hi = node.bounds
        lo = -WIDE if lo is None else lo
        hi = WIDE if hi is None else hi
        samples[name] = rng.uniform(lo, hi, N_POINTS)
    for name in spec.inputs:
        samples[name] = rng.uniform(-WIDE, WIDE, N_POINTS)
    samples["drive"] = rng.uniform(-WIDE, WIDE, N_POINTS)
    samples["t"] = rng.uniform(0.0, 365.0, N_POINTS)
    symbols = {n: sp.Symbol(f"s_{i}") for i, n in enumerate([*sources, "drive", "t"])}
    symbols.update({p: sp.Float(v) for p, v in values.items()})
    out: list[RateLink] = []
    for target, node in spec.nodes.items():
        if node.rate is None:
            continue
        expr = model.inline(parse_expr(node.rate))
        used = [s for s in sources if s in expr.names and s != target]
        if not used:
            continue
        rate = SympyRenderer(symbols).render(expr)
        declared = dict(node.signs or {})
        args = [symbols[n] for n in [*sources, "drive", "t"]]
        columns = [samples[n] for n in [*sources, "drive", "t"]]
        for source in used:
            if source in declared:
                out.append(RateLink(source, target, 1 if declared[source] == "+" else -1, True))
                continue
            d = sp.lambdify(args, sp.diff(rate, symbols[source]), modules="numpy")
            with np.errstate(all="ignore"):
                v = np.broadcast_to(np.asarray(d(*columns), dtype=float), (N_POINTS,))
            v = v[np.isfinite(v) & (np.abs(v) > 1e-12)]
            if not len(v):
                continue  # no effect at any point: not a link
            sign = 1 if (v > 0).all() else -1 if (v < 0).all() else 0
            out.append(RateLink(source, target, sign, False))
    return tuple(out)
