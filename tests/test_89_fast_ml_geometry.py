"""The fast ML-grid geometry of the chain against the general geometry functions it replaces.

Real orbit and radar times (Terceira IW3 annotation), a synthetic ellipsoidal DEM with two steep volcano-like
bumps: ``cartesian_mean.grid_ground_points`` against ``geometry.rdr2geo_dem``, ``ortho.master_coordinates``
against ``dem_projection.radar_coordinates`` of the same ground points, ``topographic_phase`` against the
range difference of ``radar_coordinates`` on two orbits.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

from diapsar import ortho
from diapsar.cartesian_mean import grid_ground_points
from diapsar.dem_projection import DemPatch, radar_coordinates
from diapsar.geometry import RadarGrid, ecef_to_llh, llh_to_ecef, rdr2geo_dem
from diapsar.io.safe import open_annotation
from diapsar.metadata import SPEED_OF_LIGHT_M_S
from diapsar.orbit import Orbit
from diapsar.topographic_phase import topographic_phase


@pytest.fixture(scope="module")
def scene(s1_data):
    xmls = sorted((s1_data / "terceira_iw3_20220918_real_crop").glob("s1*-iw3-slc-vv-*.xml"))
    if not xmls:
        pytest.skip("Terceira IW3 annotation not in the test data")
    meta = open_annotation(xmls[0])
    orbit = Orbit(meta.orbit)
    g = meta.geolocation_grid
    t = np.linspace(g.azimuth_time_s.min(), g.azimuth_time_s.max(), 40)
    tau = np.linspace(g.slant_range_time_s.min(), g.slant_range_time_s.max(), 400)
    # DEM (0.002 deg posts) over the grid footprint with a margin; a band of NaN posts across the middle
    lon0, lon1 = g.longitude_deg.min() - 0.05, g.longitude_deg.max() + 0.05
    lat0, lat1 = g.latitude_deg.min() - 0.05, g.latitude_deg.max() + 0.05
    step = 0.002
    nx, ny = int((lon1 - lon0) / step) + 1, int((lat1 - lat0) / step) + 1
    lon = lon0 + (np.arange(nx) + 0.5) * step
    lat = lat1 - (np.arange(ny) + 0.5) * step
    lo, la = np.meshgrid(lon, lat)
    cl, ca = lon.mean(), lat.mean()
    h = (80.0 + 900.0 * np.exp(-((lo - cl) ** 2 + (la - ca) ** 2) / 0.05 ** 2)
         + 400.0 * np.exp(-((lo - cl - 0.15) ** 2 + (la - ca + 0.1) ** 2) / 0.1 ** 2) + 200.0 * (lo - cl))
    h[ny // 2 - 5: ny // 2 + 5, :] = np.nan
    dem = DemPatch(heights_m=h, transform=(lon0, step, 0.0, lat1, 0.0, -step))
    return meta, orbit, dem, t, tau


def test_grid_ground_points_match_rdr2geo_dem(scene):
    meta, orbit, dem, t, tau = scene
    xyz = grid_ground_points(orbit, t, tau, dem, look_side=meta.look_side)
    tt, tautau = np.meshgrid(t, tau, indexing="ij")
    lat, lon, h = rdr2geo_dem(orbit, tt, tautau, dem.heights_m, dem.transform, look_side=meta.look_side)
    ref = llh_to_ecef(np.nan_to_num(lat), np.nan_to_num(lon), np.nan_to_num(h))
    both = np.isfinite(xyz[..., 0]) & np.isfinite(lat)
    assert 0.8 < both.mean() < 0.99
    # the same NaN pattern (off the DEM, no-data corner) but for a few points on the no-data edges
    assert np.mean(np.isfinite(xyz[..., 0]) != np.isfinite(lat)) < 1e-3
    d = np.linalg.norm(xyz - ref, axis=-1)[both]
    # rdr2geo_dem stops within 1 mm of the DEM height: a few mm along the ground on the slopes
    assert d.max() < 0.01, d.max()
    # on the range sphere, in the zero-Doppler plane and on the DEM surface
    line, _, rt = radar_coordinates(meta, orbit, xyz, tt)
    lat2, lon2, h2 = ecef_to_llh(xyz)
    assert np.nanmax(np.abs(rt - tautau)) * meta.range_sampling_rate_hz < 1e-6
    assert np.nanmax(np.abs(line - RadarGrid.from_metadata(meta).time_to_line(tt))) < 1e-5
    assert np.nanmax(np.abs(h2 - dem.height_at(lon2, lat2))) < 1e-4
    # rows are independent: the same numbers on one thread
    n = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = grid_ground_points(orbit, t, tau, dem, look_side=meta.look_side)
    finally:
        numba.set_num_threads(n)
    np.testing.assert_array_equal(one, xyz)


def test_ortho_lookup_and_topographic_phase_match_general_geometry(scene):
    meta, orbit, dem, t, tau = scene
    x0, dx, _, y0, _, dy = dem.transform
    grid = ortho.OrthoGrid(epsg=4326, transform=(x0 + 0.05, 0.001, 0.0, y0 - 0.05, 0.0, -0.001), width=300,
                           height=200)
    line, pixel = ortho.master_coordinates(grid, 0, grid.height, dem, meta, orbit)
    lon, lat = grid.lonlat(0, grid.height)
    h = dem.height_at(lon, lat)
    pts = llh_to_ecef(lat, lon, np.nan_to_num(h))
    pts[~np.isfinite(h)] = np.nan
    l_ref, p_ref, _ = radar_coordinates(meta, orbit, pts)
    np.testing.assert_array_equal(np.isnan(line), np.isnan(l_ref))
    assert np.isfinite(line).mean() > 0.5
    # same zero-Doppler roots (Newton to 1e-11 s); 1e-3 line allows for the state-vector interval joins
    assert np.nanmax(np.abs(line - l_ref)) < 1e-3
    assert np.nanmax(np.abs(pixel - p_ref)) < 1e-6

    # slave orbit: the master's shifted by 150 m across track
    xyz = grid_ground_points(orbit, t, tau, dem, look_side=meta.look_side)
    sv = meta.orbit
    shift = np.cross(sv.velocity_m_s, sv.position_m)
    shift = 150.0 * shift / np.linalg.norm(shift, axis=1)[:, None]
    slave_orbit = Orbit(dataclasses.replace(sv, position_m=sv.position_m + shift))
    ml_line = np.broadcast_to(RadarGrid.from_metadata(meta).time_to_line(t)[:, None], xyz.shape[:2])
    tp = topographic_phase(xyz, meta, orbit, meta, slave_orbit, ml_line)
    _, _, tau_m = radar_coordinates(meta, orbit, xyz)
    sl, sp, tau_s = radar_coordinates(meta, slave_orbit, xyz)
    ref = 4.0 * np.pi / meta.wavelength_m * 0.5 * SPEED_OF_LIGHT_M_S * (tau_s - tau_m)
    np.testing.assert_array_equal(np.isnan(tp["phase"]), np.isnan(ref))
    assert np.nanstd(ref) > 1.0  # a real fringe pattern
    assert np.nanmax(np.abs(tp["phase"] - ref)) < 1e-4
    assert np.nanmax(np.abs(tp["slave_pixel"] - sp)) < 1e-6
