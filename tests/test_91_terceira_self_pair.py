"""Real Terceira IW3 crop: a self-pair (master = slave) through the chain's applications gives coherence 1 and
zero phase. Where the crop lies in the full swath is tested in test_92_terceira.py (diapsar.locate).
"""

from __future__ import annotations

import glob
import warnings

import numpy as np
import pytest
import rasterio

from diapsar.io.dem import Dem

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

CLAIM_LINE, CLAIM_SAMPLE = 9799, 10999  # 0-based crop position claimed upstream (frame of the geometry)


@pytest.fixture(scope="module")
def terceira(s1_data, tmp_path_factory):
    from diapsar.io.dem import build_dem_vrt, read_dem
    from diapsar.io.eof import read_eof
    from diapsar.io.safe import open_annotation
    from diapsar.orbit import Orbit

    d = s1_data / "terceira_iw3_20220918_real_crop"
    if not d.is_dir():
        pytest.skip(f"{d} not found")
    meta = open_annotation(next(d.glob("*.xml")))
    orbit = Orbit(read_eof(next(d.glob("*.EOF"))))
    tmp = tmp_path_factory.mktemp("terceira")
    vrt = build_dem_vrt(sorted(glob.glob(str(d / "dem" / "*.zip"))), tmp / "dem.vrt")
    bbox = (-27.45, 38.5, -27.0, 38.85)  # the crop and its search area, with margin (inside the tiles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h_ell, gt, _ = read_dem(vrt, bbox=bbox, ellipsoidal=True)
        h_orth, _, _ = read_dem(vrt, bbox=bbox, ellipsoidal=False)
    with rasterio.open(next(d.glob("*.tiff"))) as ds:
        slc = ds.read(1).astype(np.complex64)
    dems = {
        "egm96": Dem(np.nan_to_num(np.asarray(h_ell, np.float64)), tuple(gt)),
        "none": Dem(np.nan_to_num(np.asarray(h_orth, np.float64)), tuple(gt)),
    }
    return {"meta": meta, "orbit": orbit, "slc": slc, "dems": dems, "tmp": tmp}


def test_self_pair_coherence_and_phase(terceira):
    """Master = slave through the chain's applications: geometric grid, sinc coregistration, topographic phase,
    interferogram."""
    from diapsar.coregistration import coregister_block
    from diapsar.deformation_grid import dem_deformation_grid
    from diapsar.doppler0 import doppler0
    from diapsar.interferogram import interferogram
    from diapsar.topographic_phase import topographic_phase

    t = terceira
    meta, orbit, slc = t["meta"], t["orbit"], t["slc"]
    line0, sample0 = CLAIM_LINE, CLAIM_SAMPLE
    n_l, n_s = slc.shape
    step = 50
    grid = dem_deformation_grid(meta, orbit, meta, orbit, t["dems"]["egm96"], step, step, line0, sample0, n_l, n_s)
    assert np.abs(grid).max() < 1e-3
    dop = doppler0(slc, 1.0 / meta.azimuth_time_interval_s)
    # the crop is its own frame: slave pixel = master pixel + shift
    coreg = coregister_block(slc, 0, n_l, grid, step, step, 0, n_l, n_s, doppler_cycles=dop.cycles_per_line)
    # topographic phase of the crop's ground points on the same orbit: zero
    from diapsar.dem_projection import ground_points

    ll, pp = np.meshgrid(np.arange(line0, line0 + n_l, 50.0), np.arange(sample0, sample0 + n_s, 50.0),
                         indexing="ij")
    xyz = ground_points(meta, orbit, t["dems"]["egm96"], ll, pp)
    phi = topographic_phase(xyz, meta, orbit, meta, orbit, ll)["phase"]
    assert np.nanmax(np.abs(phi)) < 1e-6
    ifg = interferogram(slc, coreg, np.zeros(slc.shape), 4, 1, 1, 1, 0.1)
    data = ifg[3] > 0
    inner = data.copy()
    inner[:8], inner[-8:], inner[:, :4], inner[:, -4:] = False, False, False, False  # sinc edge taps
    coh = ifg[2][inner]
    ph = ifg[1][inner]
    print(f"self pair: coherence mean {coh.mean():.5f}, min {coh.min():.5f}; |phase| max {np.abs(ph).max():.2e} rad")
    assert coh.min() >= 0.99 and np.abs(ph).max() < 1e-3
