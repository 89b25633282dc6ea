"""TOPS deramping (ESA formulas) and ESD: numpy reference, identities, shift mode, sign of the correction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diapsar.coregistration import coregister, dense_shifts
from diapsar.deformation_grid import grid_offset
from diapsar.deramp import TopsRamp, deramp, reramp, tops_phase
from diapsar.esd import esd_shift, mean_esd_shift, overlap_lines

# Sentinel-1 IW-like burst parameters (orders of magnitude of an IW1 annotation)
RAMP = TopsRamp(lines=60, samples=80, azimuth_time_interval_s=2.0556e-3, near_range_time_s=5.33e-3,
                range_sampling_rate_hz=64.345e6, fm_rate_t0_s=5.34e-3,
                fm_rate_coeffs=(-2318.0, 443_000.0, -79_000_000.0), dc_t0_s=5.34e-3,
                dc_coeffs=(25.0, -40_000.0, 1.0e6), steering_rate_rad_s=math.radians(1.590368784),
                velocity_m_s=7590.0, radar_frequency_hz=5.405000454334350e9)


def _phase_numpy(r: TopsRamp, line, col):
    tau = r.near_range_time_s + col / r.range_sampling_rate_hz
    tau_mid = r.near_range_time_s + 0.5 * r.samples / r.range_sampling_rate_hz

    def ka(t):
        return np.polyval(r.fm_rate_coeffs[::-1], t - r.fm_rate_t0_s)

    def fdc(t):
        return np.polyval(r.dc_coeffs[::-1], t - r.dc_t0_s)

    ks = 2 * r.velocity_m_s * r.radar_frequency_hz * r.steering_rate_rad_s / 299_792_458.0
    kt = ka(tau) * ks / (ka(tau) - ks)
    eta_ref = -fdc(tau) / ka(tau) + fdc(tau_mid) / ka(tau_mid)
    eta = (line - r.lines / 2) * r.azimuth_time_interval_s
    return -np.pi * kt * (eta - eta_ref) ** 2 - 2 * np.pi * fdc(tau) * (eta - eta_ref)


def test_phase_matches_numpy_formula_and_magnitudes():
    rng = np.random.default_rng(0)
    line, col = rng.uniform(0, 60, 50), rng.uniform(0, 80, 50)
    np.testing.assert_allclose(tops_phase(RAMP, line, col), _phase_numpy(RAMP, line, col), rtol=1e-12, atol=1e-9)
    # k_t ≈ 1.8 kHz/s for IW (peers-and-limits.md §5)
    ka = RAMP.fm_rate_coeffs[0]
    assert 1500 < ka * RAMP.k_s / (ka - RAMP.k_s) < 2100


def test_deramp_reramp_identity_and_strips():
    rng = np.random.default_rng(1)
    burst = (rng.normal(size=(60, 80)) + 1j * rng.normal(size=(60, 80))).astype(np.complex64)
    d = deramp(burst, RAMP)
    yy, xx = np.mgrid[0:60, 0:80]
    np.testing.assert_allclose(d, burst * np.exp(-1j * _phase_numpy(RAMP, yy, xx)), atol=2e-5)
    np.testing.assert_allclose(reramp(d, RAMP), burst, atol=2e-5)
    np.testing.assert_allclose(deramp(burst[20:45], RAMP, line0=20), d[20:45], atol=1e-6)


def test_deramp_removes_the_linear_doppler_sweep():
    """A burst whose phase is the TOPS ramp of a point-like flat scene: after deramping, the lag-one
    azimuth phase (local Doppler) is constant along the burst; before, it sweeps with k_t."""
    yy, xx = np.mgrid[0:60, 0:80]
    burst = np.exp(1j * _phase_numpy(RAMP, yy, xx)).astype(np.complex64)
    before = np.angle(burst[1:] * np.conj(burst[:-1]))
    after = np.angle(deramp(burst, RAMP)[1:] * np.conj(deramp(burst, RAMP)[:-1]))
    assert np.ptp(before[:, 40]) > 0.5
    assert np.max(np.abs(after)) < 1e-4


def test_reramp_shift_mode_uses_slave_coordinates():
    rng = np.random.default_rng(2)
    data = (rng.normal(size=(30, 80)) + 1j * rng.normal(size=(30, 80))).astype(np.complex64)
    grid = np.stack([rng.uniform(-2, 2, (3, 5)), rng.uniform(-1.5, 1.5, (3, 5))])
    out = reramp(data, RAMP, line0=10, grid=grid, step_range=20, step_azimuth=20)
    sr, sa = dense_shifts(grid, 20, 20, 10, 40, 80)
    yy, xx = np.mgrid[10:40, 0:80]
    np.testing.assert_allclose(out, data * np.exp(1j * _phase_numpy(RAMP, yy + sa, xx + sr)), atol=3e-5)


def test_overlap_lines():
    dt = 2.0556e-3
    sb, sb1 = overlap_lines(10.0 + 100.5 * dt, 10.0, dt, last_valid_line_b=1480, first_valid_line_b1=1523)
    assert (sb.start, sb.stop) == (1380, 1481) and (sb1.start, sb1.stop) == (1523, 1624)
    with pytest.raises(ValueError, match="do not overlap"):
        overlap_lines(10.0, 10.5, dt, 100, 200)


def test_esd_on_exact_phases_and_masking():
    rng = np.random.default_rng(3)
    dt, df, delta = 2.0556e-3, 4800.0, 0.0123          # residual misregistration δ (lines)
    common = rng.uniform(-np.pi, np.pi, (50, 200))
    amp = rng.uniform(0.5, 1.5, (50, 200))
    ib = amp * np.exp(1j * (common - 2 * np.pi * 2400.0 * delta * dt))
    ib1 = amp * np.exp(1j * (common - 2 * np.pi * (2400.0 - df) * delta * dt))
    coh = np.full(ib.shape, 0.9)
    coh[:, :50] = 0.1
    ib[:, :50] = np.exp(1j * rng.uniform(-np.pi, np.pi, (50, 50)))   # incoherent pixels, masked out
    res = esd_shift(ib, ib1, df, dt, coh, threshold=0.3)
    assert res.n_pixels == 50 * 150
    assert res.shift_lines == pytest.approx(-delta, abs=1e-9)
    assert mean_esd_shift([res, res]) == pytest.approx(-delta, abs=1e-9)
    assert esd_shift(np.zeros(4, complex), np.zeros(4, complex), df, dt).n_pixels == 0


def test_esd_correction_sign_through_coregistration():
    """Bursts b and b+1 see the overlap with Doppler f_b > f_b+1; a grid with an azimuth error δ gives
    interferogram phases whose ESD value, added to the grid, removes the error."""
    n_a, n_r = 96, 40
    dt = 2.0556e-3
    prf = 1.0 / dt
    f_b, f_b1 = 0.35 * prf, -0.35 * prf                    # Hz, Δf_ovl = 0.7·PRF
    rng = np.random.default_rng(4)
    fa = np.fft.fftfreq(n_a)
    delta = 0.02
    grid = np.zeros((2, 2, 2))
    grid[1] = delta                                        # erroneous azimuth shift (truth: 0)
    ifgs = []
    for f in (f_b, f_b1):
        spec = (np.abs(fa) < 0.1)[:, None] * (rng.normal(size=(n_a, n_r)) + 1j * rng.normal(size=(n_a, n_r)))
        y = np.arange(n_a)[:, None]
        burst = (np.fft.ifft(spec, axis=0) * np.exp(2j * np.pi * f * dt * y)).astype(np.complex64)
        slave = coregister(burst, grid, 100, 100, burst.shape, doppler_cycles=f * dt)
        ifgs.append((burst * np.conj(slave))[10:-10])
    res = esd_shift(ifgs[0], ifgs[1], f_b - f_b1, dt)
    assert res.shift_lines == pytest.approx(-delta, abs=2e-3)
    corrected = grid_offset(grid, 0.0, res.shift_lines)
    assert abs(corrected[1, 0, 0]) < 2e-3


def test_full_size_burst_edges_keep_phase_precision():
    """At the edges of a 1500-line burst φ reaches thousands of radians: still right to 1e-4 rad."""
    import dataclasses

    big = dataclasses.replace(RAMP, lines=1500, samples=3000)
    ones = np.ones((4, 3000), np.complex64)
    for line0 in (0, 1496):
        got = deramp(ones, big, line0=line0)
        yy, xx = np.mgrid[line0:line0 + 4, 0:3000]
        ref = _phase_numpy(big, yy, xx)
        assert np.abs(ref).max() > 1000
        err = np.angle(got * np.exp(1j * ref))
        assert np.max(np.abs(err)) < 1e-4
