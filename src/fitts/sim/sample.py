"""Per-patient parameters: sample priors from each patient's own stream, then derive.

Row k of the parameter table uses counter k of the patient's `params` stream, so a
patient's parameters are the same in any chunk. Derived rows are evaluated with the
reference expression interpreter (no generated code) in dependency order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
from fitts.sim.quantiles import prior_ppf
from fitts.sim.rng import uniforms
from fitts.spec.expr import evaluate


def sample_free(model: CompiledModel, patients: np.ndarray, seed: int,
                u: np.ndarray | None = None) -> np.ndarray:
    """Fixed and prior rows, shape (n_params, n); derived rows are NaN until :func:`derive`.

    Parameters
    ----------
    u
        Optional uniforms, shape (n, n_params), replacing the patient streams (used by
        population samplers that correlate parameters through a copula).
    """
    patients = np.asarray(patients, dtype=np.int64)
    n = len(patients)
    P = np.full((len(model.params), n), np.nan)
    if u is None:
        u = uniforms(seed, patients, "params", len(model.params))
    for k, row in enumerate(model.params):
        if row.kind == "fixed":
            P[k] = row.value
        elif row.kind == "prior":
            P[k] = prior_ppf(row.prior, u[:, k])
    return P


def _adjust(P: np.ndarray, k: int, op: str, value: float | np.ndarray) -> None:
    if op == "set":
        P[k] = value
    elif op == "shift":
        P[k] = P[k] + value
    elif op == "scale":
        P[k] = P[k] * value
    else:  # pragma: no cover
        raise ValueError(op)


def derive(model: CompiledModel, P: np.ndarray, patients: np.ndarray | None = None,
           adjust: Mapping[int, list[tuple[str, float | np.ndarray]]] | None = None) -> np.ndarray:
    """Fill derived rows in place (dependency order) and check every row's domain.

    Parameters
    ----------
    adjust
        Row index -> [(op, value)] with op in set/shift/scale, applied to a sampled row
        before derivation and to a derived row right after it is computed, so that rows
        depending on it see the adjusted value.
    """
    adjust = adjust or {}
    derived = set(model.derived_order)
    for k, ops in adjust.items():
        if k not in derived:
            for op, value in ops:
                _adjust(P, k, op, value)
    with np.errstate(all="ignore"):
        for k in model.derived_order:
            row = model.params[k]
            env = {name: P[model.param_index[name]] for name in row.expr.names}  # type: ignore[union-attr]
            P[k] = np.broadcast_to(evaluate(row.expr, env), P.shape[1:])  # type: ignore[arg-type]
            for op, value in adjust.get(k, ()):
                _adjust(P, k, op, value)
    check_domains(model, P, patients)
    return P


def rederive(model: CompiledModel, P: np.ndarray, changed: int, value: np.ndarray,
             patients: np.ndarray | None = None,
             adjust: Mapping[int, list[tuple[str, float | np.ndarray]]] | None = None) -> None:
    """Give the sampled row `changed` a new base `value` (shape (n,)) in a derived table P, in
    place: its adjustments applied again, the derived rows that depend on it (directly or not)
    re-derived in order, and those rows' domains checked. The same result as :func:`derive`
    from the changed free rows, at the cost of the affected rows only (an event's update)."""
    adjust = adjust or {}
    P[changed] = value
    for op, v in adjust.get(changed, ()):
        _adjust(P, changed, op, v)
    touched = {model.params[changed].name}
    rows = [changed]
    with np.errstate(all="ignore"):
        for k in model.derived_order:
            row = model.params[k]
            if not (row.expr.names & touched):  # type: ignore[union-attr]
                continue
            env = {name: P[model.param_index[name]] for name in row.expr.names}  # type: ignore[union-attr]
            P[k] = np.broadcast_to(evaluate(row.expr, env), P.shape[1:])  # type: ignore[arg-type]
            for op, v in adjust.get(k, ()):
                _adjust(P, k, op, v)
            touched.add(row.name)
            rows.append(k)
    check_domains(model, P, patients, rows)


def check_domains(model: CompiledModel, P: np.ndarray, patients: np.ndarray | None = None,
                  rows: list[int] | None = None) -> None:
    """Every patient's value of every row (or of `rows`) must lie in the row's domain (tau > 0, ...)."""
    for k in (range(len(model.params)) if rows is None else rows):
        row = model.params[k]
        lo, hi = row.domain
        v = P[k]
        bad = ~np.isfinite(v) & ~(np.isinf(v) & (np.isinf(lo) | np.isinf(hi)))
        bad |= (v <= lo) if row.open_low else (v < lo)
        bad |= v > hi
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            who = int(patients[i]) if patients is not None else i
            raise ModelError(
                f"parameter {row.name!r} = {v[i]!r} for patient {who} "
                f"({int(bad.sum())} patient(s) in all) lies outside its domain "
                f"{'(' if row.open_low else '['}{lo:g}, {hi:g}]",
                model.spec.location("parameters", row.name.split(".", 1)[-1]),
                "change the prior or the expression so every patient gets a valid value",
            )


def sample_parameters(model: CompiledModel, patients: np.ndarray | int, seed: int,
                      overrides: Mapping[str, float | np.ndarray] | None = None) -> np.ndarray:
    """Per-patient parameter matrix, shape (n_params, n): sample, override, derive.

    Parameters
    ----------
    patients
        Patient ids (shape (n,)) or a count n (ids 0..n-1).
    overrides
        Values (scalar or shape (n,)) replacing sampled or fixed rows before derivation.
    """
    ids = np.arange(patients) if isinstance(patients, int | np.integer) else np.asarray(patients)
    P = sample_free(model, ids, seed)
    adjust = {}
    for name, value in (overrides or {}).items():
        if name not in model.param_index:
            raise ModelError(f"unknown parameter {name!r}." + did_you_mean(name, model.param_index))
        adjust[model.param_index[name]] = [("set", value)]
    return derive(model, P, ids, adjust)


def start_at(model: CompiledModel, X: np.ndarray) -> dict[str, np.ndarray]:
    """Parameter overrides (``initial.NODE`` rows) that start each patient at states X.

    X has shape (n, n_states), states in model order; pass the result as ``params`` to
    :func:`fitts.simulate` to continue patients from where an earlier run left them.
    """
    X = np.asarray(X, dtype=float)
    return {f"initial.{s}": X[:, i] for i, s in enumerate(model.states)}


def typical_parameters(model: CompiledModel, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The typical patient: every sampled row at its prior median (all uniforms 0.5).

    Bernoulli predispositions with p < 0.5 are therefore absent; pass `overrides` to set
    them. Returns the sampled (non-derived) rows by name, ready for ``simulate(params=...)``.
    """
    u = np.full((1, len(model.params)), 0.5)
    P = sample_free(model, np.array([0]), seed=0, u=u)
    out = {row.name: float(P[k, 0]) for k, row in enumerate(model.params) if row.kind == "prior"}
    for name, value in (overrides or {}).items():
        if name not in model.param_index:
            raise ModelError(f"unknown parameter {name!r}." + did_you_mean(name, model.param_index))
        out[name] = float(value)
    return out
