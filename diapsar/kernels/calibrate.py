"""Fused calibration kernel of ``diapsar.backscatter``: |DN|^2, thermal noise subtraction (clipped at 0), division
by the squared LUT and the -50 dB floor, in one pass over a block (no float64 temporaries of the block).

Same arithmetic, in the same order, as ``calibration.detected_power`` -> ``noise.remove_noise`` ->
``calibration.calibrate`` (float64, then rounded to float32 as ``calibrate`` returns it), so the results are
identical to the numpy path (tests/test_66_rtc.py compares them). Rows are independent: ``prange`` over rows
gives the same result whatever the thread count.

``calibrate_stream_*`` (what ``diapsar.backscatter`` runs) take the LUT and the noise as the sparse vectors of
the block (``calibration.vector_rows``, ``noise.noise_rows``: the vectors the rows need, interpolated in pixel,
and per row the pair of vectors and the line weight) and interpolate them row by row, with the arithmetic of
``calibration.bilinear_vectors``: the results are bit for bit those of the full-size grids (tests/test_69).
``mean_valid_power`` is the multilook of the calibrated power over its valid pixels.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def calibrate_complex(dn, noise, lut, s0, s1, floor, power, valid):
    """SLC block ``dn`` (complex64): ``power`` (float64) and ``valid`` (bool) of the calibrated block; samples
    outside [s0, s1) and zero DN are not valid (power 0). ``noise`` of shape (0, 0): no noise removal."""
    n, m = dn.shape
    use_noise = noise.shape[0] > 0
    for i in numba.prange(n):
        for j in range(m):
            re = np.float64(dn[i, j].real)
            im = np.float64(dn[i, j].imag)
            p = re ** 2 + im ** 2
            ok = p > 0 and s0 <= j < s1
            if use_noise:
                p = max(p - noise[i, j], 0.0)
            a = lut[i, j]
            c = np.float32(max(p / (a * a), floor))
            power[i, j] = np.float64(c) if ok else 0.0
            valid[i, j] = ok


@numba.njit(cache=True, parallel=True)
def calibrate_real(dn, noise, lut, s0, s1, floor, power, valid):
    """GRD block ``dn`` (real amplitude): as :func:`calibrate_complex`."""
    n, m = dn.shape
    use_noise = noise.shape[0] > 0
    for i in numba.prange(n):
        for j in range(m):
            x = np.float64(dn[i, j])
            p = x ** 2
            ok = p > 0 and s0 <= j < s1
            if use_noise:
                p = max(p - noise[i, j], 0.0)
            a = lut[i, j]
            c = np.float32(max(p / (a * a), floor))
            power[i, j] = np.float64(c) if ok else 0.0
            valid[i, j] = ok


# ---------------------------------------------------------------------------------------------------------
# streaming version: the LUT and the noise are interpolated inside the row loop (no full-size grid)

@numba.njit(cache=True, inline="always")
def _lerp_row(along, k, w, j):
    """Value of a sparse-vector field at column j of a row whose vectors are along[k] (weight 1 - w) and
    along[k + 1] (weight w): the arithmetic of ``calibration.bilinear_vectors``."""
    return (1.0 - w) * along[k, j] + w * along[k + 1, j]


@numba.njit(cache=True, inline="always")
def _azimuth_row(az_c0, az_c1, az_val, i, m, out):
    """N_azimuth of row i on columns [0, m): 1, then each block whose profile covers the row (non-NaN) over
    its columns [c0, c1] (inclusive), later blocks over earlier ones, as ``noise.azimuth_noise``."""
    for j in range(m):
        out[j] = 1.0
    for b in range(az_c0.shape[0]):
        v = az_val[b, i]
        if v == v:
            for j in range(max(az_c0[b], 0), min(az_c1[b] + 1, m)):
                out[j] = v


@numba.njit(cache=True, parallel=True)
def calibrate_stream_complex(dn, lut_along, lut_k, lut_w, nz_along, nz_k, nz_w, az_c0, az_c1, az_val, use_noise,
                             s0, s1, floor, fill, power, valid):
    """As :func:`calibrate_complex`, the LUT and the noise given as sparse vectors: row i uses the LUT vectors
    ``lut_along[lut_k[i]]`` and ``[lut_k[i] + 1]`` (pixel-interpolated on the block's columns) with weight
    ``lut_w[i]`` on the second, the range noise the same way (``nz_*``), times N_azimuth of the blocks
    ``az_c0/az_c1/az_val`` (``az_val[b, i]`` NaN: block b is not on row i). Same arithmetic as
    ``lut_grid`` / ``noise_grid`` followed by :func:`calibrate_complex`; pixels not valid get ``fill`` (0, or
    NaN when ``power`` is the final full-resolution image)."""
    n, m = dn.shape
    for i in numba.prange(n):
        az = np.empty(m)
        if use_noise:
            _azimuth_row(az_c0, az_c1, az_val, i, m, az)
        kl, wl = lut_k[i], lut_w[i]
        kn, wn = nz_k[i], nz_w[i]
        for j in range(m):
            re = np.float64(dn[i, j].real)
            im = np.float64(dn[i, j].imag)
            p = re ** 2 + im ** 2
            ok = p > 0 and s0 <= j < s1
            if use_noise:
                p = max(p - _lerp_row(nz_along, kn, wn, j) * az[j], 0.0)
            a = _lerp_row(lut_along, kl, wl, j)
            c = np.float32(max(p / (a * a), floor))
            power[i, j] = c if ok else fill
            valid[i, j] = ok


@numba.njit(cache=True, parallel=True)
def calibrate_stream_real(dn, lut_along, lut_k, lut_w, nz_along, nz_k, nz_w, az_c0, az_c1, az_val, use_noise,
                          s0, s1, floor, fill, power, valid):
    """GRD block ``dn`` (real amplitude): as :func:`calibrate_stream_complex`."""
    n, m = dn.shape
    for i in numba.prange(n):
        az = np.empty(m)
        if use_noise:
            _azimuth_row(az_c0, az_c1, az_val, i, m, az)
        kl, wl = lut_k[i], lut_w[i]
        kn, wn = nz_k[i], nz_w[i]
        for j in range(m):
            x = np.float64(dn[i, j])
            p = x ** 2
            ok = p > 0 and s0 <= j < s1
            if use_noise:
                p = max(p - _lerp_row(nz_along, kn, wn, j) * az[j], 0.0)
            a = _lerp_row(lut_along, kl, wl, j)
            c = np.float32(max(p / (a * a), floor))
            power[i, j] = c if ok else fill
            valid[i, j] = ok


@numba.njit(cache=True, parallel=True)
def mean_valid_power(power, valid, ml_rg, ml_az, out):
    """``out[r, c]`` (float32) = mean of ``power`` over the valid pixels of the ml_az x ml_rg cell (r, c),
    summed in float64 in a fixed order; NaN where fewer than half of the cell's pixels are valid. Output rows
    are independent (``prange``): the same result whatever the thread count."""
    rows, cols = out.shape
    half = 0.5 * ml_rg * ml_az
    for r in numba.prange(rows):
        for c in range(cols):
            s = 0.0
            k = 0
            for i in range(r * ml_az, (r + 1) * ml_az):
                for j in range(c * ml_rg, (c + 1) * ml_rg):
                    if valid[i, j]:
                        s += np.float64(power[i, j])
                        k += 1
            out[r, c] = np.float32(s / k) if k > 0 and k >= half else np.float32(np.nan)
