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

from .dem_projection import radar_coordinates
from .geometry import RadarGrid
from .metadata import SPEED_OF_LIGHT_M_S, SwathMetadata
from .orbit import Orbit


def topographic_phase(xyz: np.ndarray, master: SwathMetadata, master_orbit: Orbit, slave: SwathMetadata,
                      slave_orbit: Orbit, master_line: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Topographic phase (rad, float64) of ground points ``xyz`` (..., 3), with the coordinates it used.

    ``master_line`` (optional, same shape) is the points' master line, used as the azimuth start of both
    zero-Doppler searches. Returns ``phase``, ``slave_line``, ``slave_pixel``, ``master_range_m``,
    ``slave_range_m`` (NaN where a point is missing or outside an orbit).
    """
    t_m = None if master_line is None else RadarGrid.from_metadata(master).line_to_time(master_line)
    _, _, tau_m = radar_coordinates(master, master_orbit, xyz, t_m)
    sl, sp, tau_s = radar_coordinates(slave, slave_orbit, xyz, t_m)
    r_m = 0.5 * SPEED_OF_LIGHT_M_S * tau_m
    r_s = 0.5 * SPEED_OF_LIGHT_M_S * tau_s
    phase = (4.0 * np.pi / master.wavelength_m) * (r_s - r_m)
    return {"phase": phase, "slave_line": sl, "slave_pixel": sp, "master_range_m": r_m, "slave_range_m": r_s}


def wrap(phase: np.ndarray) -> np.ndarray:
    """Phase wrapped to (-pi, pi]."""
    return np.angle(np.exp(1j * np.asarray(phase)))
