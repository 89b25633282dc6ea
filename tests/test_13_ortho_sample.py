"""ortho.sample: a float32 window is sampled without a float64 copy, into float32, with the bytes of the float64
path (window converted, float64 output rounded once), in one thread or two."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from diapsar.kernels.interp import sample_ml
from diapsar.ortho import KINDS, ortho_bands, sample


@pytest.mark.parametrize("kind", ["bilinear", "nearest", "phase"])
def test_float32_window_gives_the_float64_path_bytes(kind):
    rng = np.random.default_rng(5)
    img = (rng.normal(size=(300, 400)) * 3).astype(np.float32)
    u = rng.uniform(-2, 302, size=(500, 600))
    v = rng.uniform(-2, 402, size=(500, 600))
    u[3, 4] = np.nan
    ref = np.empty(u.shape)
    sample_ml(img.astype(np.float64), 0, u, v, KINDS[kind], np.nan, ref)
    ref = ref.astype(np.float32)
    assert np.array_equal(sample(img, 0, u, v, kind), ref, equal_nan=True)
    assert np.isnan(ref[3, 4]) and np.isfinite(ref).mean() > 0.9
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sample(img, 0, u, v, kind)
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(one, ref, equal_nan=True)


def test_ortho_bands_masks_cells_without_data():
    rng = np.random.default_rng(6)
    bands = rng.normal(size=(4, 50, 60)).astype(np.float32)
    bands[3] = 1.0
    bands[3, 10:20, 10:20] = 0.0
    u, v = np.meshgrid(np.linspace(0, 49, 80), np.linspace(0, 59, 90), indexing="ij")
    out = ortho_bands(bands, 0, u, v, ["bilinear", "phase", "bilinear", "nearest"], isdata_band=3)
    assert out.dtype == np.float32 and out.shape == (4, 80, 90)
    bad = out[3] < 0.5
    assert bad.any() and np.isnan(out[:3][:, bad]).all() and (out[3][bad] == 0).all()
    assert np.isfinite(out[:3][:, ~bad]).all()
    np.testing.assert_array_equal(out[0][~bad], sample(bands[0], 0, u, v, "bilinear")[~bad])
