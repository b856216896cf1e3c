"""Counter-based random numbers: one stream per (seed, patient, purpose).

A patient's random numbers depend only on (seed, patient id, purpose, counter), never
on which chunk, process or backend simulates them, so a patient's trajectory is the
same alone, in any chunk, or on any number of workers.

The generator is Widynski's "Squares" counter-based RNG (arXiv:2004.06278): five
rounds of squaring of ``counter * key``. It is written by hand because numpy's Philox
cannot be called per element inside a numba loop, and the simulator needs the same
numbers, bit for bit, from a vectorised NumPy path and from compiled loops over
patients. Keys are derived from (seed, patient, purpose) with SplitMix64 and made
odd. Normals come from a ziggurat fed by the stream (see below).

This module is pure NumPy: nothing here is compiled, so the NumPy backend and every
caller of :func:`uniforms`/:func:`normals` start without numba. The same generator for
compiled loops (`squares64`, `normal`) lives in :mod:`fitts.sim.rng_numba`; the names are
also reachable here (imported on first use).
"""

from __future__ import annotations

import math

import numpy as np

PURPOSES: dict[str, int] = {"noise": 0, "params": 1, "events": 2, "observe": 3, "schedule": 4,
                           "population": 5, "trial": 6}

_U32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_INV32 = 1.0 / 4294967296.0
_INV53 = 1.0 / 9007199254740992.0


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def stream_keys(seed: int, patients: np.ndarray, purpose: str) -> np.ndarray:
    """Squares keys, one per patient, shape (n,) uint64.

    Parameters
    ----------
    seed
        The run's seed (any int >= 0).
    patients
        Patient ids, shape (n,), non-negative integers.
    purpose
        One of :data:`PURPOSES` (separate streams for noise, parameters, events, ...).
    """
    pid = np.asarray(patients, dtype=np.int64).astype(np.uint64).reshape(-1)
    s = _splitmix64(np.array([seed % (1 << 64)], dtype=np.uint64))
    k = _splitmix64(s ^ pid)
    k = _splitmix64(k ^ np.uint64(PURPOSES[purpose] + 1))
    return k | np.uint64(1)


def squares64_np(ctr: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Vectorised Squares64: uint64 arrays (broadcast) -> uint64 array.

    Five rounds of squaring of ``ctr * key`` with 64-bit wrap-around (Widynski 2020); bit
    for bit the scalar :func:`fitts.sim.rng_numba.squares64`.
    """
    ctr = np.asarray(ctr, dtype=np.uint64)
    key = np.asarray(key, dtype=np.uint64)
    s = _U32
    with np.errstate(over="ignore"):
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


def uniforms(seed: int, patients: np.ndarray, purpose: str, n: int, offset: int = 0) -> np.ndarray:
    """Uniforms on (0, 1) with 53-bit resolution, shape (len(patients), n).

    Column j uses counter ``offset + j`` of each patient's stream.
    """
    keys = stream_keys(seed, patients, purpose)
    ctr = np.arange(offset, offset + n, dtype=np.uint64)
    h = squares64_np(ctr[None, :], keys[:, None])
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * _INV53


def normals(seed: int, patients: np.ndarray, purpose: str, n: int, offset: int = 0) -> np.ndarray:
    """Standard normals, shape (len(patients), n), from counters offset .. offset+n-1."""
    keys = stream_keys(seed, patients, purpose)
    ctr = np.arange(offset, offset + n, dtype=np.uint64)
    return normals_np(ctr[None, :], keys[:, None])


# --------------------------------------------------------------------------- ziggurat
# Normals by the Marsaglia–Tsang ziggurat (J. Stat. Softw. 2000, 128 layers), fed by the
# counter-based stream: one Squares64 draw per normal gives a 32-bit signed value and,
# from separate bits, the layer index (avoiding the index/value correlation Doornik
# (2005) found in the original). 98.8 % of draws take the fast path (a table lookup, a
# compare and a multiply: no library calls). Rejections draw further uniforms from a
# disjoint counter range, so the result is still a function of (key, counter) only.

_ZIG_R = 3.442619855899
_ZIG_V = 9.91256303526217e-3
_M1 = 2147483648.0
_SLOW_BASE = np.uint64(1 << 62)
_SLOW_DRAWS = 64


def _zig_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kn = np.zeros(128, dtype=np.int64)
    wn = np.zeros(128)
    fn = np.zeros(128)
    dn = tn = _ZIG_R
    q = _ZIG_V / math.exp(-0.5 * dn * dn)
    kn[0] = int((dn / q) * _M1)
    kn[1] = 0
    wn[0] = q / _M1
    wn[127] = dn / _M1
    fn[0] = 1.0
    fn[127] = math.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = math.sqrt(-2.0 * math.log(_ZIG_V / dn + math.exp(-0.5 * dn * dn)))
        kn[i + 1] = int((dn / tn) * _M1)
        tn = dn
        fn[i] = math.exp(-0.5 * dn * dn)
        wn[i] = dn / _M1
    return kn, wn, fn


ZIG_K, ZIG_W, ZIG_F = _zig_tables()


def _split_np(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed 32-bit values (low bits) and layer indices (bits 32-38), int64 arrays."""
    hz = (h & _MASK32).astype(np.int64)
    hz = np.where(hz >= 2147483648, hz - 4294967296, hz)
    iz = ((h >> _U32) & np.uint64(127)).astype(np.int64)
    return hz, iz


def _uni_np(h: np.ndarray) -> np.ndarray:
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * _INV53


def normals_np(ctr: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Standard normals for counters `ctr` of streams `key` (arrays broadcast), float64.

    The same numbers as :func:`fitts.sim.rng_numba.normal`: the fast path is exact
    arithmetic; the rejection path calls ``np.exp``/``np.log``, which equal the C
    library's ``exp``/``log`` that compiled code calls on machines without AVX-512
    (``tests/test_rng.py`` checks the two paths bit for bit).
    """
    ctr, key = np.broadcast_arrays(np.asarray(ctr, dtype=np.uint64), np.asarray(key, dtype=np.uint64))
    hz, iz = _split_np(squares64_np(ctr, key))
    out = hz * ZIG_W[iz]
    slow = np.flatnonzero(~(np.abs(hz) < ZIG_K[iz]))
    if len(slow):  # rare (about 1.2 % of draws)
        out.reshape(-1)[slow] = _normal_slow_np(ctr.reshape(-1)[slow], key.reshape(-1)[slow],
                                                hz.reshape(-1)[slow], iz.reshape(-1)[slow])
    return out


def _normal_slow_np(ctr: np.ndarray, key: np.ndarray, hz: np.ndarray, iz: np.ndarray) -> np.ndarray:
    """The ziggurat's rejection path for many draws at once, shape (m,).

    Runs the scalar algorithm of :func:`fitts.sim.rng_numba._normal_slow` element-wise:
    every draw keeps its own position `j` in its disjoint counter range and leaves the
    loop at the step where the scalar version returns.
    """
    m = ctr.shape[0]
    with np.errstate(over="ignore"):
        base = _SLOW_BASE + ctr * np.uint64(_SLOW_DRAWS)
    hz, iz = hz.astype(np.int64), iz.astype(np.int64)
    out = np.empty(m)
    j = np.zeros(m, dtype=np.uint64)
    x = hz * ZIG_W[iz]
    idx = np.arange(m)
    while idx.size:
        more = j[idx] < np.uint64(_SLOW_DRAWS - 3)
        out[idx[~more]] = x[idx[~more]]
        idx = idx[more]
        x[idx] = hz[idx] * ZIG_W[iz[idx]]
        tail = iz[idx] == 0
        t = idx[tail]
        if t.size:
            out[t] = _tail_np(base[t], key[t], j[t], hz[t], x[t])
        idx = idx[~tail]
        if not idx.size:
            break
        u = _uni_np(squares64_np(base[idx] + j[idx], key[idx]))
        j[idx] += np.uint64(1)
        k = iz[idx]
        xi = x[idx]
        accept = ZIG_F[k] + u * (ZIG_F[k - 1] - ZIG_F[k]) < np.exp(-0.5 * xi * xi)
        out[idx[accept]] = xi[accept]
        idx = idx[~accept]
        hz[idx], iz[idx] = _split_np(squares64_np(base[idx] + j[idx], key[idx]))
        j[idx] += np.uint64(1)
        accept = np.abs(hz[idx]) < ZIG_K[iz[idx]]
        a = idx[accept]
        out[a] = hz[a] * ZIG_W[iz[a]]
        idx = idx[~accept]
    return out


def _tail_np(base: np.ndarray, key: np.ndarray, j: np.ndarray, hz: np.ndarray, x: np.ndarray
             ) -> np.ndarray:
    """Marsaglia's tail algorithm beyond R, element-wise (the scalar inner loop)."""
    out = x.copy()
    j = j.copy()
    idx = np.arange(out.shape[0])
    while idx.size:
        idx = idx[j[idx] < np.uint64(_SLOW_DRAWS - 2)]
        if not idx.size:
            break
        xt = -np.log(_uni_np(squares64_np(base[idx] + j[idx], key[idx]))) / _ZIG_R
        yt = -np.log(_uni_np(squares64_np(base[idx] + j[idx] + np.uint64(1), key[idx])))
        j[idx] += np.uint64(2)
        accept = yt + yt >= xt * xt
        a = idx[accept]
        out[a] = np.where(hz[a] > 0, _ZIG_R + xt[accept], -_ZIG_R - xt[accept])
        idx = idx[~accept]
    return out


_NUMBA_NAMES = ("squares64", "normal", "_normal_slow", "_split", "_uni")


def __getattr__(name: str) -> object:
    """The compiled-loop versions (`squares64`, `normal`) from :mod:`fitts.sim.rng_numba`."""
    if name in _NUMBA_NAMES:
        from fitts.sim import rng_numba

        return getattr(rng_numba, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
