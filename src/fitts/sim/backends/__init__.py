"""Backends with one contract: NumPy reference and numba fast path."""
