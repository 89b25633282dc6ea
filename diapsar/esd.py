"""SARESD: enhanced spectral diversity azimuth correction for TOPS burst overlaps.

In a burst overlap the same ground is seen by burst b (beam steered forward, Doppler f_b) and burst b+1
(steered backward, f_{b+1}). A residual azimuth misregistration δ (lines) of the slave puts a phase
−2π·f·δ·Δt_az into each interferogram, so

    φ_ESD = arg Σ_{coh > threshold} I_b · conj(I_{b+1}) = −2π·Δf_ovl·δ·Δt_az,   Δf_ovl = f_b − f_{b+1}

(Prats-Iraola et al. 2012, IEEE TGRS 50(10); Fattahi et al. 2017, IEEE TGRS 55(2)). The value returned,
``shift_lines = φ_ESD / (2π·Δf_ovl·Δt_az) = −δ``, is the correction to add to the azimuth band of the
deformation grid (:func:`diapsar.deformation_grid.grid_offset`). Δf_ovl > 0: the local Doppler of the raw
burst rises along it (:func:`diapsar.deramp.local_doppler_hz`), so the end of burst b looks forward of the
start of burst b+1. Checked end to end in tests/test_75_tops.py: with a simulated slave 0.05 line later
than annotated (annotation-only grid = truth + 0.05) the estimate is −0.050. Δf_ovl ≈ 4.5–5 kHz for IW
(peers-and-limits.md §5); one pixel of error is ≈ 60 rad of φ_ESD, so |φ_ESD| < π covers ±0.05 line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EsdResult:
    """shift_lines: correction to add to the azimuth grid (lines); phase_rad: φ_ESD; n_pixels: pixels used."""

    shift_lines: float
    phase_rad: float
    n_pixels: int


def overlap_lines(stop_time_b_s: float, start_time_b1_s: float, azimuth_time_interval_s: float,
                  last_valid_line_b: int, first_valid_line_b1: int) -> tuple[slice, slice]:
    """Line slices of the overlap in burst b and burst b+1 (burst line numbering).

    n_ovl = ⌊(stop_b − start_{b+1}) / Δt_az⌋; burst b lines [lastValid_b − n_ovl, lastValid_b], burst b+1
    lines [firstValid_{b+1}, firstValid_{b+1} + n_ovl] (OTB SarSensorModel::Overlap, diapotb.md §4.1).
    """
    n_ovl = int(math.floor((stop_time_b_s - start_time_b1_s) / azimuth_time_interval_s))
    if n_ovl <= 0:
        raise ValueError(f"bursts do not overlap (stop_b − start_b+1 = {stop_time_b_s - start_time_b1_s} s)")
    return (slice(last_valid_line_b - n_ovl, last_valid_line_b + 1),
            slice(first_valid_line_b1, first_valid_line_b1 + n_ovl + 1))


def esd_shift(ifg_b: np.ndarray, ifg_b1: np.ndarray, delta_f_ovl_hz: float | np.ndarray,
              azimuth_time_interval_s: float, coherence: np.ndarray | None = None,
              threshold: float = 0.3) -> EsdResult:
    """ESD estimate from the overlap interferograms of bursts b and b+1 (same pixels, complex).

    ``coherence`` (same shape; e.g. the minimum of both overlap coherences) selects pixels above
    ``threshold``; ``delta_f_ovl_hz`` = f_b − f_{b+1} at the overlap, scalar or per pixel (its mean over
    the used pixels is taken). Zero pixels (no data) are ignored.
    """
    a = np.asarray(ifg_b)
    b = np.asarray(ifg_b1)
    if a.shape != b.shape:
        raise ValueError(f"overlap interferograms differ in shape: {a.shape} vs {b.shape}")
    use = (a != 0) & (b != 0)
    if coherence is not None:
        use &= np.asarray(coherence) > threshold
    n = int(np.count_nonzero(use))
    if n == 0:
        return EsdResult(0.0, 0.0, 0)
    prod = np.sum(a[use].astype(np.complex128) * np.conj(b[use].astype(np.complex128)))
    phase = float(np.angle(prod))
    df = np.broadcast_to(np.asarray(delta_f_ovl_hz, dtype=np.float64), a.shape)[use].mean()
    return EsdResult(phase / (2.0 * math.pi * float(df) * azimuth_time_interval_s), phase, n)


def mean_esd_shift(results: list[EsdResult]) -> float:
    """Pixel-weighted mean of per-overlap ESD shifts (lines); 0 when no overlap had usable pixels."""
    total = sum(r.n_pixels for r in results)
    return sum(r.shift_lines * r.n_pixels for r in results) / total if total else 0.0
