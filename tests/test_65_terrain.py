"""Terrain geometry (diapsar.terrain) on the real Rome IW GRD annotation and its real 30 m DEM."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from diapsar import terrain as T
from diapsar.io.dem import Dem, load_dem
from diapsar.io.safe import open_product
from diapsar.orbit import Orbit
from diapsar.ortho import OrthoGrid

GRD = "rome_iw_grd_metadata/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
ROME = (12.45, 41.85)


@pytest.fixture(scope="module")
def grd(s1_data: Path):
    m = open_product(s1_data / GRD).swath(None, "VV")
    return m, Orbit(m.orbit)


def _grid(lon: float, lat: float, size_m: float, step: float) -> OrthoGrid:
    from pyproj import Transformer

    epsg = T.utm_epsg(lon, lat)
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    n = int(size_m / step)
    return OrthoGrid(epsg, (math.floor(x), step, 0.0, math.floor(y), 0.0, -step), n, n)


def test_utm_zone():
    assert T.utm_epsg(12.5, 41.9) == 32633
    assert T.utm_epsg(-28.0, 38.7) == 32626
    assert T.utm_epsg(-70.6, -33.4) == 32719
    assert T.utm_epsg(180.0, 10.0) == 32601


def test_lookup_reproduces_the_annotation_geolocation_grid(grd):
    """geo2rdr of the annotation's own grid points (lon, lat, ellipsoidal h) back to GRD (line, sample): the
    sample needs the srgr polynomial of the record nearest in time (0.008 sample; interpolating the records in
    time would leave 0.52)."""
    m, orbit = grd
    g = m.geolocation_grid
    lon, lat, h = (np.asarray(v, dtype=np.float64)[None, :] for v in (g.longitude_deg, g.latitude_deg, g.height_m))
    line, sample, t, _ = T.radar_coordinates(m, orbit, lon, lat, h)
    assert np.all(np.isfinite(line))
    assert np.abs(line[0] - g.line).max() < 0.002
    assert np.abs(sample[0] - g.pixel).max() < 0.01
    theta_e, theta_l, mask, _ = T.terrain_angles(T.look_enu(orbit, t, lon, lat, h), np.zeros_like(h),
                                                 np.zeros_like(h))
    assert np.abs(theta_e[0] - g.incidence_angle_deg).max() < 0.05
    assert np.array_equal(theta_l, theta_e) and not mask.any()


def test_angles_and_layover_shadow_by_hand():
    """Sensor due east at 35 deg: a slope facing it at 40 deg (heights falling eastwards) is in layover with
    local incidence 5 deg; one turned away at 60 deg is in shadow with local incidence 95 deg; 20 deg facing
    is neither (15 deg)."""
    th = math.radians(35.0)
    look = np.array([[[math.sin(th), 0.0, math.cos(th)]] * 3])
    hx = np.array([[-math.tan(math.radians(40.0)), math.tan(math.radians(60.0)), -math.tan(math.radians(20.0))]])
    theta_e, theta_l, mask, proj = T.terrain_angles(look, hx, np.zeros_like(hx))
    assert np.allclose(theta_e, 35.0)
    assert np.allclose(theta_l, [[5.0, 95.0, 15.0]])
    assert mask.tolist() == [[T.LAYOVER, T.SHADOW, 0]]
    assert proj[0, 1] < 0 < proj[0, 0]


def test_area_projection_on_flat_ground_gives_ellipsoid_gamma0(grd):
    """Small 2011 on a constant-height DEM: beta0 A_beta / A_gamma = beta0 tan(theta_e), i.e. the flattening
    factor A_beta / A_gamma equals tan(theta_e) within 1 % in every fully covered 20 x 20 multilooked GRD cell
    (200 m x 203 m: ~1600 facets of 5 m each, so the nearest-cell binning leaves < 1 %). It needs the
    azimuth ground spacing of the geolocation grid (10.14 m): the nominal 10.0 m leaves a 1.2 % bias."""
    m, orbit = grd
    grid = _grid(*ROME, 2000.0, 5.0)
    dem = Dem(np.full((200, 200), 50.0), (ROME[0] - 0.2, 0.002, 0.0, ROME[1] + 0.2, 0.0, -0.002))
    b = T.map_block(grid, 0, grid.height, dem, m, orbit)
    assert np.isfinite(b["line"]).all() and not b["mask"].any()
    assert np.allclose(b["theta_l"], b["theta_e"], atol=1e-6)
    ml_az, ml_rg = 20, 20
    shape = (m.number_of_lines // ml_az, m.number_of_samples // ml_rg)
    acc = T.accumulate_area(b["line"], b["sample"], b["proj_area"], shape, ml_az, ml_rg)
    full = acc >= 0.99 * np.median(acc[acc > 0])  # cells the 2 km square covers entirely
    assert full.sum() >= 20
    theta = np.median(b["theta_e"])
    factor = T.beta_reference_area(m, theta, ml_az, ml_rg) / acc[full]
    assert np.abs(factor / math.tan(math.radians(theta)) - 1).max() < 0.01


def test_real_dem_block_angles(grd, s1_data):
    """2 km of Rome on the real 30 m DEM at 20 m: every cell maps into the GRD; local incidence spreads around
    the ellipsoid one (hilly ground) and their means agree within 2 deg."""
    m, orbit = grd
    dem = load_dem(s1_data / "rome_iw_grd_metadata" / "Rome-30m-DEM.tif", (12.46, 41.96, 12.54, 42.04))
    grid = _grid(12.48, 42.0, 2000.0, 20.0)
    b = T.map_block(grid, 0, grid.height, dem, m, orbit)
    assert np.isfinite(b["line"]).all()
    assert (0 <= b["sample"]).all() and (b["sample"] < m.number_of_samples).all()
    assert abs(np.mean(b["theta_l"]) - np.mean(b["theta_e"])) < 2.0
    assert np.std(b["theta_l"]) > 0.5
    # block streaming: two half blocks give the same slopes (one row of margin) as the whole
    top, bot = T.map_block(grid, 0, 50, dem, m, orbit), T.map_block(grid, 50, grid.height, dem, m, orbit)
    assert np.allclose(np.vstack([top["theta_l"], bot["theta_l"]]), b["theta_l"])
