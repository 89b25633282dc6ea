"""SARTopographicPhase: the interferometric phase the geometry alone (orbits + DEM) produces.

For a ground point P (the master cartesian mean of a multilook cell) the two-way range times to the master and
slave orbits come from zero-Doppler geo2rdr on each orbit; with ranges R = c*tau/2:

    phi_topo = (4 pi / lambda) (R_s - R_m)

which holds the flat-earth and the topographic terms together (DiapOTB notes 4.1). Sign: a focused SLC pixel
carries exp(-j 4 pi R / lambda) (ESA Sentinel-1 SLC convention, also the simulator's), so
M S* = exp(j 4 pi (R_s - R_m) / lambda) * exp(j phi_deformation) and M S* exp(-j phi_topo) is flat on flat
terrain without deformation (checked in tests/test_90_chain_sm.py against the simulated truth).
"""

from __future__ import annotations

import numpy as np

from .geometry import RadarGrid
from .kernels.interp import upsample_bilinear
from .kernels.range_doppler import topographic_phase_chunks
from .metadata import SwathMetadata
from .orbit import Orbit


def topographic_phase(xyz: np.ndarray, master: SwathMetadata, master_orbit: Orbit, slave: SwathMetadata,
                      slave_orbit: Orbit, master_line: np.ndarray | None = None,
                      with_coordinates: bool = True) -> dict[str, np.ndarray]:
    """Topographic phase (rad, float64) of ground points ``xyz`` (..., 3), with the coordinates it used.

    ``master_line`` (optional, same shape) is the points' master line, used as the azimuth start of both
    zero-Doppler searches (the slave's from the same line number on its own time axis). Returns ``phase``,
    ``master_range_m``, ``slave_range_m`` and, with ``with_coordinates``, ``slave_line``, ``slave_pixel`` (NaN
    where a point is missing or outside an orbit).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    shape = xyz.shape[:-1]
    flat = np.ascontiguousarray(xyz.reshape(-1, 3))
    n = flat.shape[0]
    if master_line is not None:  # start both searches near the same line (each in its own orbit's time)
        ml = np.broadcast_to(np.asarray(master_line, dtype=np.float64), shape)
        # line -> time is elementwise: on the distinct rows only when the lines are constant along the last axis
        # (a column of ML lines broadcast over the samples, as the chain passes them)
        rows = ml[..., :1] if ml.ndim >= 1 and ml.shape[-1] > 1 and ml.strides[-1] == 0 else ml
        t_m = np.ascontiguousarray(np.broadcast_to(RadarGrid.from_metadata(master).line_to_time(rows), shape),
                                   dtype=np.float64).reshape(-1)
        t_s = np.ascontiguousarray(np.broadcast_to(RadarGrid.from_metadata(slave).line_to_time(rows), shape),
                                   dtype=np.float64).reshape(-1)
        use = True
    else:
        t_m = t_s = np.empty(0)
        use = False
    phase, az_s, tau_s, r_m, r_s = (np.empty(n) for _ in range(5))
    m_tg, m_nodes, m_coef, m_ref = master_orbit.kernel_args
    s_tg, s_nodes, s_coef, s_ref = slave_orbit.kernel_args
    m_pos, m_vel = master_orbit.node_states
    s_pos, s_vel = slave_orbit.node_states
    # both zero-Doppler solves and the phase in one pass over the ECEF points (no geodetic round trip)
    topographic_phase_chunks(flat, t_m, t_s, use, m_tg, m_nodes, m_coef, m_pos, m_vel, m_ref, s_tg, s_nodes, s_coef, s_pos,
                 s_vel, s_ref, 4.0 * np.pi / master.wavelength_m, phase, az_s, tau_s, r_m, r_s)
    out = {"phase": phase.reshape(shape), "master_range_m": r_m.reshape(shape), "slave_range_m": r_s.reshape(shape)}
    if with_coordinates:
        sgrid = RadarGrid.from_metadata(slave)
        ok = np.isfinite(az_s)
        sl = np.where(ok, sgrid.time_to_line(np.where(ok, az_s, slave.first_line_time_s)), np.nan)
        sp = np.where(ok, sgrid.range_time_to_pixel(np.where(ok, tau_s, slave.slant_range_time_s)), np.nan)
        out["slave_line"] = sl.reshape(shape)
        out["slave_pixel"] = sp.reshape(shape)
    return out


def wrap(phase: np.ndarray) -> np.ndarray:
    """Phase wrapped to (-pi, pi]."""
    return np.angle(np.exp(1j * np.asarray(phase)))


def upsample_phase(phase_ml: np.ndarray, ml_row0: int, line0: int, n_lines: int, n_cols: int, ml_azi: int,
                   ml_ran: int) -> np.ndarray:
    """Full-resolution phase of lines [line0, line0 + n_lines) x columns [0, n_cols) of the processed window
    from an (unwrapped, smooth) ML phase whose first row is ML row ``ml_row0``: bilinear between ML cell centres,
    linear extrapolation over the outer half cells. NaN cells propagate to their neighbourhood."""
    out = np.empty((n_lines, n_cols), dtype=np.float64)
    upsample_bilinear(np.ascontiguousarray(phase_ml, dtype=np.float64), int(ml_row0), int(line0), int(n_lines), int(n_cols),
              int(ml_azi), int(ml_ran), out)
    return out


def ml_rows_for_lines(line0: int, line1: int, ml_azi: int, n_ml_rows: int) -> tuple[int, int]:
    """ML rows [r0, r1) that ``upsample_phase`` needs for full-resolution lines [line0, line1)."""
    ca = (ml_azi - 1) / 2.0
    r0 = int(np.floor((line0 - ca) / ml_azi)) - 1
    r1 = int(np.floor((line1 - 1 - ca) / ml_azi)) + 3
    r0, r1 = max(0, r0), min(n_ml_rows, r1)
    if r1 - r0 < 2:
        r0, r1 = max(0, min(r0, n_ml_rows - 2)), min(n_ml_rows, max(r1, 2))
    return r0, r1
