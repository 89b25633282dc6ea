"""Satellite orbit: interpolation of ECEF state vectors (annotation or EOF file).

Interpolation model (chosen with the leave-one-out test of ``tests/test_21_orbit.py`` and the geolocation
test of ``tests/test_20_geometry.py``; figures in their output):

- Positions and velocities are each interpolated with a piecewise Lagrange polynomial of degree 7 (8 nodes:
  the 4 state vectors before and the 4 after the wanted time, the window sliding inwards at the ends of the
  list). Acceleration is the derivative of the velocity polynomial.
- By default (``velocity="annotated"``) the velocity is that of the given state vectors, *not* the time
  derivative of the positions. In the stripmap and EW annotations (and some S1B IW ones) ESA's velocities
  differ from the derivative of its positions by 1-2 cm/s; ESA's own zero-Doppler geolocation (the
  geolocationGrid azimuth times) follows the annotated velocities: solving (P - S(t)).V(t) = 0 with V from the
  derivative of the positions leaves offsets of +0.234 line (S3 stripmap), -0.092 line (EW1) and ~0.006-0.009
  line (S1B IW 2021), with the annotated velocities the residuals drop to rms <= 0.002 line (max 0.004)
  everywhere. That is the explanation of the "constant SM/EW azimuth offset": the zero-Doppler plane is
  defined by the annotated velocity vector. ``velocity="derived"`` (velocity samples = derivative of the
  position polynomial) is kept for comparison and for orbit sources without meaningful velocities.
  Consequence: EOF velocities agree with their positions (< 0.01 cm/s), so replacing the annotation orbit of
  such a stripmap/EW product by an EOF file is expected to move its zero-Doppler times against ESA's grid by
  the same tenths of a line (not testable here: no EOF covers those products); IW S1A annotations are
  consistent (< 0.2 cm/s) and agree with the Terceira RESORB file within 0.0005 line.
- Leave-one-out on real 10 s state vectors (one vector removed, i.e. a 20 s gap: harsher than any real
  interpolation), all vectors including the ends of the list: degree 7 gives max 0.02 mm (EOF), 7.2 mm (IW
  annotation), 6.3 mm (S3), 6.9 mm (EW); degree 9 gives 0.06 / 87 / 21 / 25 mm and degree 11 0.16 / 478 /
  62 / 82 mm (the lopsided windows at the ends of the short annotation lists amplify noise with degree);
  a cubic Hermite (positions + velocities) 4 / 8 / 3 / 2 mm in position but 20-34 mm/s in velocity for
  S3/EW, a not-a-knot cubic spline ~18 mm. Away from the ends all Lagrange degrees 5-9 agree within 1 mm.
  Degree 7 is the best of these everywhere, hence the default (OTB's SarSensorModel uses degree 8).

Each interval between two state vectors stores its polynomial in Newton divided-difference form
(``coefficients``: (n_intervals, n_nodes, 6) = position x,y,z then velocity x,y,z; ``nodes``:
(n_intervals, n_nodes); times relative to ``t_ref_s``), evaluated by a nested Horner-like scheme; the numba
kernels (``diapsar.kernels.orbit_state``, used by ``diapsar.geometry``) take these arrays directly
(``Orbit.kernel_args``).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .errors import OrbitError
from .kernels.orbit_state import find_interval, interp_pva, interp_pva_many
from .metadata import StateVectors

DEFAULT_NODES = 8  # Lagrange degree 7: 4 state vectors on each side


def _divided_differences(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Newton divided differences of y (n, 3) on nodes x (n,): returns (n, 3)."""
    n = x.shape[0]
    c = y.astype(np.float64).copy()
    for j in range(1, n):
        c[j:] = (c[j:] - c[j - 1:-1]) / (x[j:] - x[:n - j])[:, None]
    return c


def _newton_derivative(x: np.ndarray, c: np.ndarray, t: float) -> np.ndarray:
    """Derivative at t of the Newton-form polynomial with nodes x (m,) and coefficients c (m, 3)."""
    p = c[-1].copy()
    dp = np.zeros(3)
    for j in range(x.shape[0] - 2, -1, -1):
        dp = dp * (t - x[j]) + p
        p = p * (t - x[j]) + c[j]
    return dp


class Orbit:
    """Interpolated orbit of one acquisition.

    ``time_s``, ``position_m``, ``velocity_m_s`` are the state vectors as given (velocities kept for reference
    only); ``t_ref_s``, ``nodes``, ``coefficients`` the piecewise Newton-form interpolation tables the numba
    kernels use (see module docstring).
    """

    def __init__(self, sv: StateVectors, n_nodes: int = DEFAULT_NODES, velocity: str = "annotated"):
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
        if velocity not in ("annotated", "derived"):
            raise OrbitError(f"orbit velocity model must be 'annotated' or 'derived', not {velocity!r}")
        self.velocity_model = velocity
        self.n_nodes = int(min(n_nodes, t.shape[0]))
        self.t_ref_s = float(t[0])
        self.nodes, self.coefficients = self._tables()

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        t = self.time_s - self.t_ref_s
        n, m = t.shape[0], self.n_nodes
        n_int = max(n - 1, 1)
        nodes = np.empty((n_int, m))
        coef = np.empty((n_int, m, 6))
        left = (m - 1) // 2  # nodes before the interval start (interval [i, i+1] -> nodes i-left .. i-left+m-1)
        starts = [min(max(i - left, 0), n - m) for i in range(n_int)]
        for i, s in enumerate(starts):
            nodes[i] = t[s:s + m]
            coef[i, :, :3] = _divided_differences(nodes[i], self.position_m[s:s + m])
        if self.velocity_model == "derived":
            # velocity samples = derivative of the position polynomial at the state-vector epochs
            vel = np.empty_like(self.position_m)
            for k in range(n):
                i = min(k, n_int - 1)
                vel[k] = _newton_derivative(nodes[i], coef[i, :, :3], t[k])
        else:
            vel = self.velocity_m_s
        for i, s in enumerate(starts):
            coef[i, :, 3:] = _divided_differences(nodes[i], vel[s:s + m])
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
        p, v, a = interp_pva_many(flat, tg, nodes, coef)
        shape = t.shape + (3,)
        return p.reshape(shape), v.reshape(shape), a.reshape(shape)

    @cached_property
    def node_states(self) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated positions and velocities (n, 3) at the state-vector epochs (the coarse start of the
        zero-Doppler searches, ``kernels.range_doppler.coarse_zero_doppler``); computed once."""
        p, v = self.position_velocity(self.time_s)
        return np.ascontiguousarray(p), np.ascontiguousarray(v)

    def covers(self, start_s: float, stop_s: float, margin_s: float = 0.0) -> bool:
        return self.start_s <= start_s - margin_s and self.stop_s >= stop_s + margin_s

    def cropped(self, start_s: float, stop_s: float) -> Orbit:
        """Orbit restricted to the state vectors in [start_s, stop_s] (plus enough neighbours to interpolate)."""
        i0 = int(np.searchsorted(self.time_s, start_s, side="right")) - 1 - self.n_nodes // 2
        i1 = int(np.searchsorted(self.time_s, stop_s, side="left")) + 1 + self.n_nodes // 2
        i0, i1 = max(i0, 0), min(i1, self.time_s.shape[0])
        sv = StateVectors(self.time_s[i0:i1], self.position_m[i0:i1], self.velocity_m_s[i0:i1], self.source)
        return Orbit(sv, self.n_nodes, self.velocity_model)

    def __repr__(self) -> str:
        return (f"Orbit({self.source!r}, {self.time_s.shape[0]} state vectors, "
                f"{self.stop_s - self.start_s:.0f} s, degree {self.n_nodes - 1})")


def orbit_for(meta, orbit_files=None, margin_s: float = 60.0, fallback_to_annotation: bool = False) -> Orbit:
    """Orbit of one swath: from orbit files (an EOF path, folder or list) when given, else its annotation.

    With ``orbit_files`` the best covering file is used (``diapsar.io.eof.select_orbit_file``); when none
    covers the acquisition, OrbitError, or the annotation vectors if ``fallback_to_annotation``.
    """
    if orbit_files is None or (isinstance(orbit_files, (list, tuple)) and not orbit_files):
        return Orbit(meta.orbit)
    from .io.eof import select_orbit_file

    sv = select_orbit_file(orbit_files, meta.mission, meta.start_time_s, meta.stop_time_s, margin_s,
                           fallback=meta.orbit if fallback_to_annotation else None)
    if sv is meta.orbit:
        from .log import get_logger

        get_logger("orbit").warning("no orbit file covers %s %s: using the annotation state vectors",
                                    meta.annotation_name or meta.product_name, meta.swath)
    return Orbit(sv)


__all__ = ["DEFAULT_NODES", "Orbit", "find_interval", "interp_pva", "orbit_for"]
