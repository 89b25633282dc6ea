"""SARDoppler0: Doppler centroid by the correlation Doppler estimator (CDE).

Madsen, S. N. (1989), "Estimating the Doppler centroid of SAR data", IEEE Trans. AES 25(2):134-140:
f_dc / PRF = arg(Σ s(r, a+1)·conj(s(r, a))) / 2π, i.e. the phase of the lag-one azimuth autocorrelation.
The value is a fraction of the PRF (cycles per line), ambiguous modulo 1 and returned in (−0.5, 0.5].

Streaming: accumulate :func:`cde_sums` over strips (pass the last line of the previous strip as
``previous_line`` so that the line pair across the strip boundary is counted once), then call
:func:`doppler0_from_sums`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .kernels.windows import lag_one_sums


@dataclass(frozen=True)
class Doppler0:
    """Doppler centroid of one image.

    cycles_per_line: f_dc/PRF in (−0.5, 0.5] (what coregistration takes); hz: f_dc in Hz (PRF·cycles);
    per_column_cycles: per-column estimate (cycles/line, smoothed over ``column_window`` columns).
    """

    cycles_per_line: float
    hz: float
    per_column_cycles: np.ndarray


def cde_sums(strip: np.ndarray, previous_line: np.ndarray | None = None) -> np.ndarray:
    """Per-column Σ_a s(a+1)·conj(s(a)) over a complex strip (rows = azimuth lines), complex128."""
    strip = np.ascontiguousarray(strip)
    if previous_line is None:
        return lag_one_sums(strip, np.zeros(strip.shape[1], dtype=strip.dtype), False)
    return lag_one_sums(strip, np.ascontiguousarray(previous_line, dtype=strip.dtype), True)


def doppler0_from_sums(sums: np.ndarray, prf_hz: float, column_window: int = 101) -> Doppler0:
    """Doppler0 from accumulated per-column CDE sums; ``prf_hz`` = 1/azimuth line interval (Hz)."""
    total = complex(np.sum(sums))
    cycles = math.atan2(total.imag, total.real) / (2.0 * math.pi)
    if cycles <= -0.5:
        cycles += 1.0
    w = max(1, int(column_window))
    kernel = np.ones(w)
    smooth = np.convolve(sums.real, kernel, mode="same") + 1j * np.convolve(sums.imag, kernel, mode="same")
    per_col = np.angle(smooth) / (2.0 * np.pi)
    return Doppler0(cycles_per_line=cycles, hz=cycles * float(prf_hz), per_column_cycles=per_col)


def doppler0(slc: np.ndarray, prf_hz: float, column_window: int = 101) -> Doppler0:
    """Doppler centroid of a complex SLC (lines × samples) by the CDE; see the module docstring."""
    return doppler0_from_sums(cde_sums(slc), prf_hz, column_window)
