"""SARDEMProjection: where each DEM post falls in a SAR image, and the DEM-based deformation grid.

DiapOTB notes 4.1 (OTB ``SarSensorModel::WorldToLineSampleYZ``): each DEM post (lon, lat, h) with ellipsoidal
height h = DEM height + geoid undulation is turned into ECEF P; its zero-Doppler time t0 and two-way range time
tau on the image's orbit give the line L = time_to_line(t0) and the sample C = (tau - tau_near) * f_s. The ECEF
coordinates of the post are returned with them (DiapOTB's ``-withxyz`` bands).

The deformation grid from the DEM (DiapOTB SARDEMGrid) is the slave-minus-master position of the same ground
points. DiapOTB averages the per-post differences of the two DEM projections over the posts of each grid cell;
here the ground point of each grid node is found exactly (rdr2geo on the DEM surface from the master
coordinates of the node) and projected into the slave by geo2rdr: no averaging bias where the relief changes
within a cell, and a value at every node even when the DEM is coarser than the grid.

Pure functions on arrays (DEM heights, metadata, orbits); no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .deformation_grid import grid_shape, node_coordinates
from .errors import DemError
from .geometry import RadarGrid, geo2rdr, llh_to_ecef, rdr2geo_dem
from .metadata import SwathMetadata
from .orbit import Orbit


@dataclass
class DemPatch:
    """A DEM window on a regular lon/lat grid with *ellipsoidal* heights (NaN = no data).

    ``transform`` is the GDAL geotransform (x0, dx, 0, y0, 0, dy) in degrees, pixel-is-area (post (r, c) is the
    centre of the cell: lon = x0 + (c + 0.5) dx, lat = y0 + (r + 0.5) dy).
    """

    heights_m: np.ndarray
    transform: tuple[float, float, float, float, float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return self.heights_m.shape

    def lonlat(self, rows: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude of the posts (2-D arrays) of the rows ``rows``."""
        x0, dx, _, y0, _, dy = self.transform
        r = np.arange(self.shape[0])[rows if rows is not None else slice(None)]
        c = np.arange(self.shape[1])
        lon = x0 + (c + 0.5) * dx
        lat = y0 + (r + 0.5) * dy
        return np.broadcast_to(lon[None, :], (r.size, c.size)), np.broadcast_to(lat[:, None], (r.size, c.size))

    def height_at(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Bilinear height at lon/lat (NaN outside the patch or next to no-data)."""
        x0, dx, _, y0, _, dy = self.transform
        fc = (np.asarray(lon, dtype=np.float64) - x0) / dx - 0.5
        fr = (np.asarray(lat, dtype=np.float64) - y0) / dy - 0.5
        h = self.heights_m
        ok = (fc >= 0) & (fr >= 0) & (fc <= h.shape[1] - 1) & (fr <= h.shape[0] - 1)
        fc = np.where(ok, fc, 0.0)
        fr = np.where(ok, fr, 0.0)
        c0 = np.clip(np.floor(fc).astype(np.int64), 0, max(h.shape[1] - 2, 0))
        r0 = np.clip(np.floor(fr).astype(np.int64), 0, max(h.shape[0] - 2, 0))
        tc = fc - c0
        tr = fr - r0
        c1 = np.minimum(c0 + 1, h.shape[1] - 1)
        r1 = np.minimum(r0 + 1, h.shape[0] - 1)
        v = ((1 - tr) * ((1 - tc) * h[r0, c0] + tc * h[r0, c1]) + tr * ((1 - tc) * h[r1, c0] + tc * h[r1, c1]))
        return np.where(ok, v, np.nan)


@dataclass
class DemProjection:
    """Per DEM post: line and sample in one SAR image, ECEF position; NaN where the post is outside the orbit."""

    line: np.ndarray
    pixel: np.ndarray
    xyz: np.ndarray  # (..., 3)


def project_dem(meta: SwathMetadata, orbit: Orbit, dem: DemPatch, rows: slice | None = None,
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


def ground_points(meta: SwathMetadata, orbit: Orbit, dem: DemPatch, line: np.ndarray,
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


def dem_deformation_grid(master: SwathMetadata, master_orbit: Orbit, slave: SwathMetadata, slave_orbit: Orbit,
                         dem: DemPatch, step_azimut: int, step_range: int,
                         line_offset: int = 0, sample_offset: int = 0,
                         n_lines: int | None = None, n_samples: int | None = None) -> np.ndarray:
    """DEM deformation grid: (2, na, nr) float64 shifts (range, azimuth) in SLC pixels, slave minus master.

    Node (i, j) sits at master line ``line_offset + i*step_azimut``, sample ``sample_offset + j*step_range``
    (offsets: the first line/sample of a processed window of the master). NaN where the node's ground point is
    off the DEM; those nodes are filled from their neighbours (nearest valid node) so that the grid can be
    interpolated everywhere, and an all-NaN grid is a ``DemError``.
    """
    n_lines = master.number_of_lines - line_offset if n_lines is None else n_lines
    n_samples = master.number_of_samples - sample_offset if n_samples is None else n_samples
    gl, gp = node_coordinates(grid_shape(n_lines, n_samples, step_range, step_azimut), step_range, step_azimut)
    ml = gl + line_offset
    mp = gp + sample_offset
    xyz = ground_points(master, master_orbit, dem, ml, mp)
    sgrid = RadarGrid.from_metadata(slave)
    t_guess = sgrid.line_to_time(ml)
    sl, sp, _ = radar_coordinates(slave, slave_orbit, xyz, t_guess)
    shift = np.stack([sp - mp, sl - ml])
    ok = np.isfinite(shift[0]) & np.isfinite(shift[1])
    if not ok.any():
        raise DemError("the DEM does not cover the scene: no deformation-grid node has a ground point")
    if not ok.all():
        from scipy.ndimage import distance_transform_edt

        idx = distance_transform_edt(~ok, return_distances=False, return_indices=True)
        shift = shift[:, idx[0], idx[1]]
    return shift
