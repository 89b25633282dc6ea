"""SARCoRegistration: resample the slave SLC onto the master grid through a deformation grid.

- Grid: shape (2, n_nodes_az, n_nodes_r), band 0 = range shift, band 1 = azimuth shift, in SLC pixels,
  slave coordinate = master coordinate + shift; node (ka, kr) on master line ka·step_azimuth, column
  kr·step_range (see :mod:`diapsar.deformation_grid`).
- Dense shift: **bilinear** interpolation of the grid (linear extrapolation beyond the last node).
- Interpolator: separable Kaiser-windowed sinc (8 taps by default, 2048 tabulated sub-pixel phases, i.e.
  a LUT step of 1/2048 px), see :mod:`diapsar.kernels.sinc`.
- Doppler: interpolation is done on the strip demodulated by the slave Doppler centroid f_dc (cycles/line,
  scalar or one value per slave column) and the result remodulated at the interpolated position, which
  equals modulating the azimuth kernel by exp(j2π·f_dc·τ): spectra centred off zero Doppler are
  interpolated without loss. ``range_carrier`` (cycles/pixel) does the same in range. A range-varying
  Doppler is exact per column up to a tiny range-frequency shift (see
  :func:`diapsar.kernels.sinc.resample_grid_sinc`).
- Kernel: :func:`diapsar.kernels.sinc.resample_grid_sinc_rows`, the separable form (azimuth taps per slave
  column, then range taps; 16 instead of 72 complex multiply-adds per pixel) when the grid's azimuth shift
  changes slowly enough along range (:func:`separable_error_lines` <= ``SEPARABLE_MAX_LINES``), else the 2-D
  :func:`~diapsar.kernels.sinc.resample_grid_sinc` (tests/test_72_coregistration.py compares them).
- Output: complex64, 0 where the slave position falls outside the slave image.

Streaming: :func:`slave_lines_needed` tells which slave lines an output block needs; :func:`coregister_block`
resamples one block of master rows from that strip.
"""

from __future__ import annotations

import math

import numpy as np

from diapsar.kernels.sinc import dense_shift, resample_grid_sinc, resample_grid_sinc_rows, sinc_lut

_LUT_CACHE: dict[tuple[int, int, float], np.ndarray] = {}


def _lut(n_taps: int, n_phases: int, beta: float) -> np.ndarray:
    key = (n_taps, n_phases, beta)
    if key not in _LUT_CACHE:
        _LUT_CACHE[key] = sinc_lut(n_taps, n_phases, beta)
    return _LUT_CACHE[key]


def _check_grid(grid: np.ndarray, step_range: float, step_azimuth: float) -> np.ndarray:
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 3 or grid.shape[0] != 2:
        raise ValueError(f"deformation grid must have shape (2, n_az, n_r), got {grid.shape}")
    if not np.all(np.isfinite(grid)):
        raise ValueError("deformation grid contains NaN or infinite shifts (fill them before resampling)")
    if step_range <= 0 or step_azimuth <= 0:
        raise ValueError(f"grid steps must be > 0, got {step_range}, {step_azimuth}")
    return np.ascontiguousarray(grid)


def slave_lines_needed(grid: np.ndarray, step_range: float, step_azimuth: float, row0: int, row1: int,
                       n_cols: int, n_lines_slave: int, n_taps: int = 8) -> tuple[int, int]:
    """Slave lines [l0, l1) (clipped to the image) needed to resample master rows [row0, row1).

    The bilinear shift is piecewise linear, so its extremes over the block lie on block-edge rows or node
    rows and on node columns or the first/last column; those are evaluated exactly.
    """
    grid = _check_grid(grid, step_range, step_azimuth)
    rows = [row0, row1 - 1] + [int(k * step_azimuth) for k in range(grid.shape[1])
                               if row0 <= k * step_azimuth < row1]
    cols = np.unique(np.clip(np.r_[0, n_cols - 1, np.arange(grid.shape[2]) * step_range], 0, n_cols - 1))
    lo, hi = math.inf, -math.inf
    for r in rows:
        _, da = dense_shift(grid, float(step_range), float(step_azimuth), int(r), 1, n_cols)
        vals = da[0, cols.astype(np.int64)]
        lo = min(lo, r + float(vals.min()))
        hi = max(hi, r + float(vals.max()))
    half = n_taps // 2
    l0 = max(0, int(math.floor(lo)) - half + 1)
    l1 = min(n_lines_slave, int(math.floor(hi)) + half + 1)
    return l0, max(l0, l1)


def _doppler_array(doppler_cycles: float | np.ndarray, n_cols_slave: int) -> tuple[np.ndarray, bool]:
    d = np.asarray(doppler_cycles, dtype=np.float64)
    if not np.all(np.isfinite(d)):
        raise ValueError("Doppler centroid contains NaN or infinite values")
    if d.ndim == 0:
        return np.full(n_cols_slave, float(d)), float(d) != 0.0
    if d.shape != (n_cols_slave,):
        raise ValueError(f"per-column Doppler must have {n_cols_slave} values (slave columns), got {d.shape}")
    return np.ascontiguousarray(d), bool(np.any(d != 0.0))


# largest azimuth position error (lines) accepted from the separable kernel: a fifth of the table step 1/2048
SEPARABLE_MAX_LINES = 1e-4


def separable_error_lines(grid: np.ndarray, step_range: float, n_taps: int = 8) -> float:
    """Bound on the azimuth position error of the separable kernel (``resample_grid_sinc_rows``) for this grid:
    the taps of a pixel take the azimuth shift of columns up to n_taps/2 + 1 away, so the error is at most
    that many times the largest change of the azimuth shift per column. Sentinel-1 grids: ~1e-6 line per
    column; grids with steep shift gradients (synthetic tests) get the 2-D kernel."""
    g = np.asarray(grid, dtype=np.float64)
    if g.shape[2] < 2:
        return 0.0
    slope = float(np.nanmax(np.abs(np.diff(g[1], axis=1)))) / float(step_range)
    return slope * (n_taps // 2 + 1)


def coregister_block(slave_strip: np.ndarray, strip_line0: int, n_lines_slave: int, grid: np.ndarray,
                     step_range: float, step_azimuth: float, row0: int, row1: int, n_cols: int,
                     doppler_cycles: float | np.ndarray = 0.0, range_carrier: float = 0.0,
                     n_taps: int = 8, n_phases: int = 2048, beta: float = 4.0) -> np.ndarray:
    """Coregistered slave for master rows [row0, row1) and columns [0, n_cols); complex64.

    slave_strip: complex slave lines [strip_line0, strip_line0 + len) with all slave columns; it must hold
    the lines given by :func:`slave_lines_needed` (checked). n_lines_slave: full slave height (pixels whose
    position falls outside it are 0). doppler_cycles: slave Doppler centroid f_dc/PRF (cycles/line), scalar
    or per slave column. range_carrier: cycles/pixel (0 for Sentinel-1 SLCs).
    """
    grid = _check_grid(grid, step_range, step_azimuth)
    strip = np.ascontiguousarray(slave_strip, dtype=np.complex64)
    l0, l1 = slave_lines_needed(grid, step_range, step_azimuth, row0, row1, n_cols, n_lines_slave, n_taps)
    if l1 > l0 and (strip_line0 > l0 or strip_line0 + strip.shape[0] < l1):
        raise ValueError(f"slave strip covers lines [{strip_line0}, {strip_line0 + strip.shape[0]}) but "
                         f"master rows [{row0}, {row1}) need [{l0}, {l1})")
    dop, use_dop = _doppler_array(doppler_cycles, strip.shape[1])
    kernel = resample_grid_sinc_rows if separable_error_lines(grid, step_range, n_taps) <= SEPARABLE_MAX_LINES \
        else resample_grid_sinc
    return kernel(strip, int(strip_line0), int(n_lines_slave), int(row0), int(row1 - row0),
                              int(n_cols), grid, float(step_range), float(step_azimuth),
                              _lut(n_taps, n_phases, beta), dop, use_dop, float(range_carrier))


def coregister(slave: np.ndarray, grid: np.ndarray, step_range: float, step_azimuth: float,
               master_shape: tuple[int, int], doppler_cycles: float | np.ndarray = 0.0,
               range_carrier: float = 0.0, n_taps: int = 8, n_phases: int = 2048) -> np.ndarray:
    """Whole-image convenience wrapper of :func:`coregister_block` (slave fully in memory)."""
    return coregister_block(slave, 0, slave.shape[0], grid, step_range, step_azimuth, 0, master_shape[0],
                            master_shape[1], doppler_cycles, range_carrier, n_taps, n_phases)


def dense_shifts(grid: np.ndarray, step_range: float, step_azimuth: float, row0: int, row1: int,
                 n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear dense (range, azimuth) shifts in SLC pixels for master rows [row0, row1), float64."""
    grid = _check_grid(grid, step_range, step_azimuth)
    return dense_shift(grid, float(step_range), float(step_azimuth), int(row0), int(row1 - row0), int(n_cols))
