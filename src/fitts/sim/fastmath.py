"""Fast `exp` and logistic for generated numba kernels: branch-free, inlined, vectorisable.

``math.exp`` compiles to a call of the C library's ``exp``, which stops LLVM from
vectorising the loop over patients. :func:`fexp` is the classic range reduction
``exp(x) = 2**n * exp(r)``, ``n = round(x / ln 2)``, ``|r| <= ln(2) / 2``, with ``exp(r)``
a degree-13 Taylor polynomial evaluated by Estrin's scheme (truncation error below
5e-18 relative) and
``2**n`` built from the exponent bits. Rounding to the nearest integer uses the
1.5 * 2**52 shifter, so nothing in it needs an AVX-512 conversion.

Accuracy (checked in ``tests/test_fexp.py``): relative error below 1e-15 (about 4.5 units
in the last place) against ``np.exp`` for ``-707 <= x <= 709.78``; below that the true
value is under 1e-307 and the result is a number between 0 and 2.3e-308; above it, inf.
NaN gives NaN. :func:`flogistic` is ``1 / (1 + fexp(-x))``: relative error below 2e-15 for
every x (0 and 1 at the far ends, as with ``np.exp``).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: largest x with a finite exp(x)
EXP_HI = 709.782712893384
#: inputs below this give 0 (the true value is below 2.3e-308; see the module doc)
EXP_LO = -708.3964185322641
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 split so that n * _LN2_HI is exact for |n| < 2**11
_LN2_LO = 1.9082149292705877e-10
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer in the low bits
_SHIFT_BITS = 0x4338000000000000
#: 1/k! for k = 13 .. 0 (Horner order)
_C = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))


@intrinsic
def _bits(typingctx, x):  # pragma: no cover - compiled
    """The IEEE-754 bits of a float64 as an int64 (a bit cast, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, k):  # pragma: no cover - compiled
    """The float64 whose IEEE-754 bits are the int64 `k`."""
    if k != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(error_model="numpy")
def fexp(x: float) -> float:  # pragma: no cover - compiled
    """exp(x) for float64 x, relative error < 1e-15 on [-707, 709.78] (see module doc)."""
    xc = EXP_HI if x > EXP_HI else x
    xc = EXP_LO if xc < EXP_LO else xc
    kd = xc * _LOG2E + _SHIFT
    n = kd - _SHIFT
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    # Estrin's scheme: the same polynomial in 4 levels instead of a 13-step Horner chain
    # (scalar code, where the rate loop does not vectorise, is limited by that latency)
    r2 = r * r
    r4 = r2 * r2
    q0 = _C[13] + _C[12] * r
    q1 = _C[11] + _C[10] * r
    q2 = _C[9] + _C[8] * r
    q3 = _C[7] + _C[6] * r
    q4 = _C[5] + _C[4] * r
    q5 = _C[3] + _C[2] * r
    q6 = _C[1] + _C[0] * r
    s0 = q0 + q1 * r2
    s1 = q2 + q3 * r2
    s2 = q4 + q5 * r2
    t0 = s0 + s1 * r4
    t1 = s2 + q6 * r4
    p = t0 + t1 * (r4 * r4)
    # 2**(n-1) from the exponent bits (n - 1 + 1023 = n + 1022 in 0 .. 2046), then * 2:
    # the top of the range would overflow 2**n itself
    k = _bits(kd) - np.int64(_SHIFT_BITS) + np.int64(1022)
    y = p * _from_bits(k << np.int64(52)) * 2.0
    return math.inf if x > EXP_HI else y


@njit(error_model="numpy")
def flogistic(x: float) -> float:  # pragma: no cover - compiled
    """1 / (1 + exp(-x)) with :func:`fexp`; relative error < 2e-15."""
    return 1.0 / (1.0 + fexp(-x))


@njit(error_model="numpy")
def fexp_array(x: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`fexp` over a 1-d float64 array (for tests and benchmarks)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = fexp(x[i])
    return out


@njit(error_model="numpy")
def flogistic_array(x: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`flogistic` over a 1-d float64 array (for tests and benchmarks)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = flogistic(x[i])
    return out


@njit
def fmin_nan(a: float, b: float) -> float:  # pragma: no cover - compiled
    """min(a, b) that propagates NaN, as ``np.minimum`` does (``min`` in model expressions)."""
    if a != a or b != b:
        return math.nan
    return a if a < b else b


@njit
def fmax_nan(a: float, b: float) -> float:  # pragma: no cover - compiled
    """max(a, b) that propagates NaN, as ``np.maximum`` does."""
    if a != a or b != b:
        return math.nan
    return a if a > b else b
