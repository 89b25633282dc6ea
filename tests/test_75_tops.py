"""TOPS deramping (ESA formulas) and ESD: checked against physics (simulated IW bursts, the real Terceira
IW3 crop, the simulator's hidden timing error), plus identities, shift mode and precision."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import rasterio

from diapsar.coregistration import coregister, dense_shifts
from diapsar.deformation_grid import grid_offset
from diapsar.deramp import TopsRamp, deramp, local_doppler_hz, reramp, tops_phase
from diapsar.doppler0 import cde_sums
from diapsar.esd import (
    OverlapData,
    esd_overlaps,
    esd_shift,
    mean_esd_shift,
    overlap_delta_f_hz,
    overlap_lines,
    overlap_window,
)
from diapsar.io.safe import open_annotation, open_product
from diapsar.orbit import Orbit
from diapsar.simulate import simulate_stack

# Sentinel-1 IW-like burst parameters (orders of magnitude of an IW1 annotation)
RAMP = TopsRamp(lines=60, samples=80, azimuth_time_interval_s=2.0556e-3, near_range_time_s=5.33e-3,
                range_sampling_rate_hz=64.345e6, fm_rate_t0_s=5.34e-3,
                fm_rate_coeffs=(-2318.0, 443_000.0, -79_000_000.0), dc_t0_s=5.34e-3,
                dc_coeffs=(25.0, -40_000.0, 1.0e6), steering_rate_rad_s=math.radians(1.590368784),
                velocity_m_s=7590.0, radar_frequency_hz=5.405000454334350e9)


def _psi_numpy(r: TopsRamp, line, col):
    """ψ = +π k_t (η − η_ref)² + 2π f_ηc (η − η_ref): the phase a TOPS burst carries (ESA TN-14-0025)."""
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
    return np.pi * kt * (eta - eta_ref) ** 2 + 2 * np.pi * fdc(tau) * (eta - eta_ref)


def test_phase_matches_numpy_formula_and_magnitudes():
    rng = np.random.default_rng(0)
    line, col = rng.uniform(0, 60, 50), rng.uniform(0, 80, 50)
    np.testing.assert_allclose(tops_phase(RAMP, line, col), _psi_numpy(RAMP, line, col), rtol=1e-12, atol=1e-9)
    # k_t ≈ 1.8 kHz/s for IW (peers-and-limits.md §5)
    ka = RAMP.fm_rate_coeffs[0]
    assert 1500 < ka * RAMP.k_s / (ka - RAMP.k_s) < 2100


def test_deramp_reramp_identity_and_strips():
    rng = np.random.default_rng(1)
    burst = (rng.normal(size=(60, 80)) + 1j * rng.normal(size=(60, 80))).astype(np.complex64)
    d = deramp(burst, RAMP)
    yy, xx = np.mgrid[0:60, 0:80]
    np.testing.assert_allclose(d, burst * np.exp(-1j * _psi_numpy(RAMP, yy, xx)), atol=2e-5)
    np.testing.assert_allclose(reramp(d, RAMP), burst, atol=2e-5)
    np.testing.assert_allclose(deramp(burst[20:45], RAMP, line0=20), d[20:45], atol=1e-6)


def test_deramp_removes_the_linear_doppler_sweep():
    """A burst whose phase is the TOPS ramp of a point-like flat scene: after deramping, the lag-one
    azimuth phase (local Doppler) is constant along the burst; before, it sweeps with k_t."""
    yy, xx = np.mgrid[0:60, 0:80]
    burst = np.exp(1j * _psi_numpy(RAMP, yy, xx)).astype(np.complex64)
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
    np.testing.assert_allclose(out, data * np.exp(1j * _psi_numpy(RAMP, yy + sa, xx + sr)), atol=3e-5)


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
        ref = _psi_numpy(big, yy, xx)
        assert np.abs(ref).max() > 1000
        err = np.angle(got * np.exp(1j * ref))
        assert np.max(np.abs(err)) < 1e-4


def test_col0_strip_matches_full_width():
    rng = np.random.default_rng(5)
    burst = (rng.normal(size=(20, 80)) + 1j * rng.normal(size=(20, 80))).astype(np.complex64)
    full = deramp(burst, RAMP, line0=7)
    np.testing.assert_allclose(deramp(burst[:, 30:70], RAMP, line0=7, col0=30), full[:, 30:70], atol=1e-6)
    np.testing.assert_allclose(reramp(full[:, 30:70], RAMP, line0=7, col0=30), burst[:, 30:70], atol=2e-5)


def _block_doppler(x: np.ndarray, block: int) -> np.ndarray:
    """CDE local Doppler (cycles/line) of consecutive ``block``-line blocks (Madsen 1989)."""
    return np.array([np.angle(cde_sums(x[q:q + block]).sum()) / (2 * np.pi)
                     for q in range(0, x.shape[0] - block + 1, block)])


def _read_all(safe):
    meta = open_product(safe).swath()
    return meta, open_product(safe).read(None, None, 0, 0, meta.number_of_lines, meta.number_of_samples)


@pytest.fixture(scope="module")
def iw_sim(tmp_path_factory):
    """Simulated IW1 pair, 2 bursts of 360 lines, hidden slave timing error of 0.05 line."""
    out = tmp_path_factory.mktemp("tops_sim")
    res = simulate_stack(out, mode="iw", dates=2, size=(0, 256), bursts=2, lines_per_burst=360, seed=11,
                         n_targets=0, coherence=(0.95, 0.95), snr_db=30.0, timing_error_lines=[0.0, 0.05])
    pair = json.loads(res.truth_json.read_text())["pairs"][0]
    with rasterio.open(out / pair["file"]) as ds:
        truth = {name: ds.read(i + 1) for i, name in enumerate(ds.descriptions)}
    return res, pair, truth, _read_all(res.products[0]), _read_all(res.products[1])


def test_deramp_brings_simulated_iw_bursts_to_baseband(iw_sim):
    """Physics, not the module's own formula: the simulator gives each burst the steering sweep of real
    data (local Doppler rising along the burst); after ``deramp`` with the annotation ramp the local
    Doppler is ≈ 0 all along every burst."""
    _, _, _, (meta, data), _ = iw_sim
    L = meta.lines_per_burst
    orb = Orbit(meta.orbit)
    for b in range(len(meta.bursts)):
        raw = data[b * L:(b + 1) * L]
        bu = meta.bursts[b]
        valid = slice(bu.first_valid_line - bu.first_line, bu.last_valid_line - bu.first_line + 1)
        ramp = TopsRamp.from_metadata(meta, b, orb)
        assert ramp.fm_rate_coeffs[0] < 0 < ramp.k_s
        der = deramp(raw, ramp)
        f_raw = _block_doppler(raw[valid], 60)
        f_der = _block_doppler(der[valid], 100)
        print(f"burst {b}: local Doppler raw {np.round(f_raw, 3)}, deramped {np.round(f_der, 4)} cycles/line")
        rising = np.unwrap(f_raw * 2 * np.pi) / (2 * np.pi)
        assert np.all(np.diff(rising) > 0.1)          # the raw sweep rises along the burst (k_t > 0)
        assert np.max(np.abs(f_der)) < 0.01
        # the sweep rate is the annotation's k_t·Δt_az² per line
        lines = np.array([100.0, 250.0])
        pred = np.diff(local_doppler_hz(ramp, lines[:, None], np.arange(data.shape[1])[None, :]).mean(1))[0]
        assert np.polyfit(np.arange(rising.size) * 60, rising, 1)[0] == pytest.approx(
            pred * meta.azimuth_time_interval_s / 150, rel=0.05)


def test_deramp_flattens_real_terceira_doppler(s1_data):
    """Real Sentinel-1 IW3 pixels (Terceira crop, burst 7): the raw local Doppler rises by ≈ +0.0066
    cycles/line per line; deramped with the annotation ramp it is flat (land part within 0.03 cycle; the
    sea part at the end of the crop is dim and carries its own surface Doppler)."""
    crop = s1_data / "terceira_iw3_20220918_real_crop"
    tif = crop / "s1a-iw3-slc-vv_subset_hight9800_10400_width11000_11000.tiff"
    xml = crop / "s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.xml"
    if not (tif.is_file() and xml.is_file()):
        pytest.skip(f"Terceira crop not found in {crop}")
    meta = open_annotation(xml)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(tif) as ds:
            x = ds.read(1).astype(np.complex64)
    line0, sample0 = 9799, 10999  # window of the crop in the full swath (README of the test data)
    L = meta.lines_per_burst
    b = line0 // L
    der = deramp(x, TopsRamp.from_metadata(meta, b), line0=line0 - b * L, col0=sample0)
    block = 40
    centres = np.arange(0, x.shape[0] - block + 1, block) + block / 2

    def slope(f):
        return np.polyfit(centres, np.unwrap(f * 2 * np.pi) / (2 * np.pi), 1)[0]

    f_raw, f_der = _block_doppler(x, block), _block_doppler(der, block)
    print(f"Terceira local Doppler slope raw {slope(f_raw):+.5f}, deramped {slope(f_der):+.5f} cycles/line²; "
          f"deramped blocks {np.round(f_der, 3)}")
    assert 0.006 < slope(f_raw) < 0.0075
    assert abs(slope(f_der)) < 0.1 * slope(f_raw)
    land = np.abs(x[:280]).mean() > 3 * np.abs(x[400:]).mean()
    assert land and np.max(np.abs(f_der[centres < 280])) < 0.03


def _coregistered_burst_ifg(m_meta, m, s_meta, s, truth, b, extra_lines):
    """Interferogram of burst b (burst lines × all columns) with the slave coregistered the standard TOPS
    way by diapsar: deramp, resample on a dense grid = truth offsets + ``extra_lines``, reramp (shift
    mode); the truth topographic and deformation phases removed."""
    L = m_meta.lines_per_burst
    rows = slice(b * L, (b + 1) * L)
    grid = np.stack([truth["range_offset_px"][rows], truth["azimuth_offset_px"][rows] + extra_lines])
    grid = np.nan_to_num(grid)
    ramp_s = TopsRamp.from_metadata(s_meta, b)
    sd = deramp(s[rows], ramp_s)
    sr = reramp(coregister(sd, grid, 1, 1, sd.shape), ramp_s, grid=grid, step_range=1, step_azimuth=1)
    return m[rows] * np.conj(sr) * np.exp(-1j * (truth["topographic_phase_rad"][rows]
                                                 + truth["deformation_phase_rad"][rows]))


def test_esd_recovers_the_simulated_timing_error(iw_sim):
    """End to end: slave data are 0.05 line later than annotated, so the annotation-only offsets are
    truth + 0.05 (truth.json). ESD on the burst overlap of that coregistration returns −0.05, the
    correction that, added to the grid, gives the truth; with the truth offsets it returns ≈ 0."""
    _, pair, truth, (m_meta, m), (s_meta, s) = iw_sim
    err = pair["timing_error_lines"]
    assert err == pytest.approx(0.05)
    L, dt = m_meta.lines_per_burst, m_meta.azimuth_time_interval_s
    b0, b1 = m_meta.bursts[0], m_meta.bursts[1]
    sl0, sl1 = overlap_lines(b0.azimuth_time_s + L * dt, b1.azimuth_time_s, dt, b0.last_valid_line - b0.first_line,
                             b1.first_valid_line - b1.first_line)   # burst line numbering
    n = min(sl0.stop - sl0.start, sl1.stop - sl1.start)
    sl0, sl1 = slice(sl0.start, sl0.start + n), slice(sl1.start, sl1.start + n)
    cols = slice(12, m.shape[1] - 12)
    xx = np.arange(m.shape[1])[cols][None, :]
    f_b = local_doppler_hz(TopsRamp.from_metadata(m_meta, 0), np.arange(sl0.start, sl0.stop)[:, None], xx)
    f_b1 = local_doppler_hz(TopsRamp.from_metadata(m_meta, 1), np.arange(sl1.start, sl1.stop)[:, None], xx)
    assert np.all(f_b - f_b1 > 1000)                 # end of burst b looks forward of burst b+1
    found = {}
    for extra in (0.0, err):
        i0 = _coregistered_burst_ifg(m_meta, m, s_meta, s, truth, 0, extra)[sl0, cols]
        i1 = _coregistered_burst_ifg(m_meta, m, s_meta, s, truth, 1, extra)[sl1, cols]
        found[extra] = esd_shift(i0, i1, f_b - f_b1, dt)
    print(f"ESD: Δf_ovl {np.mean(f_b - f_b1):.0f} Hz; truth offsets {found[0.0].shift_lines:+.4f}, "
          f"annotation offsets {found[err].shift_lines:+.4f} lines (expected {-err:+.4f})")
    assert abs(found[0.0].shift_lines) < 0.005
    assert found[err].shift_lines == pytest.approx(-err, abs=0.005)


# ---- robust ESD over every overlap (esd_overlaps)

DT = 2.0556e-3


def _synthetic_overlap(rng, shift_lines, df, shape=(60, 400), coh=0.8, slope=0.0, sample0=0, burst=0):
    """Overlap interferograms whose double difference is 2π·Δf·shift·Δt_az (+ a shift varying across range by
    ``slope`` lines/sample) with phase noise of a coherence-``coh`` pixel."""
    common = rng.uniform(-np.pi, np.pi, shape)
    cols = np.arange(shape[1])[None, :] + sample0
    local = shift_lines + slope * (cols - (sample0 + shape[1] / 2 - 0.5))
    noise = rng.normal(scale=np.sqrt(1 - coh ** 2) / coh / np.sqrt(2), size=shape)  # CRLB-sized phase noise
    dd = 2 * np.pi * np.asarray(df) * local * DT + noise
    ib = np.exp(1j * common)
    return OverlapData(ib, np.exp(1j * (common - dd)), np.full(shape, coh), df, sample0, burst)


@pytest.mark.parametrize("shift", [-0.05, 0.002])
def test_esd_overlaps_recovers_injected_shift(shift):
    rng = np.random.default_rng(7)
    df = 4700.0 + 200.0 * rng.random((60, 400))                # per-pixel Δf_ovl, as from the annotation
    ovl = [_synthetic_overlap(rng, shift, df, burst=k, coh=0.9) for k in range(6)]
    res = esd_overlaps(ovl, DT)
    print(f"injected {shift:+.4f}, found {res.shift_lines:+.6f} line; residual phases "
          f"{[round(o.residual_phase_rad, 4) for o in res.overlaps]} rad")
    assert res.status == "ok" and len(res.overlaps) == 6 and res.n_pixels == 6 * 60 * 400
    assert res.shift_lines == pytest.approx(shift, abs=1e-4)
    assert all(abs(o.residual_phase_rad) < 0.02 for o in res.overlaps)
    assert all(abs(o.range_slope_lines_per_sample) < 2e-6 for o in res.overlaps)
    # without the correction the seam phase would be 2π·Δf·shift·Δt_az (≈ 3 rad at −0.05 line)
    assert abs(res.overlaps[0].phase_rad) == pytest.approx(abs(2 * np.pi * 4800 * shift * DT), rel=0.05)


def test_esd_overlaps_water_is_a_status_not_an_exception():
    rng = np.random.default_rng(8)
    water = [_synthetic_overlap(rng, 0.01, 4800.0, coh=0.1, burst=k) for k in range(3)]
    res = esd_overlaps(water, DT)
    assert res.status == "too_few_points" and res.shift_lines == 0.0
    assert [o.status for o in res.overlaps] == ["too_few_points"] * 3 and "not applied" in res.message
    # one good overlap among water ones: used alone
    good = _synthetic_overlap(rng, 0.01, 4800.0, coh=0.9, burst=3)
    mixed = esd_overlaps([*water, good], DT)
    assert mixed.status == "ok" and mixed.shift_lines == pytest.approx(0.01, abs=2e-4)
    assert [o.status for o in mixed.overlaps] == ["too_few_points"] * 3 + ["ok"]
    # a few coherent pixels only: below min_pixels (configurable)
    few = _synthetic_overlap(rng, 0.01, 4800.0, shape=(5, 20), coh=0.9)
    assert esd_overlaps([few], DT).status == "too_few_points"
    assert esd_overlaps([few], DT, min_pixels=50).status == "ok"
    # nothing at all, bad shapes, zeros: statuses, never exceptions
    assert esd_overlaps([], DT).status == "no_overlap"
    bad = OverlapData(np.ones((3, 4)), np.ones((4, 3)), None, 4800.0)
    assert esd_overlaps([bad], DT).overlaps[0].status == "invalid_input"
    zeros = OverlapData(np.zeros((50, 50), complex), np.zeros((50, 50), complex), None, 4800.0)
    assert esd_overlaps([zeros], DT).status == "too_few_points"


def test_esd_overlaps_reports_a_range_ramp():
    """An ionosphere-like shift rising across range: reported as a slope, the mean still recovered."""
    rng = np.random.default_rng(9)
    slope = 2.0e-6                                            # lines per sample: 0.008 line over 4000 samples
    ovl = [_synthetic_overlap(rng, 0.003, 4800.0, shape=(40, 4000), coh=0.9, slope=slope, sample0=1000, burst=k)
           for k in range(3)]
    res = esd_overlaps(ovl, DT, range_blocks=8)
    print(f"range slope {res.range_slope_lines_per_sample:.3e} lines/sample (injected {slope:.1e})")
    assert res.range_slope_lines_per_sample == pytest.approx(slope, rel=0.05)
    assert res.shift_lines == pytest.approx(0.003, abs=1e-4)
    assert len(res.overlaps[0].block_samples) == 8 and res.overlaps[0].block_samples[0] > 1000
    flat = esd_overlaps([_synthetic_overlap(rng, 0.003, 4800.0, shape=(40, 4000), coh=0.9)], DT)
    assert abs(flat.range_slope_lines_per_sample) < 0.1 * slope


@pytest.fixture(scope="module")
def iw_sim4(tmp_path_factory):
    """Simulated IW1 pair, 3 bursts of the real IW1 length (2 overlaps, Δf_ovl of real data), hidden slave
    timing error of 0.03 line."""
    out = tmp_path_factory.mktemp("tops_sim4")
    res = simulate_stack(out, mode="iw", dates=2, size=(0, 160), bursts=3, seed=12,
                         n_targets=0, coherence=(0.95, 0.95), snr_db=30.0, timing_error_lines=[0.0, 0.03])
    pair = json.loads(res.truth_json.read_text())["pairs"][0]
    with rasterio.open(out / pair["file"]) as ds:
        truth = {name: ds.read(i + 1) for i, name in enumerate(ds.descriptions)}
    return res, pair, truth, _read_all(res.products[0]), _read_all(res.products[1])


def test_esd_overlaps_recovers_the_simulated_timing_error_on_every_overlap(iw_sim4):
    """End to end on 2 overlaps of real-length bursts: Δf_ovl per pixel from the annotation
    (overlap_delta_f_hz), overlap windows from the burst records (overlap_window), coherence-weighted ESD: the annotation-only offsets (truth +
    0.03 line) give −0.03 to 0.001 line; the truth offsets give 0 to 0.001 line."""
    _, pair, truth, (m_meta, m), (s_meta, s) = iw_sim4
    err = pair["timing_error_lines"]
    assert err == pytest.approx(0.03)
    dt = m_meta.azimuth_time_interval_s
    orb = Orbit(m_meta.orbit)
    found = {}
    for extra in (0.0, err):
        ifgs = [_coregistered_burst_ifg(m_meta, m, s_meta, s, truth, b, extra) for b in range(len(m_meta.bursts))]
        data = []
        for k in range(len(m_meta.bursts) - 1):
            win = overlap_window(m_meta, k)
            assert win is not None and win.lines_b.stop - win.lines_b.start > 20
            cols = slice(max(win.samples.start, 12), min(win.samples.stop, m.shape[1] - 12))
            i0, i1 = ifgs[k][win.lines_b, cols], ifgs[k + 1][win.lines_b1, cols]
            df = overlap_delta_f_hz(m_meta, win, orb, cols)
            assert df.shape == i0.shape and np.all(df > 1000)
            data.append(OverlapData(i0, i1, None, df, cols.start, k))
        found[extra] = esd_overlaps(data, dt, min_pixels=100)
    r0, r1 = found[0.0], found[err]
    print(f"ESD on {len(r1.overlaps)} overlaps: Δf_ovl {[round(o.delta_f_ovl_hz) for o in r1.overlaps]} Hz; "
          f"per overlap {[round(o.shift_lines, 5) for o in r1.overlaps]}; combined {r1.shift_lines:+.5f} "
          f"(expected {-err:+.4f}, error {r1.shift_lines + err:+.5f} line); truth offsets {r0.shift_lines:+.5f}; "
          f"residual phases {[round(o.residual_phase_rad, 4) for o in r1.overlaps]} rad")
    assert r1.status == r0.status == "ok" and len(r1.overlaps) == 2
    assert all(4000 < o.delta_f_ovl_hz < 5500 for o in r1.overlaps)      # IW: 4.5-5 kHz (tops-and-peers.md)
    assert abs(r1.shift_lines + err) <= 0.001
    assert abs(r0.shift_lines) <= 0.001
    assert all(abs(o.shift_lines + err) <= 0.002 for o in r1.overlaps)
    assert all(abs(o.residual_phase_rad) < 0.3 for o in r1.overlaps)


def test_separable_burst_resampling_matches_the_2d_kernel(iw_sim):
    """``tops.burst_resample`` (one kernel: separable 8 x 8 sinc per row, reramp fused) against the two-pass
    reference (deramp, 2-D sinc ``coregister_block``, reramp in shift mode) on a simulated IW slave burst with a
    sloping grid: the separable kernel takes the azimuth weights of a slave column at the output column that
    samples it, which moves them by |dr| x (dAz/dcol) ~ 1e-5 line here; the results must agree to 1e-4 RMS."""
    from diapsar import tops
    from diapsar.coregistration import coregister_block, slave_lines_needed

    _, _, _, _, (s_meta, s) = iw_sim
    b = 1
    sb = s_meta.bursts[b]
    lpb, ns = s_meta.lines_per_burst, s_meta.number_of_samples
    step = 32
    gl, gp = np.meshgrid(np.arange(lpb // step + 2) * step, np.arange(ns // step + 2) * step, indexing="ij")
    grid = np.stack([2.3 + 1e-3 * gp - 2e-4 * gl, -0.4 + 3e-6 * gp + 1e-4 * gl])
    ramp = TopsRamp.from_metadata(s_meta, b)

    def read(line0, sample0, n_lines, n_samples):
        return s[line0:line0 + n_lines, sample0:sample0 + n_samples]

    for r0, r1 in ((0, lpb), (37, 200)):
        got = tops.burst_resample(read, s_meta, b, ramp, grid, step, step, r0, r1, ns)
        l0, l1 = slave_lines_needed(grid, step, step, r0, r1, ns, lpb)
        strip = tops.zero_invalid(np.array(read(sb.first_line + l0, 0, l1 - l0, ns)),
                                  np.asarray(sb.first_valid_sample)[l0:l1], np.asarray(sb.last_valid_sample)[l0:l1])
        ref = reramp(coregister_block(deramp(strip, ramp, line0=l0), l0, lpb, grid, step, step, r0, r1, ns),
                     ramp, line0=r0, grid=grid, step_range=step, step_azimuth=step)
        assert np.array_equal(got == 0, ref == 0)
        rel = np.sqrt(np.mean(np.abs(got - ref) ** 2) / np.mean(np.abs(ref) ** 2))
        strong = np.abs(ref) > np.median(np.abs(ref[ref != 0]))
        dphi = np.abs(np.angle(got[strong] * np.conj(ref[strong])))
        print(f"rows {r0}-{r1}: separable vs 2-D kernel: {rel:.1e} relative RMS, phase max {dphi.max():.1e} rad")
        assert rel < 1e-4
        assert dphi.max() < 0.02


def test_overlap_looks_kernel_matches_numpy_sums():
    """The ESD look cells of ``tops.overlap_looks`` (one numba pass) equal the plain numpy sums."""
    from diapsar import tops

    rng = np.random.default_rng(4)
    shape = (23, 95)

    def img():
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)

    mb, sb, mc, sc = img(), img(), img(), img()
    mb[:, :7] = 0
    sc[4, 30:40] = 0
    fb = 4000.0 + 50.0 * rng.standard_normal(shape)
    fc = -300.0 + rng.standard_normal(shape)
    phi = rng.standard_normal(shape)
    phi[11, 60:70] = np.nan
    got = tops.overlap_looks(3, mb, sb, mc, sc, fb, fc, phi, 5, 15)
    valid = (mb != 0) & (sb != 0) & (mc != 0) & (sc != 0)
    flat = np.exp(-1j * np.nan_to_num(phi))

    def looks(a):
        return a[:20, :90].reshape(4, 5, 6, 15).sum(axis=(1, 3))

    ib = looks(np.where(valid, mb * np.conj(sb.astype(np.complex128)) * flat, 0))
    ic = looks(np.where(valid, mc * np.conj(sc.astype(np.complex128)) * flat, 0))
    n = looks(valid.astype(float))
    full = n == 75

    def coh(i, m, s):
        pm = looks(np.where(valid, np.abs(m.astype(np.complex128)) ** 2, 0.0))
        return np.abs(i) / np.sqrt(pm * looks(np.where(valid, np.abs(s.astype(np.complex128)) ** 2, 0.0)))

    assert full.sum() == 19 and (~full).sum() == 5  # cells with a zero pixel (columns 0-6, row 4) are not full
    np.testing.assert_allclose(got.ifg_b, np.where(full, ib, 0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got.ifg_c, np.where(full, ic, 0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got.coherence, np.where(full, np.minimum(coh(ib, mb, sb), coh(ic, mc, sc)), 0),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.delta_f_hz, looks(np.where(valid, fb - fc, 0.0)) / n, rtol=1e-13)


def test_frame_read_in_place_equals_copies(iw_sim):
    """A debursted frame block spanning two bursts, read into its block (``read_into``, ``Product.read(out=)``)
    or read per burst and copied: the same pixels."""
    from diapsar import tops

    res = iw_sim[0]
    prod = open_product(res.products[0])
    meta = prod.swath()
    frame = tops.deburst_frame(meta)
    seg = frame.segments[0]
    row0, n_rows = seg.frame_line1 - 20, 50
    assert len(frame.split_rows(row0, row0 + n_rows)) == 2

    def read(line0, sample0, n_lines, n_samples):
        return prod.read(None, None, line0, sample0, n_lines, n_samples)

    def read_into(line0, sample0, n_lines, n_samples, out):
        prod.read(None, None, line0, sample0, n_lines, n_samples, out=out)

    for col0, n_cols in ((0, meta.number_of_samples), (13, 100)):
        a = tops.read_frame(read, meta, frame, row0, col0, n_rows, n_cols)
        b = tops.read_frame(read, meta, frame, row0, col0, n_rows, n_cols, read_into=read_into)
        assert np.count_nonzero(a) > n_rows * n_cols // 2
        assert np.array_equal(a, b)


def test_esd_residual_of_a_tiny_last_shift_follows_the_esd_model():
    """The residual of the overlaps after a last ESD shift below RESIDUAL_MODEL_LINES is taken from the last
    iteration's overlaps by the ESD model (phase 2 pi delta_f dt shift). On the IW demo stack the overlaps
    resampled again gave (-0.00269, 0.00124) rad and (-1.2752e-4, 5.8636e-5) line where the model gives
    (-0.00269, 0.00123) rad and (-1.2758e-4, 5.8660e-5) line (last shift -4.9e-6 line)."""
    from diapsar.chains.tops_steps import RESIDUAL_MODEL_LINES, _shifted_estimate

    dt, df = 2.0556e-3, 4800.0
    shift = 0.0123
    phase = 2.0 * np.pi * df * dt * shift
    est = {"status": "ok", "shift_lines": shift,
           "overlaps": [{"bursts": [1, 2], "status": "ok", "phase_rad": phase, "delta_f_hz": df, "shift_lines": shift,
                         "cells": 40},
                        {"bursts": [2, 3], "status": "too_few_points", "cells": 2}]}
    out = _shifted_estimate(est, shift, dt)
    assert out["overlaps"][0]["phase_rad"] == pytest.approx(0.0, abs=1e-5)
    assert out["overlaps"][0]["shift_lines"] == pytest.approx(0.0, abs=1e-12)
    assert out["overlaps"][1] == est["overlaps"][1] and est["overlaps"][0]["phase_rad"] == phase  # not modified
    half = _shifted_estimate(est, shift / 2, dt)["overlaps"][0]
    assert half["phase_rad"] == pytest.approx(phase / 2, abs=1e-5) and half["shift_lines"] == pytest.approx(shift / 2)
    assert RESIDUAL_MODEL_LINES <= 1e-5
