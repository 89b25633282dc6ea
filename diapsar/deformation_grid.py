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

The chain's grid (Grid_Advantage "dem", the default) is the DEM grid of the geometry
(:func:`dem_deformation_grid`) corrected by the constant residual shift measured by coherent correlation of
the complex images (:func:`residual_offsets`, :func:`residual_shift`, :func:`refine_by_residual_shift`);
Grid_Advantage "correlation" is DiapOTB's correlation of multilooked amplitudes around the DEM grid
(:func:`correlation_refined_grid`).

DEM grid (DiapOTB SARDEMGrid): the slave-minus-master position of the same ground points. DiapOTB averages
the per-post differences of the two DEM projections over the posts of each grid cell (:func:`dem_grid`); the
chain finds the ground point of each grid node exactly (rdr2geo on the DEM surface from the master
coordinates of the node) and projects it into the slave by geo2rdr: no averaging bias where the relief
changes within a cell, and a value at every node even when the DEM is coarser than the grid.

Residual offset by coherent correlation:Residual offset of a coregistered slave by coherent (complex) cross-correlation with the master.

The geometric (DEM) deformation grid is exact up to a constant: a timing or range bias of the annotation, an
orbit error. Correlating multilooked amplitudes (DiapOTB SARCorrelationGrid) measures that constant to a few
hundredths of a pixel only (speckle of 3x3 looks); the complex SLCs do much better. After resampling the slave
with the DEM grid and removing the topographic phase, master M and slave S' = S exp(+j phi_topo) are the same
signal up to the residual shift d and decorrelation noise, so the peak of |sum M(x) conj(S'(x - tau))| over
tau gives d with a precision of ~sqrt(3/(2N)) sqrt(1 - g^2)/(pi g) px per patch of N pixels and coherence g
(Cramer-Rao bound of coherent correlation: Bamler & Eineder 2005, "Accuracy of differential shift estimation
by correlation and split-bandwidth interferometry", IEEE GRSL 2(2):151). The peak is found on the FFT
cross-correlation and refined by a matrix-multiply DFT upsampling around it (Guizar-Sicairos, Thurman &
Fienup 2008, "Efficient subpixel image registration algorithms", Opt. Lett. 33(2):156).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from diapsar.dem_projection import ground_points, radar_coordinates
from diapsar.errors import ConfigError, DemError
from diapsar.geometry import RadarGrid
from diapsar.io.dem import Dem
from diapsar.kernels.correlation import model_fit_peak, ncc_search
from diapsar.metadata import SwathMetadata
from diapsar.orbit import Orbit

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


# ---- DEM grid from the geometry ---------------------------------------------------------------------------

def dem_deformation_grid(master: SwathMetadata, master_orbit: Orbit, slave: SwathMetadata, slave_orbit: Orbit,
                         dem: Dem, step_azimut: int, step_range: int,
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


def slave_origin_offset(dem_grid_: np.ndarray, ml_azimuth: int, ml_range: int) -> tuple[int, int]:
    """(lines, samples) from the master window origin to the slave's: the median DEM shift rounded to a whole
    number of ML cells, so that the slave multilook grid matches the master's."""
    off_a = int(np.round(np.nanmedian(dem_grid_[1]) / ml_azimuth)) * ml_azimuth
    off_r = int(np.round(np.nanmedian(dem_grid_[0]) / ml_range)) * ml_range
    return off_a, off_r


# ---- residual shift by coherent correlation ------------------------------------------------------------------

def _upsampled_dft(data: np.ndarray, size: int, factor: int, offset: tuple[Any, Any]) -> np.ndarray:
    """``size`` x ``size`` samples of the inverse DFT of ``data`` around ``offset`` (in upsampled units)."""
    n_a, n_r = data.shape
    ka = np.fft.ifftshift(np.arange(n_a)) - n_a // 2
    kr = np.fft.ifftshift(np.arange(n_r)) - n_r // 2
    xa = np.arange(size) - offset[0]
    xr = np.arange(size) - offset[1]
    ker_a = np.exp(2j * np.pi / (n_a * factor) * xa[:, None] * ka[None, :])
    ker_r = np.exp(2j * np.pi / (n_r * factor) * kr[:, None] * xr[None, :])
    return ker_a @ data @ ker_r


def coherent_offset(master: np.ndarray, slave: np.ndarray, factor: int = 20) -> tuple[float, float, float]:
    """(shift_azimuth, shift_range, coherence peak) with slave(x + shift) = master(x).

    Patches must have equal shapes; shifts beyond half a patch wrap around (use small residuals).
    """
    m = np.asarray(master, dtype=np.complex128)
    s = np.asarray(slave, dtype=np.complex128)
    norm = np.sqrt(np.sum(np.abs(m) ** 2) * np.sum(np.abs(s) ** 2))
    if norm == 0:
        return np.nan, np.nan, 0.0
    cross = np.fft.fft2(s) * np.conj(np.fft.fft2(m))  # peak at tau where s(x + tau) = m(x)
    cc = np.abs(np.fft.ifft2(cross))
    ia, ir = np.unravel_index(np.argmax(cc), cc.shape)
    n_a, n_r = cc.shape
    pa = ia - n_a if ia > n_a // 2 else ia
    pr = ir - n_r if ir > n_r // 2 else ir
    # refine: 1.5 px window around the integer peak, upsampled by ``factor``
    size = int(np.ceil(1.5 * factor))
    centre = size // 2
    up = np.abs(_upsampled_dft(cross, size, factor, (centre - pa * factor, centre - pr * factor)))
    ua, ur = np.unravel_index(np.argmax(up), up.shape)
    # below the upsampling step: parabola through the peak and its neighbours on each axis
    fa = fr = 0.0
    if 0 < ua < size - 1:
        den = up[ua - 1, ur] - 2 * up[ua, ur] + up[ua + 1, ur]
        fa = 0.5 * (up[ua - 1, ur] - up[ua + 1, ur]) / den if den < 0 else 0.0
    if 0 < ur < size - 1:
        den = up[ua, ur - 1] - 2 * up[ua, ur] + up[ua, ur + 1]
        fr = 0.5 * (up[ua, ur - 1] - up[ua, ur + 1]) / den if den < 0 else 0.0
    da = pa + (ua + fa - centre) / factor
    dr = pr + (ur + fr - centre) / factor
    return float(da), float(dr), float(up[ua, ur] / (n_a * n_r) / norm)


def residual_offsets(master: np.ndarray, slave: np.ndarray, patch: int = 64, step: int | None = None,
                     factor: int = 20) -> np.ndarray:
    """Coherent offsets on a lattice of ``patch`` x ``patch`` patches of two equal strips (every ``step``
    pixels on both axes).

    Returns an (n, 3) array of (shift_azimuth, shift_range, coherence peak), one row per patch whose pixels
    are all non-zero in both images.
    """
    step = step or patch
    rows = []
    n_a, n_r = master.shape
    for a0 in range(0, n_a - patch + 1, step):
        for r0 in range(0, n_r - patch + 1, step):
            m = master[a0:a0 + patch, r0:r0 + patch]
            s = slave[a0:a0 + patch, r0:r0 + patch]
            if not (np.all(m != 0) and np.all(s != 0)):
                continue
            rows.append(coherent_offset(m, s, factor))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def residual_patch_layout(n_lines: int, n_samples: int, patch: int = 64, max_strips: int = 12,
                          max_patches: int = 240) -> tuple[np.ndarray, int]:
    """First lines of the correlation strips spread over a window, and the column step of the patches along
    each strip (half-overlapping in range, at most ``max_patches`` in all)."""
    n_strips = max(1, min(max_strips, n_lines // patch))
    starts = np.linspace(0, n_lines - patch, n_strips).round().astype(int)
    col_step = max(patch // 2, int(np.ceil(n_strips * (2 * n_samples // patch) / max_patches)) * patch // 2)
    return starts, col_step


def residual_shift(offsets: np.ndarray, threshold: float) -> dict[str, Any]:
    """Constant residual (range, azimuth) shift from per-patch offsets (:func:`residual_offsets` rows).

    Patches whose coherence peak is below ``threshold`` are ignored; the estimate is the g^2/(1 - g^2)-weighted
    mean of the patches within 3 median deviations of the median, with its standard error. Fewer than 3
    coherent patches: no shift (``patches`` tells how many there were)."""
    r = offsets[np.isfinite(offsets).all(axis=1) & (offsets[:, 2] > threshold)]
    out: dict[str, Any] = {"patches": int(len(r)), "shift_range_px": 0.0, "shift_azimuth_px": 0.0,
                           "coherence_peak": None}
    if len(r) < 3:
        return out
    keep = np.ones(len(r), dtype=bool)
    for k in (0, 1):
        med = np.median(r[:, k])
        mad = np.median(np.abs(r[:, k] - med)) * 1.4826 + 1e-6
        keep &= np.abs(r[:, k] - med) <= 3 * mad
    g = np.clip(r[keep, 2], 0.0, 0.999)
    w = g ** 2 / (1 - g ** 2)
    out.update(patches=int(keep.sum()), shift_azimuth_px=float(np.average(r[keep, 0], weights=w)),
               shift_range_px=float(np.average(r[keep, 1], weights=w)), coherence_peak=float(np.mean(g)),
               std_error_range_px=float(np.std(r[keep, 1]) / np.sqrt(keep.sum())),
               std_error_azimuth_px=float(np.std(r[keep, 0]) / np.sqrt(keep.sum())))
    return out


def refine_by_residual_shift(dem_grid_: np.ndarray, measure: Callable[[np.ndarray], dict[str, Any]],
                             iterations: int = 2, significance: float = 2.5,
                             tolerance_px: float = 0.02, label: str = "") -> tuple[np.ndarray, dict[str, Any]]:
    """The DEM grid plus the residual shift ``measure(grid)`` (a :func:`residual_shift` result for the slave
    resampled with ``grid``), up to ``iterations`` times.

    An axis is corrected only when its shift exceeds ``significance`` standard errors, so noise never degrades
    an exact geometric grid; the loop stops when both steps are below ``tolerance_px``. Returns the grid and
    the last measurement with the total correction (``total_range_px``, ``total_azimuth_px``)."""
    fine = dem_grid_.copy()
    total = np.zeros(2)
    res: dict[str, Any] = {}
    for it in range(iterations):
        res = measure(fine)
        if res.get("coherence_peak") is None:
            log.warning("%s: residual shift not measured (%d coherent patches); DEM grid used as is", label,
                        res["patches"])
        step = np.array([res["shift_range_px"], res["shift_azimuth_px"]])
        sig = np.array([res.get("std_error_range_px", np.inf), res.get("std_error_azimuth_px", np.inf)])
        step = np.where(np.abs(step) > significance * sig, step, 0.0)
        fine[0] += step[0]
        fine[1] += step[1]
        total += step
        log.info("%s: residual shift (iteration %d) %+.4f px range, %+.4f px azimuth from %d patches",
                 label, it + 1, step[0], step[1], res["patches"])
        if np.all(np.abs(step) < tolerance_px):
            break
    return fine, res | {"total_range_px": float(total[0]), "total_azimuth_px": float(total[1])}


def correlation_refined_grid(master_ml: np.ndarray, slave_ml: np.ndarray, dem_grid_: np.ndarray,
                             slave_offset: tuple[int, int], ml_range: int, ml_azimuth: int, step_range: int,
                             step_azimuth: int, slc_shape: tuple[int, int], threshold: float,
                             gap: float) -> np.ndarray:
    """Grid_Advantage "correlation": :func:`fine_deformation_grid` of the ML amplitudes (the slave's ML image
    starts ``slave_offset`` = (lines, samples) from the master window), the DEM grid as guess and fallback;
    returned in the DEM grid's frame."""
    off_l, off_s = slave_offset
    rel = dem_grid_.copy()
    rel[0] -= off_s
    rel[1] -= off_l
    fine = fine_deformation_grid(master_ml, slave_ml, rel, ml_range, ml_azimuth, step_range, step_azimuth,
                                 slc_shape=slc_shape, threshold=threshold, gap=gap, advantage="correlation")
    fine[0] += off_s
    fine[1] += off_l
    return fine
