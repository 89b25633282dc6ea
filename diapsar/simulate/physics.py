"""Pixels of a simulated acquisition and the truth of a pair, from the SAR -> ground inversion.

Model (per pixel of acquisition k, whose ground point x is found by ``rdr2geo_dem`` on that acquisition's own
orbit and true timing, in ESA's bistatic convention: the pixel at (line, tau) sees the point whose zero-Doppler
time is the true time of its line + (tau - tau_ref) / 2, ``Acquisition.bistatic_s``):

    s_k = a(x) [g_k(x) W(x) + sqrt(1 - g_k(x)^2) W(x + o_k)] exp(j phi_k(x)) [exp(j phi_tops)] + targets + noise

- ``W`` is the band-limited ground reflectivity (``scene.GroundField``), ``W(x + o_k)`` the same field far away
  (an independent realisation for all practical purposes) and ``g_k`` the coherence field (1 for the
  reference date, index 0).
- ``phi_k = -4 pi / lambda (R_k - R_ref) + 2 pi f_dc (t_ref - t_c) + 4 pi / lambda d_k``: ``R_k = c tau / 2``
  is the pixel's slant range, ``R_ref`` and ``t_ref`` the range and zero-Doppler time of the same ground point
  in the reference acquisition (found by inverting the reference's SAR -> ground map, never by a DEM -> SAR
  projection). Removing the fast carrier common to all dates keeps each SLC at baseband in range, as a
  focused SLC is, while the difference between two dates is exactly the interferometric phase
  -4 pi / lambda (R_m - R_s). The Doppler term (stripmap) is a function of the ground point, so two dates
  agree at corresponding points and each image has its azimuth spectrum centred on f_dc.
  ``d_k`` is the LOS displacement (positive towards the satellite, i.e. range shortening) since date 0.
- TOPS: each burst is multiplied by the steering phase (``acquisition.tops_phase_at``, from the annotated
  FM-rate and Doppler-centroid polynomials) of the reference acquisition at the (line, sample) where the
  reference sees the pixel's ground point. For the reference this is its own ramp (deramping restores
  baseband exactly); for another date it is its own ramp up to the burst desynchronisation (a linear phase,
  a few Hz). Corresponding pixels of two dates thus carry the same steering phase, as in real data: the
  interferogram of perfectly coregistered raw bursts has no steering term, and a misregistration dt gives
  the phase 2 pi f_dc(eta) dt that ESD measures.
- Noise: white complex Gaussian of power 10^(-SNR/10) relative to land.

The smooth quantities (ground east/north, phase, coherence) are computed exactly on a coarse node grid and
interpolated by cubic convolution (``interp_nodes``); the reflectivity is sampled per pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..geometry import llh_to_ecef, rdr2geo_dem, rdr2geo_ecef
from ..kernels.interp import cubic_grid
from ..kernels.simulation import synth_rows
from .acquisition import Acquisition, tops_phase_at
from .scene import GroundField, SceneModel


@dataclass
class Dem:
    """The simulation DEM: ellipsoidal heights for the physics, orthometric ones as written."""

    ellipsoidal: np.ndarray
    orthometric: np.ndarray
    transform: tuple[float, float, float, float, float, float]  # GDAL geotransform (lon/lat degrees)


@dataclass
class NodeGrid:
    """A regular node grid in (line, sample) of one acquisition (one burst for TOPS)."""

    line0: float  # line of node row 0 (full-swath line for SM, line within the burst for TOPS)
    sample0: float
    step: float
    lines: np.ndarray  # (nr,)
    samples: np.ndarray  # (nc,)
    t: np.ndarray  # (nr, nc) true zero-Doppler times of the ground points (line time + bistatic term)
    tau: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    h: np.ndarray
    burst: int | None = None


def node_grid(acq: Acquisition, dem: Dem, step: int, burst: int | None = None) -> NodeGrid:
    m = acq.meta
    n_lines = m.lines_per_burst if burst is not None else m.number_of_lines
    lines = np.arange(-2 * step, n_lines + 3 * step, step, dtype=np.float64)
    samples = np.arange(-2 * step, m.number_of_samples + 3 * step, step, dtype=np.float64)
    if burst is not None:
        t1 = m.bursts[burst].azimuth_time_s + lines * m.azimuth_time_interval_s + acq.timing_error_s
    else:
        t1 = acq.line_time_true(lines)
    tau1 = m.sample_to_range_time(samples)
    t, tau = np.meshgrid(t1, tau1, indexing="ij")
    t = t + acq.bistatic_s(tau)  # zero-Doppler time of the ground point each pixel sees (ESA's convention)
    lat, lon, h = rdr2geo_dem(acq.orbit, t, tau, dem.ellipsoidal, dem.transform, look_side=m.look_side)
    return NodeGrid(float(lines[0]), float(samples[0]), float(step), lines, samples, t, tau, lat, lon, h, burst)


def invert(acq: Acquisition, lat, lon, h, t_guess, tau_guess, iterations: int = 8,
           tol_s: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """True zero-Doppler time and range time at which ``acq`` sees the ground points (lat, lon, h).

    Inverts the acquisition's SAR -> ground map (``rdr2geo`` at the point's own ellipsoidal height) by a
    Gauss-Newton iteration with finite-difference Jacobians; no DEM -> SAR projection is used.
    """
    target = np.asarray(llh_to_ecef(lat, lon, h), dtype=np.float64)
    t = np.array(t_guess, dtype=np.float64, copy=True)
    tau = np.array(tau_guess, dtype=np.float64, copy=True)
    hh = np.asarray(h, dtype=np.float64)
    m = acq.meta
    dt = m.azimuth_time_interval_s
    dtau = 1.0 / m.range_sampling_rate_hz
    side = m.look_side
    for _ in range(iterations):
        x0 = rdr2geo_ecef(acq.orbit, t, tau, hh, side)
        xt = rdr2geo_ecef(acq.orbit, t + dt, tau, hh, side)
        xr = rdr2geo_ecef(acq.orbit, t, tau + dtau, hh, side)
        jt = (xt - x0) / dt
        jr = (xr - x0) / dtau
        r = target - x0
        a11 = np.sum(jt * jt, -1)
        a12 = np.sum(jt * jr, -1)
        a22 = np.sum(jr * jr, -1)
        b1 = np.sum(jt * r, -1)
        b2 = np.sum(jr * r, -1)
        det = a11 * a22 - a12 * a12
        d_t = (a22 * b1 - a12 * b2) / det
        d_tau = (a11 * b2 - a12 * b1) / det
        t = t + d_t
        tau = tau + d_tau
        if np.nanmax(np.abs(d_t)) < tol_s * 1e-2 and np.nanmax(np.abs(d_tau)) < tol_s * 1e-5:
            break
    return t, tau


def interp_nodes(grid: NodeGrid, vals: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Node-grid values interpolated by cubic convolution at the outer product of ``rows`` x ``cols``."""
    out = np.empty((rows.size, cols.size), dtype=np.float64)
    cubic_grid(np.ascontiguousarray(vals, dtype=np.float64), grid.line0, grid.sample0, grid.step,
               np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64), out)
    return out


def enu_basis(lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    la = np.radians(lat_deg)
    lo = np.radians(lon_deg)
    e = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], -1)
    n = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], -1)
    u = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
    return e, n, u


def los_displacement_m(acq: Acquisition, scene: SceneModel, lat, lon, h, t, days: float) -> np.ndarray:
    """LOS displacement (m, positive towards the satellite) of ground points seen at times ``t``."""
    lat = np.asarray(lat, dtype=np.float64)
    if days == 0.0:
        return np.zeros(lat.shape)
    e_, n_ = scene.frame.to_en(lat, lon)
    de, dn, du = scene.mogi_enu_mm(e_, n_, days)
    be, bn, bu = enu_basis(lat, lon)
    disp = (de[..., None] * be + dn[..., None] * bn + du[..., None] * bu) * 1e-3
    x = np.asarray(llh_to_ecef(lat, lon, h), dtype=np.float64)
    s, _ = acq.orbit.position_velocity(t)
    los = s - x
    los /= np.linalg.norm(los, axis=-1, keepdims=True)
    return np.sum(disp * los, -1)


@dataclass
class Context:
    """What every acquisition's synthesis shares."""

    scene: SceneModel
    field: GroundField
    dem: Dem
    ref: Acquisition
    t_center_s: float  # reference time of the stripmap Doppler phase
    doppler_coefficients: tuple[float, ...]
    doppler_t0_s: float
    snr_db: float
    band_range: float  # fraction of the range sampling band filled by the signal
    band_azimuth: float
    node_step: int
    targets_llh: np.ndarray  # (n, 3) lat, lon, ellipsoidal h
    scale_dn: float = 100.0


def _doppler(ctx: Context, tau):
    x = np.asarray(tau, dtype=np.float64) - ctx.doppler_t0_s
    return np.polynomial.polynomial.polyval(x, np.asarray(ctx.doppler_coefficients))


def node_phase(ctx: Context, acq: Acquisition, lat, lon, h, t, tau) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(phase phi_k, reference range time, reference time) at ground points seen by ``acq`` at (t, tau)."""
    if acq is ctx.ref:
        t_ref, tau_ref = t, tau
    else:
        dt0 = acq.meta.first_line_time_s - ctx.ref.meta.first_line_time_s
        t_ref, tau_ref = invert(ctx.ref, lat, lon, h, t - dt0, tau)
    fc = acq.meta.radar_frequency_hz
    phi = -2.0 * np.pi * fc * (tau - tau_ref)
    if not acq.meta.is_tops:
        phi = phi + 2.0 * np.pi * _doppler(ctx, tau_ref) * (t_ref - ctx.t_center_s)
    d = los_displacement_m(acq, ctx.scene, lat, lon, h, t, acq.days_since_first)
    phi = phi + 4.0 * np.pi / acq.wavelength_m * d
    return phi, tau_ref, t_ref


def _independent_shift(ctx: Context, index: int) -> tuple[float, float]:
    ny, nx = ctx.field.data.shape
    fe = ((0.5 + 0.137 * index) % 1.0) * nx * ctx.field.step_e
    fn = ((0.5 + 0.291 * index) % 1.0) * ny * ctx.field.step_n
    return fe, fn


def _add_targets(ctx: Context, acq: Acquisition, buf: np.ndarray, row_first: int, burst: int | None,
                 records: list[dict]) -> None:
    """Add the point targets (band-limited sinc responses) into ``buf`` (rows from ``row_first``)."""
    if ctx.targets_llh.size == 0:
        return
    m = acq.meta
    lat, lon, h = ctx.targets_llh[:, 0], ctx.targets_llh[:, 1], ctx.targets_llh[:, 2]
    # first guess from the image centre, then the inversion
    if burst is None:
        t_c = acq.line_time_true(np.full(lat.shape, 0.5 * m.number_of_lines))
    else:
        t_c = np.full(lat.shape, m.bursts[burst].azimuth_time_s + 0.5 * m.lines_per_burst
                      * m.azimuth_time_interval_s + acq.timing_error_s)
    tau_c = np.full(lat.shape, m.sample_to_range_time(0.5 * m.number_of_samples))
    t, tau = invert(acq, lat, lon, h, t_c, tau_c, iterations=12)
    phi, tau_ref, _ = node_phase(ctx, acq, lat, lon, h, t, tau)
    pix = m.range_time_to_sample(tau)
    t_line = t - acq.bistatic_s(tau) - acq.timing_error_s  # annotated time of the line imaging the target
    if burst is None:
        line = (t_line - m.first_line_time_s) / m.azimuth_time_interval_s
        local = line
    else:
        local = (t_line - m.bursts[burst].azimuth_time_s) / m.azimuth_time_interval_s
        line = burst * m.lines_per_burst + local
    half = 16
    amp = ctx.scene.point_target_amplitude
    fdc = _doppler(ctx, tau_ref)
    for k in range(lat.size):
        rec = {"acquisition": acq.index, "target": k, "line": float(line[k]), "pixel": float(pix[k])}
        if burst is not None:
            rec["burst"] = burst
            if not (0 <= local[k] < m.lines_per_burst):
                continue
        if not (0 <= pix[k] < m.number_of_samples):
            continue
        records.append(rec)
        l0, p0 = line[k], pix[k]
        rr = np.arange(max(int(l0) - half, row_first), min(int(l0) + half + 1, row_first + buf.shape[0]))
        cc = np.arange(max(int(p0) - half, 0), min(int(p0) + half + 1, m.number_of_samples))
        if rr.size == 0 or cc.size == 0:
            continue
        da = rr - l0
        dr = cc - p0
        wa = np.sinc(ctx.band_azimuth * da) * np.cos(np.pi * da / (2 * half + 2)) ** 2
        wr = np.sinc(ctx.band_range * dr) * np.cos(np.pi * dr / (2 * half + 2)) ** 2
        az = wa.astype(np.complex128)
        if burst is None:
            az = az * np.exp(2j * np.pi * fdc[k] * da * m.azimuth_time_interval_s)
        buf[rr[:, None] - row_first, cc[None, :]] += amp * np.exp(1j * phi[k]) * az[:, None] * wr[None, :]


def synthesize(ctx: Context, acq: Acquisition, seed: int, block_rows: int = 256,
               target_records: list[dict] | None = None) -> np.ndarray:
    """Complex64 pixels (DN scale) of one acquisition (SM image or all bursts of a TOPS swath)."""
    m = acq.meta
    out = np.zeros((m.number_of_lines, m.number_of_samples), dtype=np.complex64)
    rng = np.random.default_rng([seed, 1000 + acq.index])
    noise_std = math.sqrt(10.0 ** (-ctx.snr_db / 10.0) / 2.0)
    mix = acq is not ctx.ref
    se, sn = _independent_shift(ctx, acq.index)
    records = target_records if target_records is not None else []
    parts = [None] if not m.is_tops else list(range(len(m.bursts)))
    for burst in parts:
        g = node_grid(acq, ctx.dem, ctx.node_step, burst)
        phi, tau_ref, t_ref = node_phase(ctx, acq, g.lat, g.lon, g.h, g.t, g.tau)
        ge, gn = ctx.scene.frame.to_en(g.lat, g.lon)
        gam = ctx.scene.coherence(ge, gn) if mix else np.zeros_like(ge)
        n_rows = m.lines_per_burst if burst is not None else m.number_of_lines
        base_row = 0 if burst is None else burst * m.lines_per_burst
        full = np.zeros((n_rows, m.number_of_samples), dtype=np.complex128)
        for r0 in range(0, n_rows, block_rows):
            rows = np.arange(r0, min(r0 + block_rows, n_rows), dtype=np.float64)
            blk = np.empty((rows.size, m.number_of_samples), dtype=np.complex128)
            be = np.empty(blk.shape)
            bn = np.empty(blk.shape)
            synth_rows(ge, gn, phi, gam, g.line0, g.sample0, g.step, rows, m.number_of_samples,
                        ctx.field.data, ctx.field.e0, ctx.field.n0, ctx.field.step_e, ctx.field.step_n,
                        se, sn, mix, blk, be, bn)
            blk *= ctx.scene.amplitude(be, bn)
            blk[~np.isfinite(blk)] = 0  # no ground point (outside the DEM)
            full[r0:r0 + rows.size] = blk
        _add_targets(ctx, acq, full, 0, burst, records)
        if burst is not None:
            # steering phase of the reference acquisition at the line where it images the pixel's ground point
            # (its zero-Doppler time less the bistatic term and the timing error: the annotated burst line the
            # deramping function is written in, so the reference deramps exactly to baseband): the local
            # Doppler follows this acquisition's own ramp to within the burst desynchronisation (a few Hz)
            # and corresponding pixels of two dates carry the same steering phase, as in real TOPS data
            rm = ctx.ref.meta
            lref = (t_ref - ctx.ref.bistatic_s(tau_ref) - ctx.ref.timing_error_s - rm.bursts[burst].azimuth_time_s) \
                / rm.azimuth_time_interval_s
            pref = rm.range_time_to_sample(tau_ref)
            rows = np.arange(n_rows, dtype=np.float64)
            cols = np.arange(m.number_of_samples, dtype=np.float64)
            phase = tops_phase_at(rm, ctx.ref.orbit, burst, interp_nodes(g, lref, rows, cols),
                                  interp_nodes(g, pref, rows, cols))
            full *= np.exp(1j * phase)
        noise = rng.standard_normal((n_rows, m.number_of_samples, 2)).astype(np.float32) * np.float32(noise_std)
        full += noise[..., 0] + 1j * noise[..., 1]
        if burst is not None:
            b = m.bursts[burst]
            ok_rows = b.first_valid_sample >= 0
            col_idx = np.arange(m.number_of_samples)
            valid = ok_rows[:, None] & (col_idx[None, :] >= b.first_valid_sample[:, None]) & \
                (col_idx[None, :] <= b.last_valid_sample[:, None])
            full[~valid] = 0
        out[base_row:base_row + n_rows] = (full * ctx.scale_dn).astype(np.complex64)
    return out


def quantize(data: np.ndarray) -> np.ndarray:
    """Round to the CInt16 grid (the values written to the measurement TIFF)."""
    re = np.clip(np.rint(data.real), -32768, 32767)
    im = np.clip(np.rint(data.imag), -32768, 32767)
    return (re + 1j * im).astype(np.complex64)
