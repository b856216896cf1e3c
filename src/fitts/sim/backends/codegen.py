"""Python source for a model's right-hand side, rendered from the checked rate trees.

The source is produced by the renderers of :mod:`fitts.spec.expr` from trees that
passed the whitelist; names are mapped to array accesses chosen here. Model text is
never pasted into it. `build` compiles that generated source in a namespace holding
only numpy and math.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from fitts.compile.compiled import CompiledModel
from fitts.spec.expr import NumbaRenderer, NumpyRenderer, numba_helpers


def numpy_rhs_source(model: CompiledModel) -> str:
    """``rhs(X, P, U, t, out)``: X (n_states, n), P (n_params, n), U (n_inputs, n_u)."""
    r = NumpyRenderer(model.name_map("numpy"))
    lines = ["def rhs(X, P, U, t, out):"]
    for i, rate in enumerate(model.rates):
        lines.append(f"    out[{i}] = {r.render(rate)}")
    return "\n".join(lines) + "\n"


def numba_rhs_source(model: CompiledModel) -> str:
    """``rhs(X, P, U, us, t, out, p0, p1)`` looping over patients p0..p1-1.

    Inputs are read as ``U[j, p * us]`` (us = 0 when one column serves every patient).
    """
    r = NumbaRenderer(model.name_map("numba"))
    lines = ["def rhs(X, P, U, us, t, out, p0, p1):", "    for p in range(p0, p1):"]
    for i, rate in enumerate(model.rates):
        lines.append(f"        out[{i}, p] = {r.render(rate)}")
    return "\n".join(lines) + "\n"


def build_numba(source: str) -> Callable:
    """Generated numba source compiled with the NaN-propagating min/max helpers."""
    return build(source, extra=numba_helpers())


def build(source: str, name: str = "rhs", extra: dict | None = None) -> Callable:
    """Compile generated source (from checked trees only) and return function `name`."""
    namespace: dict = {"np": np, "math": math, "__builtins__": {"range": range, "min": min,
                                                                "max": max, "abs": abs,
                                                                "float": float}}
    namespace.update(extra or {})
    code = compile(source, f"<fitts generated {name}>", "exec")
    exec(code, namespace)  # safe: source rendered from whitelisted expression trees only
    return namespace[name]
