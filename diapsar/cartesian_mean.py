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

import numba
import numpy as np

from .dem_projection import DemPatch, DemProjection, ground_points
from .metadata import SwathMetadata
from .orbit import Orbit


def cell_centres(rows: np.ndarray, cols: np.ndarray, ml_azi: int, ml_ran: int, line_offset: int = 0,
                 sample_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution line and sample of the centres of ML cells (rows, cols: 1-D ML indices)."""
    line = line_offset + np.asarray(rows, dtype=np.float64) * ml_azi + (ml_azi - 1) / 2.0
    sample = sample_offset + np.asarray(cols, dtype=np.float64) * ml_ran + (ml_ran - 1) / 2.0
    return np.meshgrid(line, sample, indexing="ij")


def cartesian_mean(meta: SwathMetadata, orbit: Orbit, dem: DemPatch, ml_azi: int, ml_ran: int,
                   row0: int, row1: int, n_cols: int, line_offset: int = 0,
                   sample_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ECEF ground point (rows, n_cols, 3) and isData (rows, n_cols) uint8 of ML rows [row0, row1)."""
    line, sample = cell_centres(np.arange(row0, row1), np.arange(n_cols), ml_azi, ml_ran, line_offset,
                                sample_offset)
    xyz = ground_points(meta, orbit, dem, line, sample)
    isdata = np.all(np.isfinite(xyz), axis=-1).astype(np.uint8)
    return xyz, isdata


@numba.njit(cache=True)
def _post_cell(li, pi, ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols):
    """ML cell (r, c) of a DEM post at (line, pixel): the cell holding the nearest pixel; r = -1 outside."""
    if not (np.isfinite(li) and np.isfinite(pi)):
        return -1, -1
    r = int(np.floor((li + 0.5 - line_offset) / ml_azi))
    c = int(np.floor((pi + 0.5 - sample_offset) / ml_ran))
    if r < 0 or c < 0 or r >= n_rows or c >= n_cols:
        return -1, -1
    return r, c


@numba.njit(cache=True)
def _bin_posts(line, pixel, xyz, ml_azi, ml_ran, line_offset, sample_offset, sums, count):
    n_rows, n_cols = count.shape
    for k in range(line.shape[0]):
        r, c = _post_cell(line[k], pixel[k], ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols)
        if r >= 0:
            count[r, c] += 1
            for a in range(3):
                sums[r, c, a] += xyz[k, a]


@numba.njit(cache=True)
def _count_posts(line, pixel, ml_azi, ml_ran, line_offset, sample_offset, count):
    n_rows, n_cols = count.shape
    for k in range(line.shape[0]):
        r, c = _post_cell(line[k], pixel[k], ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols)
        if r >= 0:
            count[r, c] += 1


def add_post_count(line: np.ndarray, pixel: np.ndarray, count: np.ndarray, ml_azi: int, ml_ran: int,
                   line_offset: int = 0, sample_offset: int = 0) -> np.ndarray:
    """Add to ``count`` (int32, ML rows x cols) the DEM posts at (line, pixel) (any shape, float32/64), with
    ``post_mean``'s rule; lets the chain count posts by strips of the DEM projection. Returns ``count``."""
    _count_posts(np.ascontiguousarray(np.ravel(line)), np.ascontiguousarray(np.ravel(pixel)), int(ml_azi),
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
    _bin_posts(np.ascontiguousarray(proj.line.reshape(-1), dtype=np.float64),
               np.ascontiguousarray(proj.pixel.reshape(-1), dtype=np.float64), xyz, int(ml_azi), int(ml_ran),
               float(line_offset), float(sample_offset), sums, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / count[..., None]
    mean[count == 0] = np.nan
    return mean, count
