"""SARDEMProjection: where each DEM post falls in a SAR image, and the ground point of radar coordinates.

DiapOTB notes 4.1 (OTB ``SarSensorModel::WorldToLineSampleYZ``): each DEM post (lon, lat, h) with ellipsoidal
height h = DEM height + geoid undulation is turned into ECEF P; its zero-Doppler time t0 and two-way range time
tau on the image's orbit give the line L = time_to_line(t0) and the sample C = (tau - tau_near) * f_s. The ECEF
coordinates of the post are returned with them (DiapOTB's ``-withxyz`` bands).

The deformation grid from the DEM (DiapOTB SARDEMGrid) is built from these functions in
:func:`diapsar.deformation_grid.dem_deformation_grid`.

Pure functions on arrays (DEM heights, metadata, orbits); no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import RadarGrid, geo2rdr, llh_to_ecef, rdr2geo_dem
from .io.dem import Dem
from .metadata import SwathMetadata
from .orbit import Orbit

DemPatch = Dem  # the one DEM container (diapsar.io.dem.Dem), under its former name


@dataclass
class DemProjection:
    """Per DEM post: line and sample in one SAR image, ECEF position; NaN where the post is outside the orbit."""

    line: np.ndarray
    pixel: np.ndarray
    xyz: np.ndarray  # (..., 3)


def project_dem(meta: SwathMetadata, orbit: Orbit, dem: Dem, rows: slice | None = None,
                with_xyz: bool = True) -> DemProjection:
    """SARDEMProjection of the DEM rows ``rows`` (all by default) into the image described by ``meta``."""
    grid = RadarGrid.from_metadata(meta)
    lon, lat = dem.lonlat(rows)
    h = dem.heights_m[rows if rows is not None else slice(None)]
    az, tau = geo2rdr(orbit, lat, lon, h)
    ok = np.isfinite(h) & np.isfinite(az)
    line = np.where(ok, grid.time_to_line(np.where(ok, az, meta.first_line_time_s)), np.nan)
    pixel = np.where(ok, grid.range_time_to_pixel(np.where(ok, tau, meta.slant_range_time_s)), np.nan)
    xyz = llh_to_ecef(lat, lon, np.where(np.isfinite(h), h, 0.0)) if with_xyz else np.empty(line.shape + (0,))
    if with_xyz:
        xyz[~ok] = np.nan
    return DemProjection(line=line, pixel=pixel, xyz=xyz)


def ground_points(meta: SwathMetadata, orbit: Orbit, dem: Dem, line: np.ndarray,
                  pixel: np.ndarray) -> np.ndarray:
    """ECEF (..., 3) of radar coordinates (full-resolution line, pixel) on the DEM surface; NaN off the DEM."""
    grid = RadarGrid.from_metadata(meta)
    t = grid.line_to_time(line)
    tau = grid.pixel_to_range_time(pixel)
    lat, lon, h = rdr2geo_dem(orbit, t, tau, dem.heights_m, dem.transform, look_side=meta.look_side)
    xyz = llh_to_ecef(np.nan_to_num(lat), np.nan_to_num(lon), np.nan_to_num(h))
    xyz[~np.isfinite(lat)] = np.nan
    return xyz


def radar_coordinates(meta: SwathMetadata, orbit: Orbit, xyz: np.ndarray,
                      t_guess_s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Line, pixel and two-way range time (s) of ECEF points (..., 3) in one image (zero-Doppler geo2rdr)."""
    from .geometry import ecef_to_llh

    grid = RadarGrid.from_metadata(meta)
    ok = np.all(np.isfinite(xyz), axis=-1)
    safe = np.where(ok[..., None], xyz, np.array([6378137.0, 0.0, 0.0]))
    lat, lon, h = ecef_to_llh(safe)
    az, tau = geo2rdr(orbit, lat, lon, h, t_guess_s)
    ok &= np.isfinite(az)
    line = np.where(ok, grid.time_to_line(np.where(ok, az, meta.first_line_time_s)), np.nan)
    pixel = np.where(ok, grid.range_time_to_pixel(np.where(ok, tau, meta.slant_range_time_s)), np.nan)
    return line, pixel, np.where(ok, tau, np.nan)
