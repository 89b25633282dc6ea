"""Satellite orbit: interpolation of ECEF state vectors (annotation or EOF file).

Interpolation model (chosen with the leave-one-out test of ``tests/test_21_orbit.py``, figures in its output):

- Positions only are interpolated, with a piecewise Lagrange polynomial of degree 9 (10 nodes: the 5 state
  vectors before and the 5 after the wanted time, the window sliding inwards at the ends of the list).
  Velocity and acceleration are the derivatives of that same polynomial.
- The velocities written by ESA are *not* used. In the stripmap and EW annotations they differ from the time
  derivative of the positions by 1-2 cm/s, which moves the zero-Doppler time of a ground point by up to a
  few tenths of a line; a position-only model keeps position, velocity and acceleration consistent, which is
  what the zero-Doppler Newton iteration needs. A cubic Hermite on positions + velocities inherits that noise.
- Leave-one-out on real 10 s state vectors (a point removed, i.e. a 20 s gap, a harsher case than any real
  interpolation) gives sub-millimetre position errors for degree 7-11 Lagrange windows, where a cubic Hermite
  reaches centimetres and a natural cubic spline decimetres at the ends; degree 9 is a good middle: less
  Runge-like edge sensitivity than 11, smaller error than 7.

The polynomial of each interval between two state vectors is stored in Newton divided-difference form
(``coefficients``: (n_intervals, n_nodes, 3), ``nodes``: (n_intervals, n_nodes), times relative to
``time_s[0]``), evaluated by a nested (Horner-like) scheme that gives value, first and second derivative
together; the numba kernels of ``diapsar.geometry`` take these arrays directly.
"""

from __future__ import annotations

import numba
import numpy as np

from .errors import OrbitError
from .metadata import StateVectors

DEFAULT_NODES = 10  # Lagrange degree 9


def _divided_differences(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Newton divided differences of y (n, 3) on nodes x (n,): returns (n, 3)."""
    n = x.shape[0]
    c = y.astype(np.float64).copy()
    for j in range(1, n):
        c[j:] = (c[j:] - c[j - 1:-1]) / (x[j:] - x[:n - j])[:, None]
    return c


class Orbit:
    """Interpolated orbit of one acquisition.

    ``time_s``, ``position_m``, ``velocity_m_s`` are the state vectors as given (velocities kept for reference
    only); ``t_ref_s``, ``nodes``, ``coefficients`` the piecewise Newton-form interpolation tables the numba
    kernels use (see module docstring).
    """

    def __init__(self, sv: StateVectors, n_nodes: int = DEFAULT_NODES):
        t = np.asarray(sv.time_s, dtype=np.float64)
        p = np.asarray(sv.position_m, dtype=np.float64).reshape(-1, 3)
        v = np.asarray(sv.velocity_m_s, dtype=np.float64).reshape(-1, 3)
        if t.ndim != 1 or t.shape[0] != p.shape[0] or p.shape != v.shape:
            raise OrbitError(f"orbit state vectors of {sv.source}: inconsistent array shapes")
        order = np.argsort(t, kind="stable")
        t, p, v = t[order], p[order], v[order]
        keep = np.concatenate([[True], np.diff(t) > 1e-6])  # drop duplicated epochs
        t, p, v = t[keep], p[keep], v[keep]
        if t.shape[0] < 4:
            raise OrbitError(f"orbit of {sv.source}: {t.shape[0]} state vectors, at least 4 are needed")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
            raise OrbitError(f"orbit of {sv.source}: non-finite state vector values")
        self.source = sv.source
        self.time_s = t
        self.position_m = p
        self.velocity_m_s = v
        self.n_nodes = int(min(n_nodes, t.shape[0]))
        self.t_ref_s = float(t[0])
        self.nodes, self.coefficients = self._tables()

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        t = self.time_s - self.t_ref_s
        n, m = t.shape[0], self.n_nodes
        n_int = max(n - 1, 1)
        nodes = np.empty((n_int, m))
        coef = np.empty((n_int, m, 3))
        left = (m - 1) // 2  # nodes before the interval start (interval [i, i+1] -> nodes i-left .. i-left+m-1)
        for i in range(n_int):
            s = min(max(i - left, 0), n - m)
            x = t[s:s + m]
            nodes[i] = x
            coef[i] = _divided_differences(x, self.position_m[s:s + m])
        return nodes, coef

    @property
    def start_s(self) -> float:
        return float(self.time_s[0])

    @property
    def stop_s(self) -> float:
        return float(self.time_s[-1])

    @property
    def kernel_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(grid times relative to t_ref, nodes, coefficients, t_ref) as the numba kernels take them."""
        return self.time_s - self.t_ref_s, self.nodes, self.coefficients, self.t_ref_s

    def position_velocity(self, t_s) -> tuple[np.ndarray, np.ndarray]:
        """ECEF position (..., 3) and velocity (..., 3) at times ``t_s`` (any shape)."""
        p, v, _ = self.position_velocity_acceleration(t_s)
        return p, v

    def position_velocity_acceleration(self, t_s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.asarray(t_s, dtype=np.float64)
        flat = np.ascontiguousarray(t.reshape(-1)) - self.t_ref_s
        tg, nodes, coef, _ = self.kernel_args
        p, v, a = _interp_many(flat, tg, nodes, coef)
        shape = t.shape + (3,)
        return p.reshape(shape), v.reshape(shape), a.reshape(shape)

    def covers(self, start_s: float, stop_s: float, margin_s: float = 0.0) -> bool:
        return self.start_s <= start_s - margin_s and self.stop_s >= stop_s + margin_s

    def cropped(self, start_s: float, stop_s: float) -> Orbit:
        """Orbit restricted to the state vectors in [start_s, stop_s] (plus enough neighbours to interpolate)."""
        i0 = int(np.searchsorted(self.time_s, start_s, side="right")) - 1 - self.n_nodes // 2
        i1 = int(np.searchsorted(self.time_s, stop_s, side="left")) + 1 + self.n_nodes // 2
        i0, i1 = max(i0, 0), min(i1, self.time_s.shape[0])
        sv = StateVectors(self.time_s[i0:i1], self.position_m[i0:i1], self.velocity_m_s[i0:i1], self.source)
        return Orbit(sv, self.n_nodes)

    def __repr__(self) -> str:
        return (f"Orbit({self.source!r}, {self.time_s.shape[0]} state vectors, "
                f"{self.stop_s - self.start_s:.0f} s, degree {self.n_nodes - 1})")


# --------------------------------------------------------------------------------------------- numba kernels

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
    """Position, velocity, acceleration at t (relative to t_ref) into out[0:3], out[3:6], out[6:9]."""
    i = find_interval(tg, t)
    m = nodes.shape[1]
    for k in range(3):
        p = coef[i, m - 1, k]
        dp = 0.0
        ddp = 0.0
        for j in range(m - 2, -1, -1):
            d = t - nodes[i, j]
            ddp = ddp * d + 2.0 * dp
            dp = dp * d + p
            p = p * d + coef[i, j, k]
        out[k] = p
        out[3 + k] = dp
        out[6 + k] = ddp


@numba.njit(cache=True)
def _interp_many(t, tg, nodes, coef):
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
