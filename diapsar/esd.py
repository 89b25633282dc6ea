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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .metadata import SwathMetadata


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


# ---------------------------------------------------------------------------------------------------------
# robust ESD over every burst overlap of a swath (statuses instead of exceptions)

DEFAULT_THRESHOLD = 0.3  # DiapOTB SARESD -threshold default (diapotb.md §4; SNAP's ESD uses 0.3 as well)
DEFAULT_MIN_PIXELS = 200


@dataclass(frozen=True)
class OverlapWindow:
    """Pixels seen by both bursts k and k+1: burst lines ``lines_b`` of burst k and ``lines_b1`` of burst
    k+1 (same length, same zero-Doppler times: ``lines_b1 = lines_b − line_offset``), swath samples
    ``samples`` (valid in both). ``burst`` = k (0-based swath burst index)."""

    burst: int
    lines_b: slice
    lines_b1: slice
    samples: slice
    line_offset: int  # round((t_{k+1} − t_k)/Δt_az)


def overlap_window(meta: SwathMetadata, k: int) -> OverlapWindow | None:
    """The overlap of bursts k and k+1 of a TOPS swath on the valid lines/samples of both (None when they
    share no valid line). Lines are paired by zero-Doppler time (burst starts are whole lines apart up to
    the annotation's 1 µs time quantum)."""
    b, c = meta.bursts[k], meta.bursts[k + 1]
    d = int(round((c.azimuth_time_s - b.azimuth_time_s) / meta.azimuth_time_interval_s))
    fv_b, lv_b = b.first_valid_line - b.first_line, b.last_valid_line - b.first_line
    fv_c, lv_c = c.first_valid_line - c.first_line, c.last_valid_line - c.first_line
    l0, l1 = max(fv_b, fv_c + d), min(lv_b, lv_c + d)
    if l1 < l0:
        return None
    ok_b = np.asarray(b.first_valid_sample)[l0:l1 + 1] >= 0
    ok_c = np.asarray(c.first_valid_sample)[l0 - d:l1 + 1 - d] >= 0
    if not (ok_b.all() and ok_c.all()):
        return None
    s0 = int(max(np.max(b.first_valid_sample[l0:l1 + 1]), np.max(c.first_valid_sample[l0 - d:l1 + 1 - d])))
    s1 = int(min(np.min(b.last_valid_sample[l0:l1 + 1]), np.min(c.last_valid_sample[l0 - d:l1 + 1 - d]))) + 1
    if s1 <= s0:
        return None
    return OverlapWindow(k, slice(l0, l1 + 1), slice(l0 - d, l1 + 1 - d), slice(s0, s1), d)


def overlap_delta_f_hz(meta: SwathMetadata, window: OverlapWindow, orbit=None,
                       samples: slice | None = None) -> np.ndarray:
    """Δf_ovl = f_k − f_{k+1} (Hz) per overlap pixel (lines × samples of ``window``, or of ``samples``): the
    local Doppler of each raw burst from its annotation ramp (Doppler centroid, FM rate, steering rate;
    :func:`diapsar.deramp.local_doppler_hz`) at the overlap lines of both bursts."""
    from .deramp import TopsRamp, local_doppler_hz

    cols = samples or window.samples
    xx = np.arange(cols.start, cols.stop, dtype=np.float64)[None, :]
    ramp_b = TopsRamp.from_metadata(meta, window.burst, orbit)
    ramp_c = TopsRamp.from_metadata(meta, window.burst + 1, orbit)
    yb = np.arange(window.lines_b.start, window.lines_b.stop, dtype=np.float64)[:, None]
    yc = np.arange(window.lines_b1.start, window.lines_b1.stop, dtype=np.float64)[:, None]
    return local_doppler_hz(ramp_b, yb, xx) - local_doppler_hz(ramp_c, yc, xx)


@dataclass(frozen=True)
class OverlapData:
    """Inputs of one overlap: the interferograms of burst k (forward look) and k+1 (backward look) on the
    same pixels, their coherence (e.g. the minimum of both; None: all pixels used), Δf_ovl (Hz, scalar or
    per pixel), and the swath sample of column 0 (for the range dependence)."""

    ifg_b: np.ndarray
    ifg_b1: np.ndarray
    coherence: np.ndarray | None
    delta_f_ovl_hz: float | np.ndarray
    sample0: int = 0
    burst: int = 0


@dataclass(frozen=True)
class OverlapEsd:
    """ESD of one overlap. status: "ok", "too_few_points" (shift 0, not used) or "invalid_input".
    phase_rad: coherence-weighted φ_ESD; residual_phase_rad: double-difference phase left after the combined
    correction (seam quality figure); range_slope_lines_per_sample: slope of per-range-block shifts across
    range (an ionospheric signature; reported, not applied; nan when fewer than 2 blocks are usable)."""

    burst: int
    status: str
    shift_lines: float
    phase_rad: float
    n_pixels: int
    weight: float
    delta_f_ovl_hz: float
    residual_phase_rad: float = float("nan")
    range_slope_lines_per_sample: float = float("nan")
    block_samples: tuple[float, ...] = ()
    block_shifts_lines: tuple[float, ...] = ()


@dataclass(frozen=True)
class EsdEstimate:
    """Combined ESD of a swath: ``shift_lines`` (0 unless status "ok") to add to the azimuth grid."""

    status: str  # "ok" | "too_few_points" | "no_overlap"
    shift_lines: float
    n_pixels: int
    overlaps: tuple[OverlapEsd, ...] = field(default_factory=tuple)
    range_slope_lines_per_sample: float = float("nan")
    message: str = ""


def _weighted(dd: np.ndarray, w: np.ndarray) -> complex:
    """Σ w · dd/|dd| (unit-modulus double differences, weighted by coherence)."""
    mag = np.abs(dd)
    return complex(np.sum(w * dd / np.where(mag > 0, mag, 1.0)))


def _overlap(o: OverlapData, dt: float, threshold: float, min_pixels: int, range_blocks: int) -> tuple:
    a = np.asarray(o.ifg_b)
    b = np.asarray(o.ifg_b1)
    if a.shape != b.shape or a.ndim != 2 or (o.coherence is not None and np.shape(o.coherence) != a.shape):
        return OverlapEsd(o.burst, "invalid_input", 0.0, 0.0, 0, 0.0, float("nan")), None
    dd = a.astype(np.complex128) * np.conj(b.astype(np.complex128))
    coh = np.ones(a.shape) if o.coherence is None else np.asarray(o.coherence, dtype=np.float64)
    df = np.broadcast_to(np.asarray(o.delta_f_ovl_hz, dtype=np.float64), a.shape)
    use = (dd != 0) & np.isfinite(dd) & np.isfinite(coh) & (coh > threshold) & np.isfinite(df) & (df != 0)
    n = int(np.count_nonzero(use))
    if n < min_pixels:
        return OverlapEsd(o.burst, "too_few_points", 0.0, 0.0, n, 0.0, float("nan")), None
    w = coh[use]
    s = _weighted(dd[use], w)
    phase = float(np.angle(s))
    df_mean = float(np.sum(w * df[use]) / np.sum(w))
    shift = phase / (2.0 * math.pi * df_mean * dt)
    # range dependence: the same estimate on range blocks, then a weighted straight line
    cols = np.broadcast_to(np.arange(a.shape[1])[None, :], a.shape)
    edges = np.linspace(0, a.shape[1], max(int(range_blocks), 1) + 1).astype(int)
    xs, ys, ws = [], [], []
    for c0, c1 in zip(edges[:-1], edges[1:], strict=True):
        sel = use & (cols >= c0) & (cols < c1)
        nb = int(np.count_nonzero(sel))
        if nb >= max(min_pixels // max(int(range_blocks), 1), 10):
            wb = coh[sel]
            ph = float(np.angle(_weighted(dd[sel], wb)))
            ys.append(ph / (2.0 * math.pi * float(np.sum(wb * df[sel]) / np.sum(wb)) * dt))
            xs.append(o.sample0 + 0.5 * (c0 + c1 - 1))
            ws.append(float(np.sum(wb)))
    slope = float(np.polyfit(xs, ys, 1, w=np.sqrt(ws))[0]) if len(xs) >= 2 else float("nan")
    res = OverlapEsd(o.burst, "ok", float(shift), phase, n, float(np.sum(w)), df_mean,
                     range_slope_lines_per_sample=slope, block_samples=tuple(xs), block_shifts_lines=tuple(ys))
    return res, (dd[use], w, df[use])


def esd_overlaps(overlaps: Sequence[OverlapData], azimuth_time_interval_s: float,
                 threshold: float = DEFAULT_THRESHOLD, min_pixels: int = DEFAULT_MIN_PIXELS,
                 range_blocks: int = 8) -> EsdEstimate:
    """Robust ESD over every burst overlap; never raises on data (water, snow, decorrelation).

    Per overlap: pixels with coherence > ``threshold`` (DiapOTB's 0.3 by default), the coherence-weighted
    double difference φ = arg Σ γ·e^(j·arg(I_k·I_{k+1}*)), shift = φ/(2π·Δf_ovl·Δt_az) (sign and factor as
    :func:`esd_shift`). An overlap with fewer than ``min_pixels`` usable pixels gets status
    "too_few_points" and is left out; when none is left the result has status "too_few_points" and shift 0
    (the caller keeps the geometric solution). The combined shift is the mean of the overlap shifts weighted
    by Σγ·Δf² (the inverse variance of a phase-derived shift scales as Σγ·Δf²). Each overlap then reports its
    residual double-difference phase after the combined correction, and the slope of its per-range-block
    shifts (lines per sample)."""
    dt = float(azimuth_time_interval_s)
    if not overlaps:
        return EsdEstimate("no_overlap", 0.0, 0, (), float("nan"), "no burst overlap given")
    if not (np.isfinite(dt) and dt > 0):
        return EsdEstimate("invalid_input", 0.0, 0, (), float("nan"), f"azimuth time interval {dt} s")
    done = [_overlap(o, dt, threshold, min_pixels, range_blocks) for o in overlaps]
    good = [(r, px) for r, px in done if r.status == "ok"]
    n_total = sum(r.n_pixels for r, _ in done)
    if not good:
        msg = (f"{len(done)} overlap(s), {n_total} pixel(s) above coherence {threshold}; fewer than {min_pixels} "
               "per overlap: ESD not applied")
        return EsdEstimate("too_few_points", 0.0, n_total, tuple(r for r, _ in done), float("nan"), msg)
    wts = np.array([r.weight * r.delta_f_ovl_hz ** 2 for r, _ in good])
    shift = float(np.sum(wts * np.array([r.shift_lines for r, _ in good])) / np.sum(wts))
    out = []
    for r, px in done:
        if px is not None:
            dd, w, df = px
            resid = float(np.angle(_weighted(dd * np.exp(-2j * math.pi * df * shift * dt), w)))
            r = OverlapEsd(**{**r.__dict__, "residual_phase_rad": resid})
        out.append(r)
    slopes = [(r.range_slope_lines_per_sample, r.weight) for r in out
              if r.status == "ok" and np.isfinite(r.range_slope_lines_per_sample)]
    slope = float(sum(s * w for s, w in slopes) / sum(w for _, w in slopes)) if slopes else float("nan")
    n_ok = sum(r.n_pixels for r, _ in good)
    msg = f"{len(good)}/{len(done)} overlap(s) used, {n_ok} pixels"
    return EsdEstimate("ok", shift, n_ok, tuple(out), slope, msg)
