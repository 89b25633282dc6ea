"""SARFineDeformationGrid and its parts: SARCorrelationGrid, SARDEMGrid, SARCorrectionGrid, SARGridOffset.

Grid conventions (every function here, :mod:`diapsar.coregistration` and the chain):

- A grid is a float array of shape (bands, n_nodes_az, n_nodes_r); band 0 = shift_range, band 1 =
  shift_azimuth, both in **SLC pixels**, with **slave coordinate = master coordinate + shift**; the
  correlation grid adds band 2 = correlation rate, the DEM grid band 2 = number of DEM posts.
- Node (ka, kr) sits on **master SLC line ka·step_azimuth and column kr·step_range**; node (0, 0) is SLC
  pixel (0, 0) (DiapOTB's ``nooffset`` origin question is open, diapotb.md §9; this is the choice made here).
  Nodes cover the image: n_nodes = ⌈(N − 1)/step⌉ + 1, so the last node lies on or beyond the last pixel.
- Steps must be multiples of the multilook factors (``ConfigError`` otherwise, like DiapOTB's
  "GridSteps range not a multiple of MLRan").
- The correlation is measured on multilooked amplitudes: ML pixel i covers SLC lines [i·ml, (i+1)·ml), so
  node k is measured on ML pixel k·step/ml, whose centre is SLC coordinate k·step + (ml − 1)/2 (a fixed
  sub-cell offset, harmless for smooth shift fields). ML shifts are converted to SLC shifts by × ml.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from diapsar.errors import ConfigError
from diapsar.kernels.correlation import model_fit_peak, ncc_search

log = logging.getLogger(__name__)

CORRELATION_BANDS = ("shift_range", "shift_azimuth", "correlation_rate")
DEM_GRID_BANDS = ("shift_range", "shift_azimuth", "dem_points")
GRID_BANDS = ("shift_range", "shift_azimuth")


def check_steps(step_range: int, step_azimuth: int, ml_range: int, ml_azimuth: int) -> None:
    """Raise ConfigError unless each grid step is a positive multiple of its multilook factor."""
    for axis, step, ml, key in (("range", step_range, ml_range, "GridStep_range"),
                                ("azimuth", step_azimuth, ml_azimuth, "GridStep_azimut")):
        if int(step) != step or step <= 0 or ml <= 0 or int(step) % int(ml):
            raise ConfigError(f"grid step {key}={step} (SLC pixels) is not a positive multiple of the "
                              f"{axis} multilook factor {ml}")


def grid_shape(n_lines: int, n_cols: int, step_range: int, step_azimuth: int) -> tuple[int, int]:
    """(n_nodes_az, n_nodes_r) of the grid covering an n_lines × n_cols master SLC."""
    return (int(math.ceil((n_lines - 1) / step_azimuth)) + 1, int(math.ceil((n_cols - 1) / step_range)) + 1)


def node_coordinates(shape: tuple[int, int], step_range: int, step_azimuth: int) -> tuple[np.ndarray, np.ndarray]:
    """Master SLC (line, column) of every node, each of shape ``shape``."""
    lines = np.arange(shape[0], dtype=np.float64) * step_azimuth
    cols = np.arange(shape[1], dtype=np.float64) * step_range
    return np.meshgrid(lines, cols, indexing="ij")


def _per_node(value: float | np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if value is None:
        return np.zeros(shape)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(shape, float(arr))
    if arr.shape != shape:
        raise ValueError(f"per-node array must have shape {shape}, got {arr.shape}")
    return np.where(np.isfinite(arr), arr, 0.0)


def correlation_grid(master_ml: np.ndarray, slave_ml: np.ndarray, ml_range: int, ml_azimuth: int,
                     step_range: int, step_azimuth: int, slc_shape: tuple[int, int] | None = None,
                     patch_size: int = 31, search_range: int = 4, search_azimuth: int = 4,
                     guess_range: float | np.ndarray | None = None,
                     guess_azimuth: float | np.ndarray | None = None,
                     slc_bandwidth: tuple[float, float] = (0.8, 0.8),
                     node_rows: tuple[int, int] | None = None, master_line0: int = 0,
                     slave_line0: int = 0) -> np.ndarray:
    """SARCorrelationGrid on multilooked amplitudes; returns (3, n_az, n_r) float32.

    Bands: shift_range, shift_azimuth (SLC pixels, slave = master + shift), correlation rate (NCC at the
    integer peak, in [−1, 1]). Per node a ``patch_size``² master patch (ML pixels, clipped at the image
    edges, at least 5 pixels per axis) is compared with slave patches at integer offsets guess ± search
    (ML pixels); the best one is refined to sub-pixel precision by fitting the expected correlation shape
    of multilooked speckle to the 5 NCC samples through the peak on each axis
    (:func:`diapsar.kernels.correlation.model_fit_peak`; ``slc_bandwidth`` = SLC bandwidth / sampling rate
    in range and azimuth, a weak parameter). ``guess_range``/``guess_azimuth`` (SLC pixels,
    scalar or per node, e.g. the DEM grid) centre the search. Nodes without a valid patch get rate 0 and
    zero shifts. ``slc_shape`` (master SLC lines, columns) defaults to the ML shape × factors.

    Strips: ``node_rows=(k0, k1)`` computes only those node rows (output (3, k1 − k0, n_r)); then
    ``master_ml``/``slave_ml`` may be ML strips starting at ML lines ``master_line0``/``slave_line0``, which
    must hold the lines given by :func:`correlation_lines_needed` (the strip edges act as image edges).
    """
    check_steps(step_range, step_azimuth, ml_range, ml_azimuth)
    master = np.ascontiguousarray(master_ml, dtype=np.float64)
    slave = np.ascontiguousarray(slave_ml, dtype=np.float64)
    if slc_shape is None:
        slc_shape = (master.shape[0] * ml_azimuth, master.shape[1] * ml_range)
    full_shape = grid_shape(slc_shape[0], slc_shape[1], step_range, step_azimuth)
    k0, k1 = (0, full_shape[0]) if node_rows is None else node_rows
    shape = (k1 - k0, full_shape[1])
    ka, kr = np.meshgrid(np.arange(k0, k1), np.arange(shape[1]), indexing="ij")
    # strip-local ML coordinates: master line = node line − master_line0; the slave offset of a master
    # pixel becomes guess + master_line0 − slave_line0 in strip-local terms
    local = master_line0 - slave_line0
    centre_a = (ka * (step_azimuth // ml_azimuth) - master_line0).ravel().astype(np.int64)
    centre_r = (kr * (step_range // ml_range)).ravel().astype(np.int64)
    g_a = (np.rint(_per_node(guess_azimuth, full_shape)[k0:k1] / ml_azimuth).ravel() + local).astype(np.int64)
    g_r = np.rint(_per_node(guess_range, full_shape)[k0:k1] / ml_range).ravel().astype(np.int64)
    half = patch_size // 2
    best_a, best_r, best, box, surface = ncc_search(master, slave, centre_a, centre_r, g_a, g_r, half, half,
                                                    int(search_azimuth), int(search_range), 5)
    best_a = best_a - local
    g_a = g_a - local
    out = np.zeros((3,) + shape, dtype=np.float32)
    good = np.flatnonzero(best > -2.0)
    # 5-sample lines of the NCC surface through the integer peak, one per axis
    ia = best_a[good] - (g_a[good] - search_azimuth - 2)
    ir = best_r[good] - (g_r[good] - search_range - 2)
    lags = np.arange(-2, 3)
    line_a = surface[good[:, None], ia[:, None] + lags[None, :], ir[:, None]]
    line_r = surface[good[:, None], ia[:, None], ir[:, None] + lags[None, :]]
    da = model_fit_peak(line_a, ml_azimuth, slc_bandwidth[1])
    dr = model_fit_peak(line_r, ml_range, slc_bandwidth[0])
    ok = np.isfinite(da) & np.isfinite(dr)
    good, da, dr = good[ok], da[ok], dr[ok]
    out[0].reshape(-1)[good] = (best_r[good] + dr) * ml_range
    out[1].reshape(-1)[good] = (best_a[good] + da) * ml_azimuth
    out[2].reshape(-1)[good] = best[good]
    return out


def correlation_lines_needed(node_rows: tuple[int, int], ml_azimuth: int, step_azimuth: int,
                             n_ml_lines_master: int, n_ml_lines_slave: int, patch_size: int = 31,
                             search_azimuth: int = 4, guess_azimuth: float | np.ndarray | None = None
                             ) -> tuple[tuple[int, int], tuple[int, int]]:
    """ML lines [m0, m1) of the master and [s0, s1) of the slave that :func:`correlation_grid` reads for
    node rows ``node_rows`` (patches, search range and the 2 extra lags of the sub-pixel fit; clipped to
    the images). ``guess_azimuth``: same per-node guess (SLC pixels) as passed to correlation_grid, rows
    indexed over the whole grid."""
    k0, k1 = node_rows
    half = patch_size // 2
    cell = step_azimuth // ml_azimuth
    m0 = max(0, k0 * cell - half)
    m1 = min(n_ml_lines_master, (k1 - 1) * cell + half + 1)
    g = np.asarray(0.0 if guess_azimuth is None else guess_azimuth, dtype=np.float64)
    if g.ndim:
        g = g[k0:k1]
    g = np.rint(np.where(np.isfinite(g), g, 0.0) / ml_azimuth)
    reach = search_azimuth + 2
    s0 = max(0, int(m0 + g.min() - reach))
    s1 = min(n_ml_lines_slave, int(m1 + g.max() + reach))
    return (m0, m1), (s0, s1)


def dem_grid_accumulate(sums: np.ndarray, line_master: np.ndarray, col_master: np.ndarray,
                        line_slave: np.ndarray, col_slave: np.ndarray, step_range: int,
                        step_azimuth: int) -> None:
    """Add DEM posts to running DEM-grid sums (shape (3, n_az, n_r): Σ Δcol, Σ Δline, count), in place.

    Inputs are the SLC (line, column) of the same DEM posts in master and slave geometry (SARDEMProjection
    bands L, C of both images; NaN = not projected). Each post goes to the node nearest to its master
    position; posts off the grid are ignored. Call once per DEM block, then :func:`dem_grid_finalize`.
    """
    lm = np.asarray(line_master, dtype=np.float64).ravel()
    cm = np.asarray(col_master, dtype=np.float64).ravel()
    ls = np.asarray(line_slave, dtype=np.float64).ravel()
    cs = np.asarray(col_slave, dtype=np.float64).ravel()
    ok = np.isfinite(lm) & np.isfinite(cm) & np.isfinite(ls) & np.isfinite(cs)
    ka = np.rint(lm / step_azimuth)
    kr = np.rint(cm / step_range)
    n_a, n_r = sums.shape[1:]
    ok &= (ka >= 0) & (ka < n_a) & (kr >= 0) & (kr < n_r)
    idx = (ka[ok] * n_r + kr[ok]).astype(np.int64)
    size = n_a * n_r
    sums[0] += np.bincount(idx, weights=cs[ok] - cm[ok], minlength=size).reshape(n_a, n_r)
    sums[1] += np.bincount(idx, weights=ls[ok] - lm[ok], minlength=size).reshape(n_a, n_r)
    sums[2] += np.bincount(idx, minlength=size).reshape(n_a, n_r)


def dem_grid_finalize(sums: np.ndarray) -> np.ndarray:
    """SARDEMGrid bands (shift_range, shift_azimuth, dem_points) from accumulated sums; NaN shifts where
    a node received no post."""
    out = np.full(sums.shape, np.nan, dtype=np.float64)
    cnt = sums[2]
    has = cnt > 0
    out[0][has] = sums[0][has] / cnt[has]
    out[1][has] = sums[1][has] / cnt[has]
    out[2] = cnt
    return out


def dem_grid(line_master: np.ndarray, col_master: np.ndarray, line_slave: np.ndarray, col_slave: np.ndarray,
             shape: tuple[int, int], step_range: int, step_azimuth: int) -> np.ndarray:
    """One-shot SARDEMGrid: per-node mean DEM-predicted shift (see :func:`dem_grid_accumulate`)."""
    sums = np.zeros((3,) + tuple(shape))
    dem_grid_accumulate(sums, line_master, col_master, line_slave, col_slave, step_range, step_azimuth)
    return dem_grid_finalize(sums)


def correction_grid(corr_grid: np.ndarray, dem_grid_: np.ndarray, threshold: float = 0.3,
                    gap: float = 0.7, advantage: str = "correlation") -> np.ndarray:
    """SARCorrectionGrid: combine the correlation and DEM grids into the final (2, n_az, n_r) grid.

    - valid nodes: correlation rate > ``threshold`` and (DEM grid with a count band) count > 0;
    - DEM shifts more than ``gap`` SLC pixels from their median (per axis) are replaced by the mean of the
      other nodes, as are nodes without DEM posts ("avoid incoherent shift"; chains use gap = 1000, i.e.
      off; DiapOTB's doc says "mean", the median makes the rule robust to the outliers it removes);
    - mean correction c = mean(corr − dem) over valid nodes, per axis;
    - ``advantage="dem"``: dem + c everywhere; ``"correlation"``: corr on valid nodes, dem + c elsewhere.
    With no valid node the correction is 0 and a warning is logged. Formulas: diapotb.md §4.1 (inferred).
    """
    if advantage not in ("correlation", "dem"):
        raise ConfigError(f"grid advantage must be 'correlation' or 'dem', got {advantage!r}")
    corr = np.asarray(corr_grid, dtype=np.float64)
    dem = np.asarray(dem_grid_, dtype=np.float64)
    if corr.shape[1:] != dem.shape[1:]:
        raise ValueError(f"correlation grid {corr.shape} and DEM grid {dem.shape} differ in node shape")
    has_dem = np.isfinite(dem[0]) & np.isfinite(dem[1])
    if dem.shape[0] > 2:
        has_dem &= dem[2] > 0
    valid = (corr[2] > threshold) & has_dem & np.isfinite(corr[0]) & np.isfinite(corr[1])
    out = np.empty((2,) + corr.shape[1:])
    for b in range(2):
        d = dem[b].copy()
        # the deviation is measured from the median (robust to the very outliers the rule targets);
        # replaced values take the mean of the inliers
        centre = float(np.median(d[has_dem])) if has_dem.any() else 0.0
        inlier = has_dem & (np.abs(d - centre) <= gap)
        mean_dem = float(d[inlier].mean()) if inlier.any() else centre
        d[~inlier] = mean_dem
        corrected = d
        if valid.any():
            corrected = d + float(np.mean(corr[b][valid] - d[valid]))
        out[b] = corrected if advantage == "dem" else np.where(valid, corr[b], corrected)
    if not valid.any():
        log.warning("correction grid: no node with correlation rate > %.2f and DEM points; DEM grid used "
                    "without correction", threshold)
    return out


def fine_deformation_grid(master_ml: np.ndarray, slave_ml: np.ndarray, dem_grid_: np.ndarray, ml_range: int,
                          ml_azimuth: int, step_range: int, step_azimuth: int,
                          slc_shape: tuple[int, int] | None = None, threshold: float = 0.3, gap: float = 0.7,
                          advantage: str = "correlation", patch_size: int = 31, search_range: int = 4,
                          search_azimuth: int = 4) -> np.ndarray:
    """SARFineDeformationGrid: correlation grid searched around the DEM-predicted shifts, then corrected.

    Returns (2, n_az, n_r) float64: shift_range, shift_azimuth in SLC pixels (slave = master + shift).
    ``dem_grid_`` is the SARDEMGrid output (bands shift_range, shift_azimuth[, count]) on the same nodes.
    """
    dem = np.asarray(dem_grid_, dtype=np.float64)
    corr = correlation_grid(master_ml, slave_ml, ml_range, ml_azimuth, step_range, step_azimuth, slc_shape,
                            patch_size, search_range, search_azimuth,
                            guess_range=dem[0], guess_azimuth=dem[1])
    if corr.shape[1:] != dem.shape[1:]:
        raise ValueError(f"DEM grid nodes {dem.shape[1:]} differ from the correlation grid {corr.shape[1:]}")
    return correction_grid(corr, dem, threshold, gap, advantage)


def grid_offset(grid: np.ndarray, offset_range: float = 0.0, offset_azimuth: float = 0.0) -> np.ndarray:
    """SARGridOffset: a copy of ``grid`` with constant offsets (SLC pixels) added to bands 0 and 1."""
    out = np.array(grid, dtype=np.float64, copy=True)
    out[0] += offset_range
    out[1] += offset_azimuth
    return out
