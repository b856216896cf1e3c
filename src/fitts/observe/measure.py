"""Evaluate a model's `observations` on simulated states, with measurement noise.

Each observation is an expression over states, parameters and inputs (checked like every
expression), plus Gaussian noise (sd in the observation's units) drawn from the
patient's own `observe` stream, then clipped to its bounds and optionally rounded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from fitts.compile.compiled import CompiledModel
from fitts.errors import DataError, did_you_mean
from fitts.sim.rng import normals
from fitts.spec.expr import evaluate, parse_expr


def observe(model: CompiledModel, ds: xr.Dataset, names: Sequence[str] | None = None, *,
            seed: int | None = None, noise: bool = True) -> xr.Dataset:
    """Observations on the recorded grid, one variable per observation, dims (patient, time).

    Parameters
    ----------
    model
        The compiled model that produced `ds`.
    ds
        A simulation result with `trajectory` (patient, time, state) and `params`.
    names
        Observations to compute (default: all the model declares).
    seed
        Seed of the measurement noise (default: the simulation's seed). Observation k of
        the model uses counters k * n_times ... of each patient's `observe` stream, so a
        patient's measurements do not depend on the others.
    """
    spec = model.spec
    if "trajectory" not in ds:
        raise DataError("observations need a trajectory; simulate with record='grid'")
    if ds.attrs.get("model_hash") not in (None, model.model_hash):
        raise DataError(f"result was simulated with model {ds.attrs.get('model_hash')}, "
                        f"not {model.model_hash}")
    names = list(spec.observations) if names is None else list(names)
    seed = int(ds.attrs.get("seed", 0)) if seed is None else seed
    order = list(spec.observations)
    traj = ds["trajectory"]
    ids = ds.patient.values
    n_t = traj.sizes["time"]
    out = {}
    for name in names:
        if name not in spec.observations:
            raise DataError(f"unknown observation {name!r}." + did_you_mean(name, spec.observations))
        ob = spec.observations[name]
        expr = model.in_days(model.inline(parse_expr(ob.expr)))  # auxiliaries as their expressions
        env = {}
        for ref in expr.names:
            if ref == "t":
                env[ref] = traj.time.values[None, :]
            elif ref in model.state_index:
                env[ref] = traj.sel(state=ref).values
            elif ref in model.param_index:
                env[ref] = ds["params"].sel(parameter=ref).values[:, None]
            else:  # an input: its default level (schedules are not stored with results)
                env[ref] = model.input_defaults[model.input_index[ref]]
        value = np.broadcast_to(np.asarray(evaluate(expr, env), dtype=float), traj.shape[:2]).copy()
        if noise and ob.noise > 0:
            k = order.index(name)
            value += ob.noise * normals(seed, ids, "observe", n_t, offset=k * (1 << 32))
        lo, hi = ob.bounds
        value = np.clip(value, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        if ob.integer:
            value = np.round(value)
        out[name] = xr.DataArray(value, dims=("patient", "time"),
                                 coords={"patient": ids, "time": traj.time.values},
                                 attrs={"units": ob.units, "source": ob.source or "",
                                        "expr": ob.expr, "noise_sd": ob.noise})
    res = xr.Dataset(out)
    res.attrs.update({k: v for k, v in ds.attrs.items()})
    res.attrs["observation_seed"] = seed
    return res
