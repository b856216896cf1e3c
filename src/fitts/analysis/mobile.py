"""The "hanging mobile": how every component settles after a sustained small push on another.

At an attractor ``x*`` of ``dx/dt = f(x)``, a small sustained additive push ``δ_j`` on
the drive of node j moves the steady state, to first order, by

    dx* = S[:, j] δ_j,    S = -J⁻¹ B,    B = diag(d f_i / d drive_i),

with ``J`` the exact Jacobian at ``x*`` (:class:`fitts.analysis.steady.VectorField`). For
the default dynamics ``B_ii = sigmoid'(drive_i) / tau_i``, so ``S`` does not depend on the
time constants: it is the static "mobile" of the theory (Pinto et al. 2023's image of
each mechanism hanging on the others). A push on node j's drive is the same as a shift of
its ``baseline.j`` row; ``S[i, j]`` is in activation of i per unit of drive of j.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from fitts.analysis.steady import (
    ILL_NRS_CUTOFF,
    VectorField,
    find_steady_states,
    steady_table,
    vector_field,
)
from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError


def sensitivity_matrix(field: VectorField, x: np.ndarray) -> np.ndarray:
    """``S = -J⁻¹ B`` at a steady state, shape (n, n): row = responding state, column = pushed node.

    Parameters
    ----------
    field
        The patient's vector field.
    x
        A steady state, shape (n,).

    Raises
    ------
    ModelError
        When the Jacobian is singular (a fold or another non-hyperbolic point).
    """
    J = field.jacobian(x)
    B = np.diag(field.gain(x))
    try:
        return -np.linalg.solve(J, B)
    except np.linalg.LinAlgError:
        raise ModelError("the Jacobian is singular at this steady state (a fold?): a sustained push has "
                         "no finite steady response", hint="move the parameters or inputs off the fold") from None


def mobile(model: CompiledModel, params: Mapping[str, float] | None = None,
           inputs: Mapping[str, float] | None = None, *, steady: pd.DataFrame | None = None,
           starts: int = 128, seed: int = 0, cutoff: float = ILL_NRS_CUTOFF) -> xr.Dataset:
    """Sensitivity matrices at every attractor of one patient (healthy and ill).

    Parameters
    ----------
    model
        A compiled model.
    params, inputs
        The patient (other rows at their prior median) and constant input levels.
    steady
        A table from :func:`fitts.analysis.steady.steady_states` for the same patient (found
        afresh when None).
    starts, seed, cutoff
        Passed to the steady-state search and labelling.

    Returns
    -------
    xarray.Dataset
        ``sensitivity`` (attractor, response, push): activation per unit drive;
        ``steady_state`` (attractor, response): activation; coordinate ``label`` on
        ``attractor`` ("healthy", "ill" or "" without a pain state). Attractors are
        ordered as in the steady-state table (by pain).
    """
    field = vector_field(model, params, inputs)
    if steady is None:
        steady = steady_table(field, find_steady_states(field, starts=starts, seed=seed), cutoff=cutoff)
    att = steady[steady["stable"]]
    if att.empty:
        raise ModelError("the patient has no stable steady state: no mobile to draw",
                         hint="check the parameters and inputs with `fitts steady`")
    X = att[list(model.states)].to_numpy(float)
    S = np.stack([sensitivity_matrix(field, x) for x in X])
    names = [f"{lab or 'attractor'} {k}" if (att["label"] == lab).sum() > 1 or not lab else lab
             for k, lab in enumerate(att["label"])]
    ds = xr.Dataset(
        {"sensitivity": (("attractor", "response", "push"), S,
                         {"units": "activation per unit drive", "long_name": "steady-state response to a push"}),
         "steady_state": (("attractor", "response"), X, {"units": "activation"})},
        coords={"attractor": names, "response": list(model.states), "push": list(model.states),
                "label": ("attractor", list(att["label"]))})
    ds.attrs.update(model_name=model.spec.name, model_hash=model.model_hash,
                    inputs=str({u: float(field.U[j]) for j, u in enumerate(model.inputs)}))
    return ds
