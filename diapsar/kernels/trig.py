"""Fast float32 complex exponentials for per-pixel phase terms inside numba kernels.

Plain IEEE arithmetic (no fastmath): divisions by constants are written as multiplications by the float32
reciprocals, so the compiler has nothing left to rewrite and every compilation computes the same bits.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# reciprocals of the Taylor-series denominators (float32, rounded once here)
_R2 = np.float32(1.0 / 2.0)
_R6 = np.float32(1.0 / 6.0)
_R12 = np.float32(1.0 / 12.0)
_R20 = np.float32(1.0 / 20.0)
_R30 = np.float32(1.0 / 30.0)
_R42 = np.float32(1.0 / 42.0)
_R56 = np.float32(1.0 / 56.0)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)
_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 1.0 / (2.0 * math.pi)


@numba.njit(cache=True, inline="always")
def cexp_small(theta: float) -> tuple[np.float32, np.float32]:
    """(cos θ, sin θ) for |θ| ≤ π in float32: Taylor series of θ/4 to order 8 (error < 1e-7) squared twice
    (double-angle formulas); the result is within 2e-6 of the exact value (tests)."""
    x = np.float32(0.25 * theta)
    x2 = x * x
    s = x * (_ONE - x2 * _R6 * (_ONE - x2 * _R20 * (_ONE - x2 * _R42)))
    c = _ONE - x2 * _R2 * (_ONE - x2 * _R12 * (_ONE - x2 * _R30 * (_ONE - x2 * _R56)))
    c, s = c * c - s * s, _TWO * c * s
    return c * c - s * s, _TWO * c * s


@numba.njit(cache=True, inline="always")
def cexp(theta: float) -> tuple[np.float32, np.float32]:
    """(cos θ, sin θ) for any finite θ (float64 reduction to [−π, π], then :func:`cexp_small`)."""
    r = theta - _TWO_PI * math.floor(theta * _INV_TWO_PI + 0.5)
    return cexp_small(r)
