"""Counter-based random numbers: one stream per (seed, patient, purpose).

A patient's random numbers depend only on (seed, patient id, purpose, counter), never
on which chunk, process or backend simulates them, so a patient's trajectory is the
same alone, in any chunk, or on any number of workers.

The generator is Widynski's "Squares" counter-based RNG (arXiv:2004.06278): five
rounds of squaring of ``counter * key``. It is written by hand because numpy's Philox
cannot be called per element inside a numba loop, and the simulator needs the same
numbers, bit for bit, from a vectorised NumPy path and from compiled loops over
patients. Keys are derived from (seed, patient, purpose) with SplitMix64 and made
odd. Normals come in pairs from one 64-bit draw by Box–Muller (two 32-bit uniforms).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PURPOSES: dict[str, int] = {"noise": 0, "params": 1, "events": 2, "observe": 3, "schedule": 4}

_U32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_INV32 = 1.0 / 4294967296.0
_INV53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * math.pi


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
    """Vectorised Squares64: uint64 arrays (broadcast) -> uint64 array."""
    ctr = np.asarray(ctr, dtype=np.uint64)
    key = np.asarray(key, dtype=np.uint64)
    with np.errstate(over="ignore"):
        y = x = ctr * key
        z = y + key
        x = x * x + y
        x = (x >> _U32) | (x << _U32)
        x = x * x + z
        x = (x >> _U32) | (x << _U32)
        x = x * x + y
        x = (x >> _U32) | (x << _U32)
        t = x = x * x + z
        x = (x >> _U32) | (x << _U32)
        return t ^ ((x * x + y) >> _U32)


@njit(inline="always")
def squares64(ctr: np.uint64, key: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """Scalar Squares64 for numba kernels (same bits as :func:`squares64_np`)."""
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
def normal_pair(h: np.uint64) -> tuple[float, float]:  # pragma: no cover - compiled
    """Two standard normals from one 64-bit draw (Box–Muller)."""
    u1 = (float(h >> np.uint64(32)) + 0.5) * _INV32
    u2 = (float(h & np.uint64(0xFFFFFFFF)) + 0.5) * _INV32
    r = math.sqrt(-2.0 * math.log(u1))
    a = _TWO_PI * u2
    return r * math.cos(a), r * math.sin(a)


def normal_pairs_np(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`normal_pair`."""
    u1 = ((h >> _U32).astype(np.float64) + 0.5) * _INV32
    u2 = ((h & _MASK32).astype(np.float64) + 0.5) * _INV32
    r = np.sqrt(-2.0 * np.log(u1))
    a = _TWO_PI * u2
    return r * np.cos(a), r * np.sin(a)


def uniforms(seed: int, patients: np.ndarray, purpose: str, n: int, offset: int = 0) -> np.ndarray:
    """Uniforms on (0, 1) with 53-bit resolution, shape (len(patients), n).

    Column j uses counter ``offset + j`` of each patient's stream.
    """
    keys = stream_keys(seed, patients, purpose)
    ctr = np.arange(offset, offset + n, dtype=np.uint64)
    h = squares64_np(ctr[None, :], keys[:, None])
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * _INV53


def normals(seed: int, patients: np.ndarray, purpose: str, n: int, offset: int = 0) -> np.ndarray:
    """Standard normals, shape (len(patients), n), from counters offset, offset+1, ... (pairs)."""
    npairs = (n + 1) // 2
    keys = stream_keys(seed, patients, purpose)
    ctr = np.arange(offset, offset + npairs, dtype=np.uint64)
    z0, z1 = normal_pairs_np(squares64_np(ctr[None, :], keys[:, None]))
    out = np.empty((len(keys), 2 * npairs))
    out[:, 0::2] = z0
    out[:, 1::2] = z1
    return out[:, :n]
