"""SARMultiLook and SARDoppler0 against plain numpy and synthetic signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from diapsar.doppler0 import cde_sums, doppler0, doppler0_from_sums
from diapsar.errors import ConfigError
from diapsar.kernels.windows import box_sum, sum_row_windows
from diapsar.multilook import multilook, multilook_shape


def _ml_reference(x: np.ndarray, mr: int, ma: int, gain: float) -> np.ndarray:
    na, nr = x.shape[0] // ma, x.shape[1] // mr
    p = np.abs(x[: na * ma, : nr * mr].astype(np.complex128)) ** 2
    return gain * np.sqrt(p.reshape(na, ma, nr, mr).mean(axis=(1, 3)))


def test_multilook_complex_and_real_match_numpy():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(37, 53)) + 1j * rng.normal(size=(37, 53))).astype(np.complex64)
    out = multilook(x, ml_range=8, ml_azimuth=2, gain=0.1)
    assert out.shape == multilook_shape(37, 53, 8, 2) == (18, 6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _ml_reference(x, 8, 2, 0.1), rtol=1e-5)
    r = rng.normal(size=(20, 21)).astype(np.float32)
    np.testing.assert_allclose(multilook(r, 3, 4, 2.0), _ml_reference(r, 3, 4, 2.0), rtol=1e-5)


def test_multilook_strips_equal_whole_image():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(40, 30)) + 1j * rng.normal(size=(40, 30))).astype(np.complex64)
    whole = multilook(x, 3, 4)
    parts = np.vstack([multilook(x[r:r + 12], 3, 4) for r in range(0, 40, 12)])
    np.testing.assert_array_equal(whole, parts)


def test_multilook_constant_amplitude_is_gain_times_modulus():
    x = np.full((8, 8), 3 - 4j, dtype=np.complex64)
    np.testing.assert_allclose(multilook(x, 2, 2, gain=0.1), 0.5, rtol=1e-6)


@pytest.mark.parametrize("bad", [0, -2, 2.5])
def test_multilook_bad_factor_is_config_error(bad):
    with pytest.raises(ConfigError, match="ml_range"):
        multilook(np.zeros((4, 4), np.complex64), bad, 1)


def test_box_sum_and_row_windows_match_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(23, 150))
    ref = np.zeros_like(x)
    pad = np.pad(x, ((2, 2), (3, 3)))
    for i in range(23):
        for j in range(150):
            ref[i, j] = pad[i:i + 5, j:j + 7].sum()
    np.testing.assert_allclose(box_sum(x, 2, 3), ref, atol=1e-10)
    starts = np.array([0, 2, 5]), np.array([3, 9, 23])
    got = sum_row_windows(x, starts[0], starts[1])
    np.testing.assert_allclose(got, [x[0:3].sum(0), x[2:9].sum(0), x[5:23].sum(0)], atol=1e-10)


def _doppler_slc(f_dc_per_col: np.ndarray, n_lines: int, seed: int, bandwidth: float = 0.6) -> np.ndarray:
    """Complex Gaussian SLC whose azimuth spectrum in column c is a band centred on f_dc_per_col[c]."""
    rng = np.random.default_rng(seed)
    nc = f_dc_per_col.size
    white = rng.normal(size=(n_lines, nc)) + 1j * rng.normal(size=(n_lines, nc))
    f = np.fft.fftfreq(n_lines)[:, None]
    d = (f - f_dc_per_col[None, :] + 0.5) % 1.0 - 0.5      # distance to the centre, wrapped
    h = np.where(np.abs(d) < bandwidth / 2, np.cos(np.pi * d / bandwidth) ** 2, 0.0)
    return np.fft.ifft(np.fft.fft(white, axis=0) * h, axis=0).astype(np.complex64)


@pytest.mark.parametrize("f_dc", [0.0, 0.137, -0.31, 0.45])
def test_doppler0_recovers_known_centroid(f_dc):
    slc = _doppler_slc(np.full(64, f_dc), 512, seed=3)
    prf = 1700.0
    d = doppler0(slc, prf_hz=prf)
    err = (d.cycles_per_line - f_dc + 0.5) % 1.0 - 0.5
    assert abs(err) < 0.005, (d.cycles_per_line, f_dc)
    assert abs(d.hz - d.cycles_per_line * prf) < 1e-9
    assert -0.5 < d.cycles_per_line <= 0.5


def test_doppler0_range_varying_and_streaming():
    truth = np.linspace(-0.2, 0.25, 256)
    slc = _doppler_slc(truth, 400, seed=4)
    d = doppler0(slc, prf_hz=1000.0, column_window=31)
    inner = slice(20, -20)
    assert np.max(np.abs(d.per_column_cycles[inner] - truth[inner])) < 0.02
    assert abs(d.cycles_per_line - truth.mean()) < 0.01
    # strips with the previous line carried over give the same sums as the whole image
    total = np.zeros(256, np.complex128)
    prev = None
    for r in range(0, 400, 90):
        total += cde_sums(slc[r:r + 90], prev)
        prev = slc[r + 89] if r + 90 <= 400 else None
    np.testing.assert_allclose(total, cde_sums(slc), rtol=1e-6)
    ref = (slc[1:].astype(np.complex128) * np.conj(slc[:-1])).sum(axis=0)
    np.testing.assert_allclose(total, ref, rtol=1e-5)
    assert doppler0_from_sums(total, 1000.0).cycles_per_line == pytest.approx(d.cycles_per_line, abs=1e-9)


def test_multilook_bands_of_an_interferogram():
    from diapsar.multilook import multilook_bands

    amp = np.ones((4, 6), np.float32)
    phase = np.full((4, 6), 0.5, np.float32)
    coh = np.full((4, 6), 0.8, np.float32)
    isdata = np.ones((4, 6), np.float32)
    isdata[0, 0] = 0
    out = multilook_bands(np.stack([amp, phase, coh, isdata]), 3, 2)
    assert out.shape == (4, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 1], 0.5, atol=1e-6)
    np.testing.assert_allclose(out[2, 1], 0.8, atol=1e-6)
    assert out[3, 0, 0] == 0 and np.all(out[:3, 0, 0] == 0) and out[3, 1, 1] == 1
    same = np.stack([amp, phase, coh, isdata])
    assert multilook_bands(same, 1, 1) is same
