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
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, vectorize

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


def _squares64(ctr: np.uint64, key: np.uint64) -> np.uint64:  # pragma: no cover - compiled
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


#: scalar Squares64 for numba kernels
squares64 = njit(inline="always")(_squares64)
#: the same function as a numpy ufunc (uint64 arrays broadcast), bit for bit
_squares64_ufunc = vectorize(["uint64(uint64, uint64)"])(_squares64)


def squares64_np(ctr: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Vectorised Squares64: uint64 arrays (broadcast) -> uint64 array."""
    return _squares64_ufunc(np.asarray(ctr, dtype=np.uint64), np.asarray(key, dtype=np.uint64))


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


def normals_np(ctr: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Vectorised :func:`normal` (same numbers; arrays broadcast)."""
    ctr, key = np.broadcast_arrays(np.asarray(ctr, dtype=np.uint64), np.asarray(key, dtype=np.uint64))
    h = squares64_np(ctr, key)
    hz = (h & _MASK32).astype(np.int64)
    hz = np.where(hz >= 2147483648, hz - 4294967296, hz)
    iz = ((h >> _U32) & np.uint64(127)).astype(np.int64)
    out = hz * ZIG_W[iz]
    slow = np.flatnonzero(~(np.abs(hz) < ZIG_K[iz]))
    if len(slow):  # rare (about 1.2 % of draws): the same compiled rejection loop as numba's
        out.reshape(-1)[slow] = _normal_slow_many(ctr.reshape(-1)[slow], key.reshape(-1)[slow],
                                                  hz.reshape(-1)[slow], iz.reshape(-1)[slow])
    return out


@njit
def _normal_slow_many(ctr: np.ndarray, key: np.ndarray, hz: np.ndarray, iz: np.ndarray
                      ) -> np.ndarray:  # pragma: no cover - compiled
    out = np.empty(ctr.shape[0])
    for i in range(ctr.shape[0]):
        out[i] = _normal_slow(ctr[i], key[i], hz[i], iz[i])
    return out
