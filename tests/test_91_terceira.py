"""Real Terceira IW3 crop: where it lies in the full swath (DEM-simulated amplitude correlated with the real one),
and a self-pair through the chain's applications.

Upstream claim (shared data README): rows 9800-10400 and columns 11000-12400, 1-based inclusive, i.e. 0-based
first line 9799 and first sample 10999 of the full swath. The estimate below uses the annotation geometry and the
RESORB orbit, SRTM 3" heights converted to ellipsoidal heights with EGM96; the same correlation without the geoid
shows the shift the undulation N makes: dR = N cos(theta) in slant range.

Result (printed by the test): first line ~9800.0-9800.5, first sample ~10993.7-10993.9 for the whole crop, NCC
peak 0.89-0.93; halves of the crop scatter by a few lines and ~7 samples. Against the claim (9799, 10999): +1
line, -5 samples, inside that scatter. Known limits of the estimate: SRTM 3" posts (~62 m in slant range, 27
samples), a simple Lambertian backscatter model without layover/shadow, and no tropospheric delay (the real
image sits ~1.4 samples farther in range than the geometry says, which would move the estimate to ~10995).
Without the geoid the match moves by +17.6 samples, as N cos(theta) predicts (+17.9): forgetting the geoid
would be a 3x larger error than the difference from the claim.
"""

from __future__ import annotations

import glob
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from diapsar.dem_projection import DemPatch

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

CLAIM_LINE, CLAIM_SAMPLE = 9799, 10999  # 0-based, from the upstream 1-based window


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
        "egm96": DemPatch(np.nan_to_num(np.asarray(h_ell, np.float64)), tuple(gt)),
        "none": DemPatch(np.nan_to_num(np.asarray(h_orth, np.float64)), tuple(gt)),
    }
    return {"meta": meta, "orbit": orbit, "slc": slc, "dems": dems, "tmp": tmp}


def test_locate_crop_by_dem_simulated_amplitude(terceira):
    from diapsar.chains.locate import locate
    from diapsar.geoid import geoid_undulation

    t = terceira
    power = np.abs(t["slc"]) ** 2
    found = {}
    for geoid in ("egm96", "none"):
        for ml in ((1, 4), (2, 8)):
            loc = locate(power, t["meta"], t["orbit"], t["dems"][geoid], t["dems"]["none"], CLAIM_LINE,
                         CLAIM_SAMPLE, search_lines=30, search_samples=100, ml=ml)
            found[(geoid, ml)] = loc
            print(f"geoid {geoid:5s} ML {ml}: first line {loc.first_line:9.2f}, first sample {loc.first_sample:9.2f}, "
                  f"NCC peak {loc.peak:.3f} (next best {loc.second_peak:.3f})")
    best = found[("egm96", (1, 4))]
    print(f"estimate (EGM96, ML 1x4): first line {best.first_line:.2f}, first sample {best.first_sample:.2f}; "
          f"upstream claim {CLAIM_LINE}, {CLAIM_SAMPLE}: difference {best.first_line - CLAIM_LINE:+.2f} lines, "
          f"{best.first_sample - CLAIM_SAMPLE:+.2f} samples")
    # spread of the estimate: halves of the crop located on their own (scatter = what the simple backscatter
    # model and 3" SRTM can resolve)
    halves = {"top": (0, 300, 0, 1401), "bottom": (300, 601, 0, 1401), "left": (0, 601, 0, 700),
              "right": (0, 601, 700, 1401)}
    sub = []
    for name, (a0, a1, r0, r1) in halves.items():
        loc = locate(power[a0:a1, r0:r1], t["meta"], t["orbit"], t["dems"]["egm96"], t["dems"]["none"],
                     round(best.first_line) + a0, round(best.first_sample) + r0, search_lines=12, search_samples=36,
                     ml=(1, 4))
        sub.append((loc.first_line - a0, loc.first_sample - r0))
        print(f"  {name:6s} half: first line {loc.first_line - a0:9.2f}, first sample {loc.first_sample - r0:9.2f}, "
              f"NCC peak {loc.peak:.3f}")
    sub = np.array(sub)
    print(f"  halves: line {sub[:, 0].mean():.1f} +- {sub[:, 0].std():.1f}, sample {sub[:, 1].mean():.1f} +- "
          f"{sub[:, 1].std():.1f} (std of the 4 estimates)")
    assert np.all(np.abs(sub[:, 0] - best.first_line) < 8) and np.all(np.abs(sub[:, 1] - best.first_sample) < 25)
    # the peak is clear and the crop lies near the claim
    for loc in found.values():
        assert loc.peak > 0.8 and loc.peak - loc.second_peak > 0.005
    assert abs(best.first_line - CLAIM_LINE) < 5 and abs(best.first_sample - CLAIM_SAMPLE) < 15
    # both multilooks agree
    other = found[("egm96", (2, 8))]
    assert abs(other.first_line - best.first_line) < 1.0 and abs(other.first_sample - best.first_sample) < 2.0
    # forgetting the geoid moves the match by N cos(theta) / range pixel spacing, as the geometry predicts
    n_geoid = float(geoid_undulation(38.72, -27.2))
    theta = math.radians(t["meta"].incidence_angle_mid_deg)
    spacing = 299792458.0 / 2 / t["meta"].range_sampling_rate_hz
    predicted = n_geoid * math.cos(theta) / spacing
    measured = found[("none", (1, 4))].first_sample - best.first_sample
    print(f"geoid N = {n_geoid:.1f} m: predicted shift without geoid {predicted:+.1f} samples, measured "
          f"{measured:+.1f}")
    assert abs(measured - predicted) < 3.0


def test_self_pair_coherence_and_phase(terceira):
    """Master = slave through the chain's applications: geometric grid, sinc coregistration, topographic phase,
    interferogram."""
    from diapsar.coregistration import coregister_block
    from diapsar.dem_projection import dem_deformation_grid
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
    cgrid = grid.copy()
    cgrid[0] += 0.0  # the crop is its own frame: slave pixel = master pixel + shift
    coreg = coregister_block(slc, 0, n_l, cgrid, step, step, 0, n_l, n_s, doppler_cycles=dop.cycles_per_line)
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


def test_figure(terceira):
    """Simulated and real amplitude side by side at the located position (written for inspection)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from diapsar.chains.locate import multilook_power, simulate_amplitude

    t = terceira
    n_l, n_s = t["slc"].shape
    lines = np.arange(CLAIM_LINE, CLAIM_LINE + n_l, dtype=np.float64)
    samples = np.arange(CLAIM_SAMPLE, CLAIM_SAMPLE + n_s, dtype=np.float64)
    sim = simulate_amplitude(t["meta"], t["orbit"], t["dems"]["egm96"], t["dems"]["none"], lines, samples)
    real = multilook_power(np.abs(t["slc"]) ** 2, 2, 8)
    simml = multilook_power(sim ** 2, 2, 8)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].imshow(10 * np.log10(real + 1e-3), cmap="gray", aspect="auto")
    ax[0].set_title("real amplitude (dB), ML 2x8")
    ax[1].imshow(10 * np.log10(simml + 1e-6), cmap="gray", aspect="auto")
    ax[1].set_title("simulated from SRTM + EGM96")
    out = Path(t["tmp"]) / "terceira_sim_vs_real.png"
    fig.savefig(out, dpi=80)
    plt.close(fig)
    print(f"figure: {out}")
    assert out.stat().st_size > 10000
    assert np.corrcoef(np.log(real.ravel() + 1e-3), np.log(simml.ravel() + 1e-6))[0, 1] > 0.5
