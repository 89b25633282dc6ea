"""Fused calibration kernel of ``diapsar.backscatter``: |DN|^2, thermal noise subtraction (clipped at 0), division
by the squared LUT and the -50 dB floor, in one pass over a block (no float64 temporaries of the block).

Same arithmetic, in the same order, as ``calibration.detected_power`` -> ``noise.remove_noise`` ->
``calibration.calibrate`` (float64, then rounded to float32 as ``calibrate`` returns it), so the results are
identical to the numpy path (tests/test_66_rtc.py compares them). Rows are independent: ``prange`` over rows
gives the same result whatever the thread count.
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
