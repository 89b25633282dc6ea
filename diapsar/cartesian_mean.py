"""SARCartesianMeanEstimation: the ground point (ECEF X, Y, Z) of every multilook cell of the master.

DiapOTB (notes 4.1) averages the ECEF positions of the DEM posts whose projection falls in each multilook (ML)
cell, with a 4th band counting them. With a DEM coarser than the ML cell (30-90 m posts against a ~10 m StripMap
cell) most cells receive no post and are holes. Two ways out were considered: densify the DEM (bilinear
upsampling before projection) or interpolate between the filled cells. diapsar takes the limit of the first:
the ground point of a cell is the intersection of its centre's line of sight with the bilinear DEM surface
(rdr2geo on the DEM, ``geometry.rdr2geo_dem``), i.e. the mean of an infinitely densified DEM over a cell whose
relief is locally planar. Every cell the DEM covers gets a point; the post count of the DiapOTB estimator is
still produced (``post_count``) and marks the cells where the DEM is locally coarser than the ML grid.

The cell (i, j) covers full-resolution lines [i*ml_azi, (i+1)*ml_azi) and samples [j*ml_ran, (j+1)*ml_ran) of
the processed window; its centre is at line i*ml_azi + (ml_azi - 1)/2, sample j*ml_ran + (ml_ran - 1)/2, the
centre of gravity of the pixels the interferogram averages into it.
"""

from __future__ import annotations

import numpy as np

from .dem_projection import DemPatch, DemProjection
from .geometry import RadarGrid
from .kernels.binning import bin_posts, count_posts
from .kernels.dem import dem_grid_points
from .metadata import SwathMetadata
from .orbit import Orbit


def cartesian_mean(meta: SwathMetadata, orbit: Orbit, dem: DemPatch, ml_azi: int, ml_ran: int,
                   row0: int, row1: int, n_cols: int, line_offset: int = 0,
                   sample_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ECEF ground point (rows, n_cols, 3) and isData (rows, n_cols) uint8 of ML rows [row0, row1)."""
    # the ML cell centres (module docstring), as 1-D line and sample axes (the grid is separable)
    line = line_offset + np.arange(row0, row1, dtype=np.float64) * ml_azi + (ml_azi - 1) / 2.0
    sample = sample_offset + np.arange(n_cols, dtype=np.float64) * ml_ran + (ml_ran - 1) / 2.0
    grid = RadarGrid.from_metadata(meta)
    t = grid.line_to_time(line)
    tau = grid.pixel_to_range_time(sample)
    xyz = grid_ground_points(orbit, t, tau, dem, look_side=meta.look_side)
    isdata = np.all(np.isfinite(xyz), axis=-1).astype(np.uint8)
    return xyz, isdata


def grid_ground_points(orbit: Orbit, az_s: np.ndarray, tau_s: np.ndarray, dem: DemPatch,
                       look_side: str = "RIGHT", tol_m: float = 1e-4) -> np.ndarray:
    """ECEF (n_az, n_tau, 3) of the radar grid ``az_s`` x ``tau_s`` (zero-Doppler times of the rows, two-way
    range times of the columns) on the bilinear DEM surface; NaN off the DEM or the orbit.

    The same surface point as ``geometry.rdr2geo_dem`` (the one DEM intersection, ``kernels.dem``), searched
    along the look angle on the range/zero-Doppler circle of each row: P(theta) = S + R (cos(theta) n +
    sin(theta) c), with n the nadir direction in the zero-Doppler plane and c the look direction, satisfies
    the range and Doppler equations exactly, so only g(theta) = h(P) - DEM(P) is iterated (Newton on the
    ellipsoidal height, then secant steps) until |g| < ``tol_m``, each column starting from the angle of the
    previous one: one geodetic conversion and one DEM lookup per step instead of a 3-D Newton solve per
    height. Rows are independent (parallel), so results do not depend on the thread count.
    """
    d = np.ascontiguousarray(dem.heights_m, dtype=np.float64)
    x0, dx, _, y0, _, dy = (float(v) for v in dem.transform)
    finite = d[np.isfinite(d)]
    h_start = float(np.median(finite)) if finite.size else 0.0
    tg, nodes, coef, t_ref = orbit.kernel_args
    az = np.ascontiguousarray(az_s, dtype=np.float64) - t_ref
    tau = np.ascontiguousarray(tau_s, dtype=np.float64)
    out = np.empty((az.size, tau.size, 3))
    dem_grid_points(az, tau, d, x0, dx, y0, dy, h_start, look_side.upper() != "LEFT", tg, nodes, coef,
                    float(tol_m), out)
    return out


def add_post_count(line: np.ndarray, pixel: np.ndarray, count: np.ndarray, ml_azi: int, ml_ran: int,
                   line_offset: int = 0, sample_offset: int = 0) -> np.ndarray:
    """Add to ``count`` (int32, ML rows x cols) the DEM posts at (line, pixel) (any shape, float32/64), with
    ``post_mean``'s rule; lets the chain count posts by strips of the DEM projection. Returns ``count``."""
    count_posts(np.ascontiguousarray(np.ravel(line)), np.ascontiguousarray(np.ravel(pixel)), int(ml_azi),
                 int(ml_ran), float(line_offset), float(sample_offset), count)
    return count


def post_mean(proj: DemProjection, shape: tuple[int, int], ml_azi: int, ml_ran: int, line_offset: int = 0,
              sample_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """DiapOTB's estimator: mean ECEF of the DEM posts per ML cell (NaN where none) and the post count.

    A post at (line, pixel) belongs to the pixel nearest to it, hence to the ML cell holding that pixel.
    """
    sums = np.zeros(shape + (3,))
    count = np.zeros(shape, dtype=np.int32)
    xyz = np.ascontiguousarray(proj.xyz.reshape(-1, 3)) if proj.xyz.size else np.zeros((proj.line.size, 3))
    bin_posts(np.ascontiguousarray(proj.line.reshape(-1), dtype=np.float64),
               np.ascontiguousarray(proj.pixel.reshape(-1), dtype=np.float64), xyz, int(ml_azi), int(ml_ran),
               float(line_offset), float(sample_offset), sums, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / count[..., None]
    mean[count == 0] = np.nan
    return mean, count
