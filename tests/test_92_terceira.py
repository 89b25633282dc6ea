"""Locating the real Terceira IW3 crop in its full swath (SARAmplitudeEstimation + correlation).

Real material (tests/conftest.py ``s1_data``): a 601 x 1401 crop of the S1A IW3 VV SLC of 2022-09-18, the full
IW3 annotation, a RESORB orbit file and SRTM 3" tiles (heights above EGM96). The crop's place in the full swath
is found by correlating its amplitude with the amplitude simulated from the DEM; the tests check properties of
that location (a clear, stable correlation peak inside burst 7, the shift the geoid must cause, recovery of a
known offset on simulated data), not a value copied from elsewhere. The figures are printed (pytest -s).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from diapsar.amplitude_estimation import (
    facet_model,
    load_dem,
    prepare_dem,
    simulate_amplitude,
    simulate_intensity,
    window_bbox,
)
from diapsar.errors import SelectionError
from diapsar.geometry import RadarGrid, geo2rdr, rdr2geo
from diapsar.io.measurement import MeasurementReader
from diapsar.io.safe import open_annotation
from diapsar.locate import locate_crop
from diapsar.orbit import orbit_for

FOLDER = "terceira_iw3_20220918_real_crop"
CROP = "s1a-iw3-slc-vv_subset_hight9800_10400_width11000_11000.tiff"
ANNOTATION = "s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.xml"
BURST = 6  # 0-based: the 7th of 9 bursts, lines 9084..10597 (data README)
# Search: the whole of burst 7 in azimuth, 7000 samples (about 16 km of slant range) in range.
SEARCH_SAMPLES = (8000, 7000)


@pytest.fixture(scope="module")
def scene(s1_data):
    d = s1_data / FOLDER
    if not (d / CROP).is_file():
        pytest.skip(f"{d / CROP} not found")
    meta = open_annotation(d / ANNOTATION)
    orbit = orbit_for(meta, [d])
    with MeasurementReader(d / CROP) as r:
        crop = r.read()
    b = meta.bursts[BURST]
    search = (b.first_line, SEARCH_SAMPLES[0], meta.lines_per_burst, SEARCH_SAMPLES[1])
    bbox = window_bbox(meta, orbit, search)
    out = {"dir": d, "meta": meta, "orbit": orbit, "crop": crop, "search": search, "bbox": bbox}
    for geoid in (True, False):
        dem = load_dem(d / "dem", bbox, geoid=geoid)
        out[("dem", geoid)] = dem
        out[("facets", geoid)] = facet_model(dem, meta, orbit)
    return out


def _locate(scene, geoid=True, ml=(4, 16), domain="amplitude"):
    return locate_crop(scene["crop"], scene["meta"], scene["orbit"], None, scene["search"], ml,
                       facets=scene[("facets", geoid)], domain=domain)


@pytest.fixture(scope="module")
def results(scene):
    res = {}
    for geoid in (True, False):
        for ml in ((3, 12), (4, 16), (6, 24)):
            res[(geoid, ml)] = _locate(scene, geoid, ml)
    res["highpass"] = _locate(scene, True, (4, 16), "highpass")
    print()
    for key, r in res.items():
        print(f"terceira {key}: first line {r.first_line} ({r.line:.2f}), first sample {r.first_sample} "
              f"({r.sample:.2f}), peak {r.peak:.4f}, coarse {r.coarse_peak:.4f}, secondary {r.secondary_peak:.4f} "
              f"at {r.secondary_line},{r.secondary_sample}")
    return res


def test_crop_found_inside_burst_7_with_a_clear_peak(scene, results):
    meta = scene["meta"]
    r = results[(True, (4, 16))]
    line0, sample0, nl, ns = scene["search"]
    # the whole crop inside the searched part of burst 7 (valid lines), not touching the search border
    b = meta.bursts[BURST]
    valid = np.nonzero(b.first_valid_sample >= 0)[0]
    assert b.first_line + valid[0] <= r.line and r.line + r.crop_shape[0] - 1 <= b.first_line + valid[-1]
    assert sample0 + 16 < r.sample < sample0 + ns - r.crop_shape[1] - 16
    assert r.burst == BURST
    # real vs simulated amplitude: a strong correlation, above every peak outside the main lobe
    assert r.peak > 0.6
    assert r.coarse_peak - r.secondary_peak > 0.04
    # the fine (full-resolution) peak stays within one look cell of the coarse multilook peak
    assert abs(r.line - r.extra["coarse_line"]) < r.ml[0]
    assert abs(r.sample - r.extra["coarse_sample"]) < r.ml[1]
    # high-pass correlation (land/sea step removed): same place, and a peak far above the others
    hp = results["highpass"]
    assert hp.peak_ratio > 2.0
    assert abs(hp.line - r.line) < 1.0 and abs(hp.sample - r.sample) < 2.0


def test_location_stable_between_multilook_choices(results):
    for geoid in (True, False):
        lines = [results[(geoid, ml)].line for ml in ((3, 12), (4, 16), (6, 24))]
        samples = [results[(geoid, ml)].sample for ml in ((3, 12), (4, 16), (6, 24))]
        assert max(lines) - min(lines) < 1.5, lines
        assert max(samples) - min(samples) < 2.0, samples


def test_geoid_shifts_the_location_as_the_geometry_predicts(scene, results):
    """Without the geoid the DEM is N ~ 58 m too low: every ground point moves to a longer range. The found
    first sample must move by the shift geo2rdr predicts for the crop centre, the first line hardly at all."""
    meta, orbit = scene["meta"], scene["orbit"]
    r = results[(True, (4, 16))]
    grid = RadarGrid.from_metadata(meta)
    lc, sc = r.line + r.crop_shape[0] / 2, r.sample + r.crop_shape[1] / 2
    lat, lon, _ = rdr2geo(orbit, grid.line_to_time(lc), grid.pixel_to_range_time(sc), 0.0)
    from diapsar.geoid import geoid_undulation

    n = geoid_undulation(float(lat), float(lon))
    t1, tau1 = geo2rdr(orbit, lat, lon, n)
    t0, tau0 = geo2rdr(orbit, lat, lon, 0.0)
    d_sample = float(grid.range_time_to_pixel(tau0) - grid.range_time_to_pixel(tau1))
    d_line = float(grid.time_to_line(t0, BURST) - grid.time_to_line(t1, BURST))
    print(f"\nterceira geoid N = {n:.2f} m: predicted shift {d_line:+.3f} lines, {d_sample:+.2f} samples")
    assert 40.0 < n < 70.0 and d_sample > 10.0
    for ml in ((3, 12), (4, 16), (6, 24)):
        with_g, without = results[(True, ml)], results[(False, ml)]
        assert abs((without.sample - with_g.sample) - d_sample) < 1.5
        assert abs((without.line - with_g.line) - d_line) < 0.5


def test_known_offset_recovered_on_simulated_crop(scene):
    """A speckled simulation of a known window (other backscatter model, finer facets) is found where it was
    taken, to a fraction of a pixel."""
    meta, orbit = scene["meta"], scene["orbit"]
    truth = (9850, 11203, 480, 1200)
    sim = simulate_amplitude(scene[("dem", True)], meta, orbit, truth, oversample=8, model="cos")
    rng = np.random.default_rng(92)
    speckled = sim * np.sqrt(rng.exponential(1.0, sim.shape))
    r = locate_crop(speckled, meta, orbit, None, scene["search"], (4, 16), facets=scene[("facets", True)])
    print(f"\nsimulated crop at {truth[:2]}: found {r.line:.2f}, {r.sample:.2f}, peak {r.peak:.4f}")
    assert abs(r.line - truth[0]) < 0.5
    assert abs(r.sample - truth[1]) < 1.5
    assert r.peak > 0.8


def test_simulated_amplitude_physics(scene):
    """Flat land is uniform and far brighter than sea; a slope facing the sensor is brighter than one facing
    away; with gain None the mean amplitude is 100."""
    meta, orbit = scene["meta"], scene["orbit"]
    lon0, lat0, lon1, lat1 = scene["bbox"]
    ny, nx = 240, 300
    dx, dy = (lon1 - lon0) / nx, -(lat1 - lat0) / ny
    gt = (lon0, dx, 0.0, lat1, 0.0, dy)
    window = (9700, 10500, 700, 2000)
    lat = lat1 + (np.arange(ny) + 0.5) * dy
    flat = np.full((ny, nx), 50.0)
    flat[lat < 0.5 * (lat0 + lat1)] = 0.0  # southern half: sea
    amp = simulate_amplitude(prepare_dem(flat, gt), meta, orbit, window, ml=(4, 16))
    assert abs(float(amp.mean()) - 100.0) < 1e-3
    land = amp[amp > 0.5 * amp.max()]
    sea = amp[amp < 0.5 * amp.max()]
    assert land.size > 100 and sea.size > 100
    assert np.median(sea) < 0.4 * np.median(land)
    assert np.std(land) / np.mean(land) < 0.1
    # the sensor is east of the scene (descending pass, right-looking): a surface rising to the west faces it
    lon = lon0 + (np.arange(nx) + 0.5) * dx
    rise_west = np.broadcast_to(200.0 + (lon.max() - lon) * 2.0e4, (ny, nx))  # ~0.2 m/m slope
    rise_east = np.broadcast_to(200.0 + (lon - lon.min()) * 2.0e4, (ny, nx))
    f_w = facet_model(prepare_dem(rise_west, gt), meta, orbit)
    f_e = facet_model(prepare_dem(rise_east, gt), meta, orbit)
    i_w = simulate_intensity(f_w, meta, window, (4, 16))
    i_e = simulate_intensity(f_e, meta, window, (4, 16))
    assert i_w.mean() > 1.5 * i_e.mean()


def test_bad_windows_are_user_errors(scene):
    meta, orbit = scene["meta"], scene["orbit"]
    with pytest.raises(SelectionError, match="outside"):
        locate_crop(scene["crop"], meta, orbit, None, (13000, 0, 1514, 5000), facets=scene[("facets", True)])
    with pytest.raises(SelectionError, match="smaller than the crop"):
        locate_crop(scene["crop"], meta, orbit, None, (9084, 8000, 500, 5000), facets=scene[("facets", True)])


def test_command_line(scene, results, capsys):
    from diapsar.cli import main

    d = scene["dir"]
    s = scene["search"]
    args = ["locate-crop", str(d / CROP), str(d / ANNOTATION), "--dem", str(d / "dem"), "--orbit", str(d),
            "--search", *map(str, s), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    r = results[(True, (4, 16))]
    assert abs(out["line"] - r.line) < 0.3 and abs(out["sample"] - r.sample) < 0.6
    assert out["geoid"] is True and out["burst"] == BURST
    # bad input: one line on stderr, non-zero exit
    assert main(["locate-crop", str(d / "missing.tiff"), str(d / ANNOTATION), "--dem", str(d / "dem")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.tiff" in err[0]
    assert main(["locate-crop", str(d / CROP), str(d / ANNOTATION), "--dem", str(d / "dem"),
                 "--search", "0", "0", "20000", "100"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outside" in err[0]
