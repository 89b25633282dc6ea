"""Orbit state interpolation kernels: position, velocity and acceleration from ``Orbit``'s Newton tables.

The tables are ``diapsar.orbit.Orbit.kernel_args`` = (tg, nodes, coef, t_ref): ``tg`` the state-vector epochs
relative to ``t_ref``, ``nodes`` (n_intervals, n_nodes) the interpolation nodes of each interval and ``coef``
(n_intervals, n_nodes, 6) the divided differences of the position (x, y, z) and velocity (x, y, z) polynomials.
Times inside kernels are relative to ``t_ref``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def find_interval(tg, t):
    """Index i of the interval [tg[i], tg[i+1]] holding t (clamped to the first/last interval)."""
    n = tg.shape[0]
    if n < 2:
        return 0
    lo = 0
    hi = n - 1
    if t <= tg[0]:
        return 0
    if t >= tg[n - 1]:
        return n - 2
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if tg[mid] <= t:
            lo = mid
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def interp_pva(t, tg, nodes, coef, out):
    """Position, velocity, acceleration at t (relative to t_ref) into out[0:3], out[3:6], out[6:9].

    Position: value of the position polynomial; velocity: value of the velocity polynomial (coefficients
    3:6); acceleration: derivative of the velocity polynomial. With the velocity model "derived" the velocity
    polynomial interpolates the position derivative, so the three stay consistent.
    """
    i = find_interval(tg, t)
    m = nodes.shape[1]
    for k in range(3):
        p = coef[i, m - 1, k]
        v = coef[i, m - 1, 3 + k]
        dv = 0.0
        for j in range(m - 2, -1, -1):
            d = t - nodes[i, j]
            p = p * d + coef[i, j, k]
            dv = dv * d + v
            v = v * d + coef[i, j, 3 + k]
        out[k] = p
        out[3 + k] = v
        out[6 + k] = dv


@numba.njit(cache=True)
def interp_pva_many(t, tg, nodes, coef):
    """Positions, velocities, accelerations (n, 3) each at the times t (n,) (relative to t_ref)."""
    n = t.shape[0]
    p = np.empty((n, 3))
    v = np.empty((n, 3))
    a = np.empty((n, 3))
    buf = np.empty(9)
    for i in range(n):
        interp_pva(t[i], tg, nodes, coef, buf)
        for k in range(3):
            p[i, k] = buf[k]
            v[i, k] = buf[3 + k]
            a[i, k] = buf[6 + k]
    return p, v, a
