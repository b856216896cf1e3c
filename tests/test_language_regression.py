"""The built-in theories are unchanged by additions to the model language.

Their calibrations were computed against these exact models: the content hash, the
generated kernel source (so the compiled numba code) and a short simulation must stay
what they were before auxiliaries and events existed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from fitts.sim.backends.codegen import numba_kernel_module, numpy_rhs_source
from fitts.sim.simulate import as_compiled, simulate
from fitts.spec.load import load_model

#: content hash, sha256 prefix of the numba kernel module and of the NumPy rhs source,
#: and (sum of the trajectory, one final state, another final state) of a short run.
#: The kernel prefixes changed with the block-local (vectorised) kernel template of
#: 2026-12-02, whose results are bit for bit those of the scalar template before it.
BEFORE = {
    "fitts": ("7e4ebae2f2788ffb", "e62cc9d4d011e521", "91fce3fac0bbae32",
              (68.30603014031752, 0.010478905938071527, 0.7523522780146571)),
    "sympathetic_drg": ("bd97bb242918cd51", "4dd27ae07cdd2939", "e7e57af30b9ea61d",
                        (47.134553301278075, 0.046958129390467326, 0.7799209669243135)),
    "integrated": ("188aee5b4e029f2c", "74a19efed687042b", "f0c8417bdad28beb",
                   (69.49699471357849, 0.022552157556919417, 0.9206638428100695)),
}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_builtin_hash_and_kernel_source_unchanged(name: str) -> None:
    model_hash, kernel, rhs, _ = BEFORE[name]
    assert load_model(name).content_hash == model_hash
    m = as_compiled(name)
    assert _sha(numba_kernel_module(m)) == kernel
    assert _sha(numpy_rhs_source(m)) == rhs


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_builtin_short_simulation_unchanged(name: str) -> None:
    ds = simulate(name, patients=3, days=5, dt=0.05, seed=7, backend="numpy", command="x")
    tr = ds.trajectory.values
    got = (float(tr.sum()), float(tr[:, -1].ravel()[0]), float(tr[2, -1, -1]))
    np.testing.assert_allclose(got, BEFORE[name][3], rtol=1e-13, atol=0)
