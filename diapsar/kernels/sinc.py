"""Windowed-sinc interpolation: lookup tables, coarse grid → dense shifts, 2-D complex resampling.

Kernel: h(τ) = sinc(τ)·w(τ), w a Kaiser window of half-width n_taps/2 (β = 4 by default), each tabulated
sub-pixel phase normalised to unit DC gain. For 8 taps the RMS response error is ≈ 0.6 % over a band of 70 %
of the sampling rate (derived in the tests). Taps of sample position x are the samples
k = ⌊x⌋ − n/2 + 1 … ⌊x⌋ + n/2, with weights h(x − k); the table row is round(frac(x)·n_phases).

Grid convention (shared with :mod:`diapsar.deformation_grid`): node (ka, kr) sits on master SLC line
ka·step_az and column kr·step_r (origin at node 0 = pixel 0); band 0 holds the range shift, band 1 the
azimuth shift, both in SLC pixels, slave coordinate = master coordinate + shift. Between nodes the shift is
bilinear; beyond the last node it is extrapolated linearly from the last cell.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def sinc_lut(n_taps: int = 8, n_phases: int = 2048, beta: float = 4.0) -> np.ndarray:
    """Table of interpolation weights, shape (n_phases + 1, n_taps) float32 (row p ↔ fraction p/n_phases)."""
    if n_taps < 2 or n_taps % 2:
        raise ValueError(f"n_taps must be an even number >= 2, got {n_taps}")
    frac = np.arange(n_phases + 1, dtype=np.float64)[:, None] / n_phases
    k = np.arange(n_taps, dtype=np.float64)[None, :] - (n_taps // 2 - 1)
    tau = frac - k
    half = n_taps / 2.0
    x = np.clip(1.0 - (tau / half) ** 2, 0.0, None)
    w = np.i0(beta * np.sqrt(x)) / np.i0(beta)
    h = np.sinc(tau) * np.where(np.abs(tau) < half, w, 0.0)
    h /= h.sum(axis=1, keepdims=True)
    return h.astype(np.float32)


@numba.njit(cache=True)
def _axis_weights(u: float, n: int) -> tuple[int, float]:
    """Cell index (clamped to [0, n-2]) and fractional weight for node coordinate u (linear extrapolation)."""
    if n == 1:
        return 0, 0.0
    k = int(math.floor(u))
    if k < 0:
        k = 0
    elif k > n - 2:
        k = n - 2
    return k, u - k


@numba.njit(cache=True)
def _grid_row(grid_band: np.ndarray, line: float, step_az: float, out: np.ndarray) -> None:
    """Interpolate one grid band along azimuth at master line ``line``; out has one value per node column."""
    n_a = grid_band.shape[0]
    k, t = _axis_weights(line / step_az, n_a)
    if n_a == 1:
        for j in range(grid_band.shape[1]):
            out[j] = grid_band[0, j]
    else:
        for j in range(grid_band.shape[1]):
            out[j] = (1.0 - t) * grid_band[k, j] + t * grid_band[k + 1, j]


@numba.njit(cache=True)
def _row_value(row: np.ndarray, col: float, step_r: float) -> float:
    n_r = row.shape[0]
    k, t = _axis_weights(col / step_r, n_r)
    if n_r == 1:
        return row[0]
    return (1.0 - t) * row[k] + t * row[k + 1]


@numba.njit(cache=True, fastmath=True)
def _cexp_small(theta: float) -> tuple[float, float]:
    """(cos θ, sin θ) for |θ| ≤ π, float32: Taylor series of θ/4 (error < 1e-7) squared twice."""
    x = np.float32(0.25 * theta)
    x2 = x * x
    s = x * (np.float32(1.0) - x2 / np.float32(6.0) * (np.float32(1.0) - x2 / np.float32(20.0)
                                                        * (np.float32(1.0) - x2 / np.float32(42.0))))
    c = np.float32(1.0) - x2 / np.float32(2.0) * (np.float32(1.0) - x2 / np.float32(12.0)
                                                  * (np.float32(1.0) - x2 / np.float32(30.0)
                                                     * (np.float32(1.0) - x2 / np.float32(56.0))))
    c, s = c * c - s * s, np.float32(2.0) * c * s
    return c * c - s * s, np.float32(2.0) * c * s


@numba.njit(cache=True, parallel=True)
def dense_shift(grid: np.ndarray, step_r: float, step_az: float, row0: int, n_rows: int,
                n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear dense shifts (range, azimuth) in SLC pixels for master rows [row0, row0+n_rows), all columns."""
    out_r = np.empty((n_rows, n_cols), dtype=np.float64)
    out_a = np.empty((n_rows, n_cols), dtype=np.float64)
    n_nodes_r = grid.shape[2]
    for i in numba.prange(n_rows):
        gr = np.empty(n_nodes_r)
        ga = np.empty(n_nodes_r)
        _grid_row(grid[0], float(row0 + i), step_az, gr)
        _grid_row(grid[1], float(row0 + i), step_az, ga)
        for c in range(n_cols):
            out_r[i, c] = _row_value(gr, float(c), step_r)
            out_a[i, c] = _row_value(ga, float(c), step_r)
    return out_r, out_a


@numba.njit(cache=True, parallel=True, fastmath=True)
def resample_grid_sinc(strip: np.ndarray, strip_line0: int, n_lines_slave: int, row0: int, n_rows: int,
                       n_cols: int, grid: np.ndarray, step_r: float, step_az: float, lut: np.ndarray,
                       doppler: np.ndarray, use_doppler: bool, range_carrier: float) -> np.ndarray:
    """Resample a complex slave strip onto master rows [row0, row0+n_rows) × columns [0, n_cols).

    strip: slave lines [strip_line0, strip_line0 + strip.shape[0]), all slave columns (complex64).
    Output pixel (line, col) takes the slave value at (line + Δa, col + Δr) with (Δr, Δa) bilinear from
    ``grid``; taps outside the slave image count as zero; pixels whose position falls outside the slave image
    are 0. With ``use_doppler`` the azimuth kernel is h(τ)·exp(j2π f τ), f = doppler[column] in cycles/line
    taken at the nearest slave column (Doppler-centred spectrum kept); a non-zero ``range_carrier``
    (cycles/pixel) modulates the range kernel the same way.
    """
    n_phases = lut.shape[0] - 1
    n_taps = lut.shape[1]
    half = n_taps // 2
    ns, nc = strip.shape
    out = np.zeros((n_rows, n_cols), dtype=np.complex64)
    n_nodes_r = grid.shape[2]
    two_pi = 2.0 * math.pi
    # exp(j2π·f·(n/2 − 1 − t)) for tap t = 0 … n−1, per slave column
    rot_re = np.empty((doppler.shape[0], n_taps), dtype=np.float32)
    rot_im = np.empty((doppler.shape[0], n_taps), dtype=np.float32)
    for c in range(doppler.shape[0]):
        for t in range(n_taps):
            rot_re[c, t] = math.cos(two_pi * doppler[c] * (half - 1 - t))
            rot_im[c, t] = math.sin(two_pi * doppler[c] * (half - 1 - t))
    for i in numba.prange(n_rows):
        gr = np.empty(n_nodes_r)
        ga = np.empty(n_nodes_r)
        line = float(row0 + i)
        _grid_row(grid[0], line, step_az, gr)
        _grid_row(grid[1], line, step_az, ga)
        wa_re = np.empty(n_taps, dtype=np.float32)
        wa_im = np.empty(n_taps, dtype=np.float32)
        wr_re = np.empty(n_taps, dtype=np.float32)
        wr_im = np.empty(n_taps, dtype=np.float32)
        for c in range(n_cols):
            xr = c + _row_value(gr, float(c), step_r)
            xa = line + _row_value(ga, float(c), step_r)
            if xa < 0.0 or xa > n_lines_slave - 1 or xr < 0.0 or xr > nc - 1:
                continue
            ia = int(math.floor(xa))
            ir = int(math.floor(xr))
            fa = xa - ia
            fr = xr - ir
            pa = int(fa * n_phases + 0.5)
            pr = int(fr * n_phases + 0.5)
            k0 = ia - half + 1
            c0 = ir - half + 1
            # azimuth weights (complex when Doppler-modulated)
            if use_doppler:
                ci = min(max(int(xr + 0.5), 0), nc - 1)
                # exp(j2πf(xa − k)) = exp(j2πf·frac)·exp(j2πf(n/2 − 1 − t)); second factor tabulated per column
                zr, zi = _cexp_small(two_pi * doppler[ci] * fa)
                for t in range(n_taps):
                    w = lut[pa, t]
                    qr = rot_re[ci, t]
                    qi = rot_im[ci, t]
                    wa_re[t] = w * (zr * qr - zi * qi)
                    wa_im[t] = w * (zr * qi + zi * qr)
            else:
                for t in range(n_taps):
                    wa_re[t] = lut[pa, t]
                    wa_im[t] = 0.0
            if range_carrier != 0.0:
                for u in range(n_taps):
                    ph = two_pi * range_carrier * (xr - (c0 + u))
                    w = lut[pr, u]
                    wr_re[u] = w * math.cos(ph)
                    wr_im[u] = w * math.sin(ph)
            else:
                for u in range(n_taps):
                    wr_re[u] = lut[pr, u]
                    wr_im[u] = 0.0
            acc_re = np.float32(0.0)
            acc_im = np.float32(0.0)
            kl = k0 - strip_line0
            if (n_taps == 8 and range_carrier == 0.0 and kl >= 0 and kl + 8 <= ns and c0 >= 0
                    and c0 + 8 <= nc):
                # fast path: all taps inside, real range weights, fixed length loops the compiler unrolls
                for t in range(8):
                    rre = np.float32(0.0)
                    rim = np.float32(0.0)
                    for u in range(8):
                        v = strip[kl + t, c0 + u]
                        rre += wr_re[u] * v.real
                        rim += wr_re[u] * v.imag
                    acc_re += wa_re[t] * rre - wa_im[t] * rim
                    acc_im += wa_re[t] * rim + wa_im[t] * rre
                out[i, c] = complex(acc_re, acc_im)
                continue
            u0 = 0
            u1 = n_taps
            if c0 < 0:
                u0 = -c0
            if c0 + n_taps > nc:
                u1 = nc - c0
            for t in range(n_taps):
                k = k0 + t - strip_line0
                if k < 0 or k >= ns:
                    continue
                rre = np.float32(0.0)
                rim = np.float32(0.0)
                if range_carrier != 0.0:
                    for u in range(u0, u1):
                        v = strip[k, c0 + u]
                        rre += wr_re[u] * v.real - wr_im[u] * v.imag
                        rim += wr_re[u] * v.imag + wr_im[u] * v.real
                else:
                    for u in range(u0, u1):
                        v = strip[k, c0 + u]
                        rre += wr_re[u] * v.real
                        rim += wr_re[u] * v.imag
                acc_re += wa_re[t] * rre - wa_im[t] * rim
                acc_im += wa_re[t] * rim + wa_im[t] * rre
            out[i, c] = complex(acc_re, acc_im)
    return out
