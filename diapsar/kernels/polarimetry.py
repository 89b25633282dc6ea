"""Dual-pol covariance kernels: C2 multilook cells of two complex images, and the per-pixel closed-form
entropy / anisotropy / alpha of a 2 x 2 Hermitian matrix (formulas in ``diapsar.polarimetry``).

Sums are direct, in a fixed order, in float64, one output row per thread: results do not depend on the
thread count.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def c2_cells(co: np.ndarray, cross: np.ndarray, valid: np.ndarray, ml_az: int, ml_rg: int):
    """Mean of |co|^2, |cross|^2 and co conj(cross) over the valid pixels of each ml_az x ml_rg cell
    (trailing partial cells dropped): (c11, c22, c12 real, c12 imaginary) float64, NaN where less than half
    of the cell is valid."""
    rows = co.shape[0] // ml_az
    cols = co.shape[1] // ml_rg
    c11 = np.empty((rows, cols))
    c22 = np.empty((rows, cols))
    c12r = np.empty((rows, cols))
    c12i = np.empty((rows, cols))
    half = 0.5 * ml_az * ml_rg - 1e-9
    for i in numba.prange(rows):
        for j in range(cols):
            s11 = 0.0
            s22 = 0.0
            sr = 0.0
            si = 0.0
            n = 0.0
            for a in range(i * ml_az, (i + 1) * ml_az):
                for c in range(j * ml_rg, (j + 1) * ml_rg):
                    if valid[a, c]:
                        xr = np.float64(co[a, c].real)
                        xi = np.float64(co[a, c].imag)
                        yr = np.float64(cross[a, c].real)
                        yi = np.float64(cross[a, c].imag)
                        s11 += xr * xr + xi * xi
                        s22 += yr * yr + yi * yi
                        sr += xr * yr + xi * yi  # co conj(cross)
                        si += xi * yr - xr * yi
                        n += 1.0
            if n >= half and n > 0:
                c11[i, j] = s11 / n
                c22[i, j] = s22 / n
                c12r[i, j] = sr / n
                c12i[i, j] = si / n
            else:
                c11[i, j] = np.nan
                c22[i, j] = np.nan
                c12r[i, j] = np.nan
                c12i[i, j] = np.nan
    return c11, c22, c12r, c12i


@numba.njit(cache=True, parallel=True)
def h_a_alpha_pixels(c11: np.ndarray, c22: np.ndarray, c12r: np.ndarray, c12i: np.ndarray):
    """Entropy (log base 2), anisotropy and mean alpha (degrees) of [[c11, c12], [c12*, c22]] per pixel:
    x = c11 - c22, D = sqrt(x^2 + 4|c12|^2), p1 = (1 + D/tr)/2, A = D/tr, alpha_1 = acos(x/D)/2,
    alpha = p1 alpha_1 + p2 (90 - alpha_1) (45 where D = 0). float32, NaN where the trace is not > 0."""
    na, nr = c11.shape
    h = np.empty((na, nr), dtype=np.float32)
    an = np.empty((na, nr), dtype=np.float32)
    al = np.empty((na, nr), dtype=np.float32)
    for i in numba.prange(na):
        for j in range(nr):
            tr = c11[i, j] + c22[i, j]
            if not (tr > 0.0) or not math.isfinite(tr):
                h[i, j] = np.nan
                an[i, j] = np.nan
                al[i, j] = np.nan
                continue
            x = c11[i, j] - c22[i, j]
            d = math.sqrt(x * x + 4.0 * (c12r[i, j] * c12r[i, j] + c12i[i, j] * c12i[i, j]))
            a = min(max(d / tr, 0.0), 1.0)
            p1 = 0.5 * (1.0 + a)
            p2 = 1.0 - p1
            ent = -p1 * math.log2(p1)
            if p2 > 0.0:
                ent -= p2 * math.log2(p2)
            if d > 0.0:
                alpha1 = 0.5 * math.degrees(math.acos(min(max(x / d, -1.0), 1.0)))
            else:
                alpha1 = 45.0
            h[i, j] = ent + 0.0
            an[i, j] = a
            al[i, j] = p1 * alpha1 + p2 * (90.0 - alpha1)
    return h, an, al
