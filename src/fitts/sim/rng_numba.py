"""The counter-based generator of :mod:`fitts.sim.rng` for compiled (numba) loops.

Scalar Squares64 and the ziggurat normal, bit for bit the NumPy functions of
:mod:`fitts.sim.rng` (``squares64_np``, ``normals_np``). Kept apart so that code that only
needs NumPy never imports or compiles numba functions. The functions compile lazily, on
first call from a kernel; a kernel cached on disk (:mod:`fitts.sim.kernel_cache`) carries
their machine code with it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fitts.sim.rng import _INV53, _SLOW_BASE, _SLOW_DRAWS, _ZIG_R, ZIG_F, ZIG_K, ZIG_W


@njit(inline="always")
def squares64(ctr: np.uint64, key: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """Squares64 on one (counter, key): five rounds of squaring (Widynski 2020)."""
    s = np.uint64(32)
    y = x = ctr * key
    z = y + key
    x = x * x + y
    x = (x >> s) | (x << s)
    x = x * x + z
    x = (x >> s) | (x << s)
    x = x * x + y
    x = (x >> s) | (x << s)
    t = x = x * x + z
    x = (x >> s) | (x << s)
    return t ^ ((x * x + y) >> s)


@njit(inline="always")
def _split(h: np.uint64) -> tuple[int, int]:  # pragma: no cover - compiled
    """A signed 32-bit value (low bits) and a layer index (bits 32-38) from one draw."""
    hz = np.int64(h & np.uint64(0xFFFFFFFF))
    if hz >= 2147483648:
        hz -= 4294967296
    iz = np.int64((h >> np.uint64(32)) & np.uint64(127))
    return hz, iz


@njit(inline="always")
def _uni(h: np.uint64) -> float:  # pragma: no cover - compiled
    return (float(h >> np.uint64(11)) + 0.5) * _INV53


@njit
def _normal_slow(ctr: np.uint64, key: np.uint64, hz: int, iz: int) -> float:  # pragma: no cover
    """Ziggurat rejection path (about 1.2 % of draws)."""
    base = _SLOW_BASE + ctr * np.uint64(_SLOW_DRAWS)
    j = 0
    x = hz * ZIG_W[iz]
    while j < _SLOW_DRAWS - 3:
        x = hz * ZIG_W[iz]
        if iz == 0:
            while j < _SLOW_DRAWS - 2:
                xt = -math.log(_uni(squares64(base + np.uint64(j), key))) / _ZIG_R
                yt = -math.log(_uni(squares64(base + np.uint64(j + 1), key)))
                j += 2
                if yt + yt >= xt * xt:
                    return _ZIG_R + xt if hz > 0 else -_ZIG_R - xt
            return x
        u = _uni(squares64(base + np.uint64(j), key))
        j += 1
        if ZIG_F[iz] + u * (ZIG_F[iz - 1] - ZIG_F[iz]) < math.exp(-0.5 * x * x):
            return x
        hz, iz = _split(squares64(base + np.uint64(j), key))
        j += 1
        if abs(hz) < ZIG_K[iz]:
            return hz * ZIG_W[iz]
    return x


@njit(inline="always")
def normal(ctr: np.uint64, key: np.uint64) -> float:  # pragma: no cover - compiled
    """One standard normal for counter `ctr` of stream `key` (ziggurat)."""
    hz, iz = _split(squares64(ctr, key))
    if abs(hz) < ZIG_K[iz]:
        return hz * ZIG_W[iz]
    return _normal_slow(ctr, key, hz, iz)


@njit(error_model="numpy")
def normals_into(ctr: np.uint64, keys: np.ndarray, out: np.ndarray, m: int,
                 slow: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[p] = normal(ctr, keys[p])`` for p < m, the same numbers as :func:`normal`.

    Written so that LLVM vectorises the fast path: one loop over the streams computes
    Squares64 and the ziggurat's accepted value for every p with no branch (the layer
    tables read by gathers) and marks the draws that the ziggurat rejects; a second loop
    replaces only those (about 1.2 % of draws) with :func:`_normal_slow`.

    Parameters
    ----------
    ctr
        The counter, shared by all streams.
    keys
        Stream keys, shape (>= m,) uint64.
    out
        Output, shape (>= m,) float64. (An offset into it, rather than a view, would
        make the stores scatters: the index could be negative, as far as LLVM knows.)
    slow
        Scratch, shape (>= m,) int64.
    """
    nslow = 0
    for p in range(m):
        hz, iz = _split(squares64(ctr, keys[p]))
        out[p] = hz * ZIG_W[iz]
        rejected = 0 if abs(hz) < ZIG_K[iz] else 1
        slow[p] = rejected
        nslow += rejected
    if nslow > 0:
        for p in range(m):
            if slow[p] != 0:
                hz, iz = _split(squares64(ctr, keys[p]))
                out[p] = _normal_slow(ctr, keys[p], hz, iz)
