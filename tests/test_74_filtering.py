"""SARPhaseFiltering (Goldstein): numpy reference, identity at α = 0, noise reduction with fringes kept."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from diapsar.errors import ConfigError
from diapsar.filtering import filter_lines, goldstein, phase_filtering


def _reference(z, alpha, tile, step, smooth=3):
    """Tile-by-tile Goldstein filter on the whole image (tiles start at k·step − (tile − step))."""
    n_r, n_c = z.shape
    han = np.hanning(tile + 2)[1:-1]
    w = np.outer(han, han)
    acc = np.zeros(z.shape, complex)
    ws = np.zeros(z.shape)
    for a in range(-(tile - step), n_r, step):
        for c in range(-(tile - step), n_c, step):
            t = np.zeros((tile, tile), complex)
            a0, a1, c0, c1 = max(a, 0), min(a + tile, n_r), max(c, 0), min(c + tile, n_c)
            if a1 <= a0 or c1 <= c0:
                continue
            t[a0 - a:a1 - a, c0 - c:c1 - c] = z[a0:a1, c0:c1]
            spec = np.fft.fft2(t)
            mag = ndimage.uniform_filter(np.abs(spec), smooth, mode="wrap")
            f = np.fft.ifft2(spec * (mag / mag.max()) ** alpha) * w
            acc[a0:a1, c0:c1] += f[a0 - a:a1 - a, c0 - c:c1 - c]
            ws[a0:a1, c0:c1] += w[a0 - a:a1 - a, c0 - c:c1 - c]
    return acc / ws


def test_matches_tile_by_tile_reference_and_identity_at_alpha_zero():
    rng = np.random.default_rng(0)
    z = (rng.normal(size=(45, 58)) + 1j * rng.normal(size=(45, 58))).astype(np.complex64)
    np.testing.assert_allclose(goldstein(z, 0.0, 16, 4), z, atol=1e-5)
    got = goldstein(z, 0.7, 16, 4)
    np.testing.assert_allclose(got, _reference(z, 0.7, 16, 4), atol=1e-4)


def test_noise_reduced_and_fringe_frequency_preserved():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:256, 0:256]
    f_r, f_a = 0.043, -0.021                                        # cycles/pixel
    psi = 2 * np.pi * (f_r * x + f_a * y)
    noisy = np.exp(1j * psi) + 0.8 * (rng.normal(size=psi.shape) + 1j * rng.normal(size=psi.shape))
    filt = goldstein(noisy.astype(np.complex64))                    # 64 × 64 tiles, step 16, α = 0.7

    def rms_err(z):
        inner = (slice(16, -16), slice(16, -16))
        return np.sqrt(np.mean(np.angle(z[inner] * np.exp(-1j * psi[inner])) ** 2))

    before, after = rms_err(noisy), rms_err(filt)
    assert after < 0.5 * before, (before, after)

    def freq(z, axis):
        lag = np.take(z, range(1, z.shape[axis]), axis) * np.conj(np.take(z, range(z.shape[axis] - 1), axis))
        return np.angle(lag.sum()) / (2 * np.pi)

    assert freq(filt, 1) == pytest.approx(f_r, abs=5e-4)
    assert freq(filt, 0) == pytest.approx(f_a, abs=5e-4)
    mean_bias = np.angle(np.sum(filt * np.exp(-1j * psi)))
    assert abs(mean_bias) < 0.02


def test_strips_with_halo_equal_whole_image():
    rng = np.random.default_rng(2)
    z = (rng.normal(size=(100, 70)) + 1j * rng.normal(size=(100, 70))).astype(np.complex64)
    whole = goldstein(z, 0.7, 16, 4)
    parts = []
    for r0 in range(0, 100, 30):
        r1 = min(100, r0 + 30)
        l0, l1 = filter_lines(r0, r1, 16, 100)
        parts.append(goldstein(z[l0:l1], 0.7, 16, 4, line0=l0)[r0 - l0:r1 - l0])
    np.testing.assert_allclose(np.vstack(parts), whole, atol=1e-5)


def test_phase_filtering_bands_and_config_errors():
    rng = np.random.default_rng(3)
    bands = np.stack([rng.uniform(0, 1, (40, 50)), rng.uniform(-3, 3, (40, 50)), rng.uniform(0, 1, (40, 50)),
                      np.ones((40, 50))]).astype(np.float32)
    bands[3, :5] = 0
    bands[:3, :5] = 0
    out = phase_filtering(bands, alpha=0.5, tile=16, step=4)
    np.testing.assert_array_equal(out[[0, 2, 3]], bands[[0, 2, 3]])
    assert np.all(out[1, :5] == 0) and np.any(out[1, 5:] != bands[1, 5:])
    assert np.all(out[1] > -np.pi) and np.all(out[1] <= np.pi)
    with pytest.raises(ConfigError, match="alpha"):
        goldstein(np.ones((8, 8), np.complex64), alpha=1.5)
    with pytest.raises(ConfigError, match="multiple of the step"):
        goldstein(np.ones((8, 8), np.complex64), tile=64, step=24)
