"""Simulator: products the reader opens, truth that matches the pixels, determinism, command line."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import rasterio

from diapsar.geoid import geoid_undulation_grid
from diapsar.geometry import RadarGrid, geo2rdr, rdr2geo_dem
from diapsar.io.safe import open_product
from diapsar.orbit import Orbit
from diapsar.simulate import TRUTH_BANDS, simulate_stack
from diapsar.simulate.acquisition import Acquisition, tops_phase, tops_phase_at
from diapsar.simulate.physics import invert

warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)


def _read_all(safe):
    prod = open_product(safe)
    meta = prod.swath()
    data = prod.read(None, None, 0, 0, meta.number_of_lines, meta.number_of_samples)
    return meta, data


def _truth(out, pair):
    with rasterio.open(out / pair["file"]) as ds:
        return {name: ds.read(i + 1) for i, name in enumerate(ds.descriptions)}


def _expected_coherence(truth, rows, cols):
    """Coherence a window estimate should give: the truth coherence weighted by the expected power P + N,
    with P / (P + N) = coherence / coherence_signal and N constant."""
    coh = truth["coherence"][rows, cols]
    ratio = coh / np.maximum(truth["coherence_signal"][rows, cols], 1e-9)
    w = 1.0 / np.maximum(1.0 - ratio, 1e-6)
    return float(np.sum(coh * w) / np.sum(w))


def _phase_bound(coherence, n_pixels, band=0.7):
    """Bound on the residual phase of a sum of ``n_pixels`` interferogram pixels "within noise": 5 standard
    deviations of the phase of ``n_pixels * band**2`` independent looks of this coherence (Cramer-Rao,
    sqrt(1 - g^2) / (g sqrt(2 N)); the simulated spectra fill ~70 % of each band) + 0.01 rad of model error."""
    g = min(max(coherence, 1e-3), 0.999)
    return 5.0 * np.sqrt(1.0 - g * g) / (g * np.sqrt(2.0 * n_pixels * band * band)) + 0.01


def _sinc_resample(img, lines, pixels, half=8):
    """Windowed-sinc interpolation of ``img`` at fractional (lines, pixels) (plain reference resampler)."""
    out = np.zeros(lines.shape, complex)
    l0 = np.floor(lines).astype(int)
    p0 = np.floor(pixels).astype(int)
    fl, fp = lines - l0, pixels - p0
    wl = [np.sinc(i - fl) * np.cos(np.pi * (i - fl) / (2 * half)) ** 2 for i in range(-half + 1, half + 1)]
    wp = [np.sinc(j - fp) * np.cos(np.pi * (j - fp) / (2 * half)) ** 2 for j in range(-half + 1, half + 1)]
    for a, i in enumerate(range(-half + 1, half + 1)):
        li = np.clip(l0 + i, 0, img.shape[0] - 1)
        for b, j in enumerate(range(-half + 1, half + 1)):
            pj = np.clip(p0 + j, 0, img.shape[1] - 1)
            out += wl[a] * wp[b] * img[li, pj]
    return out


def _coregister_burst(s_meta, s, truth, b, rows, cols, extra_lines=0.0):
    """Slave burst ``b`` on master pixels (rows x cols, full-swath master lines) the standard TOPS way: deramp
    with the slave's annotation, resample at the truth offsets (+ ``extra_lines``), reramp with the slave's
    ramp at the slave positions."""
    L = s_meta.lines_per_burst
    orb = Orbit(s_meta.orbit)
    q_line = rows[:, None] + truth["azimuth_offset_px"][np.ix_(rows, cols)] + extra_lines - b * L
    q_pix = cols[None, :] + truth["range_offset_px"][np.ix_(rows, cols)]
    sd = s[b * L:(b + 1) * L] * np.exp(-1j * tops_phase(s_meta, orb, b, np.arange(L), np.arange(s.shape[1])))
    return _sinc_resample(sd, q_line, q_pix) * np.exp(1j * tops_phase_at(s_meta, orb, b, q_line, q_pix))


def _burst_interferogram(m, s_meta, s, truth, b, rows, cols, extra_lines=0.0):
    sr = _coregister_burst(s_meta, s, truth, b, rows, cols, extra_lines)
    mm = m[np.ix_(rows, cols)]
    ifg = mm * np.conj(sr) * np.exp(-1j * (truth["topographic_phase_rad"][np.ix_(rows, cols)]
                                           + truth["deformation_phase_rad"][np.ix_(rows, cols)]))
    return ifg, mm, sr


@pytest.fixture(scope="module")
def sm_pair(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim_sm")
    res = simulate_stack(out, mode="sm", dates=2, size=(448, 384), seed=3, n_targets=0,
                         timing_error_lines=[0.0, 0.02])
    return out, res


@pytest.fixture(scope="module")
def sm_targets(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim_targets")
    res = simulate_stack(out, mode="sm", dates=2, size=(256, 320), seed=5, n_targets=5)
    return out, res


@pytest.fixture(scope="module")
def iw_pair(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim_iw")
    res = simulate_stack(out, mode="iw", dates=2, size=(0, 320), bursts=3, lines_per_burst=240, seed=4,
                         n_targets=0, coherence=(0.9, 0.9), timing_error_lines=[0.0, 0.0])
    return out, res


def test_products_open_with_the_reader(sm_pair):
    out, res = sm_pair
    assert len(res.products) == 2
    tj = json.loads(res.truth_json.read_text())
    for k, safe in enumerate(res.products):
        assert safe.parent == out and safe.name.endswith(".SAFE") and safe.name.startswith("S1A_S3_SLC__1SSV_")
        prod = open_product(safe)
        assert prod.swaths == ["S3"] and prod.polarisations == ["VV"]
        meta = prod.swath()
        assert (meta.number_of_lines, meta.number_of_samples) == (448, 384)
        assert meta.mode == "SM" and not meta.is_tops and len(meta.orbit) >= 8
        assert meta.calibration is not None and meta.noise is not None
        assert meta.date == tj["acquisitions"][k]["date"]
        data = prod.read(None, None, 0, 0, 448, 384)
        assert data.dtype == np.complex64 and np.all(np.isfinite(data))
        # speckle on land: ~100 DN rms (scale of the simulator), not a constant
        assert 40 < np.sqrt(np.mean(np.abs(data) ** 2)) < 200
        assert np.std(data.real) > 10
    # the master's spectrum: range at baseband, azimuth centred on the annotated Doppler centroid (CDE)
    meta, data = _read_all(res.products[0])
    az = np.angle(np.sum(data[1:] * np.conj(data[:-1]))) / (2 * np.pi)
    rg = np.angle(np.sum(data[:, 1:] * np.conj(data[:, :-1]))) / (2 * np.pi)
    want = float(meta.dc_estimates[0](meta.sample_to_range_time(192))) * meta.azimuth_time_interval_s
    print(f"Doppler centroid: {az:.4f} cycles/line (annotation {want:.4f}), range centre {rg:+.4f} cycles/pixel")
    assert abs(az - want) < 0.003 and want > 0.01 and abs(rg) < 0.005
    assert res.dem_path == out / "dem" / "dem.tif"
    with rasterio.open(res.dem_path) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.tags()["HEIGHT_REFERENCE"] == "EGM96"
        h = ds.read(1)
        assert h.max() > 30 and h.min() == 0.0  # land and sea (height 0 as in SRTM)
    # the DEM layer assembles it for the scene with its default margin
    from shapely import wkt

    from diapsar.io.dem import build_scene_dem, read_dem

    fp = wkt.loads(open_product(res.products[0]).swath().footprint_wkt)
    vrt = build_scene_dem(out / "dem", fp, out / "scene_dem.vrt")
    heights, _, _ = read_dem(vrt, bbox=fp.buffer(0.05).bounds)
    assert np.all(np.isfinite(heights)) and heights.shape[0] > 100


def test_manifest_lists_every_file_with_size_and_checksum(sm_pair):
    """manifest.safe (diapsar.io.manifest, shared with the crop) names every file of the SAFE with its size and
    MD5, and says what parse_manifest reads."""
    import hashlib
    import xml.etree.ElementTree as ET

    from diapsar.io.safe import parse_manifest

    _, res = sm_pair
    for safe in res.products:
        data = (safe / "manifest.safe").read_bytes()
        listed = {}
        for bs in ET.fromstring(data).iter("byteStream"):
            href = bs.find("fileLocation").get("href")[2:]
            listed[href] = (int(bs.get("size")), bs.find("checksum").text)
        on_disk = {p.relative_to(safe).as_posix() for p in safe.rglob("*") if p.is_file()} - {"manifest.safe"}
        assert set(listed) == on_disk and len(on_disk) == 4
        for rel, (size, md5) in listed.items():
            content = (safe / rel).read_bytes()
            assert size == len(content) and md5 == hashlib.md5(content).hexdigest()
        info = parse_manifest(data)
        meta = open_product(safe).swath()
        assert (info.mission, info.mode, info.product_type, info.polarisations) == ("S1A", "SM", "SLC", ("VV",))
        assert info.absolute_orbit == meta.absolute_orbit and info.pass_direction == meta.pass_direction


def test_geolocation_grid_is_consistent_with_geo2rdr(sm_pair, iw_pair):
    for _out, res in (sm_pair, iw_pair):
        for safe in res.products:
            meta = open_product(safe).swath()
            g = meta.geolocation_grid
            rg = RadarGrid.from_metadata(meta)
            t, tau = geo2rdr(Orbit(meta.orbit), g.latitude_deg, g.longitude_deg, g.height_m,
                             t_guess_s=g.azimuth_time_s)
            if meta.is_tops:
                line = rg.time_to_line(t, burst=rg.burst_of_time(g.azimuth_time_s, range_time=tau),
                                       range_time=tau)
            else:
                line = rg.time_to_line(t, range_time=tau)
            assert np.max(np.abs(line - g.line)) < 0.002
            assert np.max(np.abs(rg.range_time_to_pixel(tau) - g.pixel)) < 0.01


def test_truth_offsets_match_exact_inversion(sm_pair):
    """Truth offsets (node grid + cubic interpolation) against exact SAR->ground->SAR at random pixels, using
    only what was written (annotations, DEM, truth.json)."""
    out, res = sm_pair
    tj = json.loads(res.truth_json.read_text())
    pair = tj["pairs"][0]
    truth = _truth(out, pair)
    m_meta, _ = _read_all(res.products[0])
    s_meta, _ = _read_all(res.products[1])
    with rasterio.open(res.dem_path) as ds:
        ortho = ds.read(1).astype(np.float64)
        gt = ds.transform.to_gdal()
        lons = gt[0] + (np.arange(ds.width) + 0.5) * gt[1]
        lats = gt[3] + (np.arange(ds.height) + 0.5) * gt[5]
    dem = ortho + geoid_undulation_grid(lats, lons)
    # pixel <-> zero-Doppler times as the reader does it (ESA's bistatic term, tau_ref fitted on each grid)
    rg_m, rg_s = RadarGrid.from_metadata(m_meta), RadarGrid.from_metadata(s_meta)
    assert rg_m.bistatic_reference_range_time_s is not None and rg_s.bistatic_reference_range_time_s is not None
    rng = np.random.default_rng(0)
    lines = rng.uniform(0, 447, 200)
    pix = rng.uniform(0, 383, 200)
    t_m, tau_m = rg_m.radar_to_times(lines, pix)
    lat, lon, h = rdr2geo_dem(Orbit(m_meta.orbit), t_m, tau_m, dem, gt)
    err_s = pair["timing_error_s"]
    slave = Acquisition(1, s_meta, Orbit(s_meta.orbit), timing_error_s=err_s)
    t_s, tau_s = invert(slave, lat, lon, h, t_m + (s_meta.first_line_time_s - m_meta.first_line_time_s), tau_m)
    li, pi = np.round(lines).astype(int), np.round(pix).astype(int)
    # evaluate at integer pixels: recompute the exact value there
    t_m, tau_m = rg_m.radar_to_times(li, pi)
    lat, lon, h = rdr2geo_dem(Orbit(m_meta.orbit), t_m, tau_m, dem, gt)
    t_s, tau_s = invert(slave, lat, lon, h, t_s, tau_s)
    # the slave data are ``err_s`` late: its true line time is the annotated one + err_s
    line_s, pix_s = rg_s.times_to_radar(t_s - err_s, tau_s)
    d_az = truth["azimuth_offset_px"][li, pi] - (line_s - li)
    d_rg = truth["range_offset_px"][li, pi] - (pix_s - pi)
    print(f"truth interpolation error: azimuth {np.abs(d_az).max():.2e} px (median {np.median(np.abs(d_az)):.1e}), "
          f"range {np.abs(d_rg).max():.2e} px")
    # float64 absolute times are quantised at 0.12 us = 2.3e-4 stripmap line: the truth and this check each
    # carry about two such steps, the rest (node grid + cubic interpolation) is far smaller
    assert np.abs(d_az).max() < 2e-3 and np.median(np.abs(d_az)) < 1e-3 and np.abs(d_rg).max() < 1e-3
    # the hidden timing error shifts the data by 0.02 line: truth = annotation-only prediction - error
    assert pair["timing_error_lines"] == pytest.approx(0.02)
    topo = 2 * np.pi * m_meta.radar_frequency_hz * (tau_s - tau_m)
    assert np.abs(truth["topographic_phase_rad"][li, pi] - topo).max() < 0.03


def test_coherence_and_phase_match_truth(sm_pair):
    out, res = sm_pair
    tj = json.loads(res.truth_json.read_text())
    truth = _truth(out, tj["pairs"][0])
    assert list(truth) == list(TRUTH_BANDS)
    with rasterio.open(out / tj["pairs"][0]["file"]) as ds:
        assert [ds.tags(i)["UNITS"] for i in (1, 2, 3, 5, 6)] == ["pixel", "line", "rad", "mm", "1"]
    _, m = _read_all(res.products[0])
    _, s = _read_all(res.products[1])
    nl, ns = m.shape
    ll, pp = np.mgrid[0:nl, 0:ns].astype(float)
    sr = _sinc_resample(s, ll + truth["azimuth_offset_px"], pp + truth["range_offset_px"])
    ifg = m * np.conj(sr) * np.exp(-1j * (truth["topographic_phase_rad"] + truth["deformation_phase_rad"]))
    edge = 20
    cols = slice(edge, ns - edge)
    errs, phases = [], []
    for r0 in range(edge, nl - edge - 64, 64):
        rows = slice(r0, r0 + 64)
        acc = ifg[rows, cols].sum()
        coh = abs(acc) / np.sqrt((abs(m[rows, cols]) ** 2).sum() * (abs(sr[rows, cols]) ** 2).sum())
        want = _expected_coherence(truth, rows, cols)
        errs.append(coh - want)
        bound = _phase_bound(want, ifg[rows, cols].size)
        phases.append(abs(np.angle(acc)) / bound)
        print(f"rows {r0}-{r0 + 63}: coherence {coh:.3f} truth {want:.3f} residual phase {np.angle(acc):+.3f} "
              f"(bound {bound:.3f})")
    assert max(abs(e) for e in errs) < 0.02
    assert max(phases) < 1.0
    # the requested field spans 0.2..1.0 along track (times the noise factor)
    assert truth["coherence_signal"].min() < 0.25 and truth["coherence_signal"].max() > 0.95
    # the deformation is real: the truth carries a Mogi bump of several radians
    assert np.ptp(truth["deformation_phase_rad"]) > 2.0
    # and it is in the pixels: at the bump, the interferogram without the deformation removed has its phase
    raw = m * np.conj(sr) * np.exp(-1j * truth["topographic_phase_rad"])
    i, j = np.unravel_index(np.argmax(np.abs(truth["deformation_phase_rad"][edge:-edge, edge:-edge])), (nl - 2 * edge,
                                                                                                     ns - 2 * edge))
    win = (slice(i + edge - 24, i + edge + 24), slice(max(j + edge - 24, 0), j + edge + 24))
    expected = np.angle(np.exp(1j * truth["deformation_phase_rad"][win]).sum())
    print(f"at the deformation bump: interferogram phase {np.angle(raw[win].sum()):+.3f}, truth {expected:+.3f}")
    assert abs(expected) > 0.5 and abs(np.angle(raw[win].sum() * np.exp(-1j * expected))) < 0.1


def test_sm_timing_error_is_in_the_pixels(sm_pair):
    """Stripmap: the hidden 0.02-line timing error of the slave is in its pixels and nowhere else. Spectral
    diversity in azimuth (sub-band interferograms below/above the Doppler centroid) measures the residual shift
    of the slave resampled at the truth offsets (~0) and at the annotation-only offsets (truth + 0.02 line)."""
    out, res = sm_pair
    tj = json.loads(res.truth_json.read_text())
    pair = tj["pairs"][0]
    truth = _truth(out, pair)
    m_meta, m = _read_all(res.products[0])
    _, s = _read_all(res.products[1])
    nl, ns = m.shape
    fdc = m_meta.dc_estimates[0].coefficients[0] * m_meta.azimuth_time_interval_s  # cycles per line
    d = (np.fft.fftfreq(nl)[:, None] - fdc + 0.5) % 1.0 - 0.5
    ll, pp = np.mgrid[0:nl, 0:ns].astype(float)
    spec_m = np.fft.fft(m, axis=0)

    def residual_shift(extra_lines):
        sr = _sinc_resample(s, ll + truth["azimuth_offset_px"] + extra_lines, pp + truth["range_offset_px"])
        spec_s = np.fft.fft(sr, axis=0)
        ifg, freq = [], []
        for sel in (d < 0, d >= 0):
            ifg.append(np.fft.ifft(spec_m * sel, axis=0) * np.conj(np.fft.ifft(spec_s * sel, axis=0)))
            power = np.abs(spec_m) ** 2 * sel
            freq.append(float((power * d).sum() / power.sum()))
        dphi = np.angle((ifg[1] * np.conj(ifg[0]))[20:-20, 20:-20].sum())
        return -dphi / (2.0 * np.pi * (freq[1] - freq[0]))

    at_truth, at_annotation = residual_shift(0.0), residual_shift(pair["timing_error_lines"])
    print(f"azimuth misregistration: {at_truth:+.4f} line with the truth offsets, {at_annotation:+.4f} with the "
          f"annotation-only offsets (hidden error {pair['timing_error_lines']})")
    assert pair["timing_error_lines"] == pytest.approx(0.02)
    assert abs(at_truth) < 0.003 and abs(at_annotation - pair["timing_error_lines"]) < 0.003


def test_point_targets_are_where_the_truth_says(sm_targets):
    out, res = sm_targets
    tj = json.loads(res.truth_json.read_text())
    assert len(tj["point_targets"]) == 5
    _, m = _read_all(res.products[0])
    found = 0
    for t in tj["point_targets"]:
        assert -90 < t["lat_deg"] < 90 and t["height_ellipsoidal_m"] != t["height_orthometric_m"]
        for pos in t["positions"]:
            if pos["acquisition"] != 0:
                continue
            line, pix = pos["line"], pos["pixel"]
            li, pi = int(round(line)), int(round(pix))
            if not (3 <= li < m.shape[0] - 3 and 3 <= pi < m.shape[1] - 3):
                continue
            win = np.abs(m[li - 3:li + 4, pi - 3:pi + 4])
            r, c = np.unravel_index(np.argmax(win), win.shape)
            assert abs(li - 3 + r - line) <= 0.75 and abs(pi - 3 + c - pix) <= 0.75
            assert win.max() > 10 * np.median(np.abs(m))
            found += 1
    assert found >= 3


def test_iw_bursts_and_tops_ramp(iw_pair):
    out, res = iw_pair
    tj = json.loads(res.truth_json.read_text())
    m_meta, m = _read_all(res.products[0])
    s_meta, s = _read_all(res.products[1])
    assert m_meta.is_tops and len(m_meta.bursts) == 3 and m_meta.lines_per_burst == 240
    dts = np.diff([b.azimuth_time_s for b in m_meta.bursts])
    assert np.allclose(dts, 2.7583 * 240 / 1507, atol=1e-6)  # burst cycle scaled with the burst length
    assert 240 * m_meta.azimuth_time_interval_s > dts[0]  # consecutive bursts overlap
    b0 = m_meta.bursts[0]
    valid = b0.first_valid_sample >= 0
    assert 0 < np.argmax(valid) < 10 and not valid[-1]
    assert np.all(m[0, :] == 0)  # invalid first line written as zeros, as ESA does
    # before deramping the azimuth spectrum of a burst sweeps kHz; after, it sits at baseband
    b = 1
    rows = np.arange(240)
    cols = np.arange(m.shape[1])
    blk = m[b * 240:(b + 1) * 240].astype(complex)
    der = blk * np.exp(-1j * tops_phase(m_meta, Orbit(m_meta.orbit), b, rows, cols))

    def local_doppler(x):  # CDE: cycles per line between consecutive lines, per quarter burst
        return [np.angle(np.sum(x[q + 1:q + 60] * np.conj(x[q:q + 59]))) / (2 * np.pi)
                for q in (20, 90, 160)]

    raw_f = local_doppler(blk)
    der_f = local_doppler(der)
    print("local Doppler (cycles/line) raw", np.round(raw_f, 3), "deramped", np.round(der_f, 3))
    assert max(abs(f) for f in der_f) < 0.03
    assert abs(raw_f[2] - raw_f[0]) > 0.2
    # truth on the burst layout: coregister each slave burst the standard TOPS way
    truth = _truth(out, tj["pairs"][0])
    errs = []
    for b in range(3):
        rows = np.arange(b * 240 + 20, (b + 1) * 240 - 20)
        ifg, mm, sr = _burst_interferogram(m, s_meta, s, truth, b, rows, np.arange(20, 300))
        acc = ifg.sum()
        coh = abs(acc) / np.sqrt((abs(mm) ** 2).sum() * (abs(sr) ** 2).sum())
        want = _expected_coherence(truth, slice(rows[0], rows[-1] + 1), slice(20, 300))
        print(f"burst {b}: coherence {coh:.3f} truth {want:.3f} phase {np.angle(acc):+.3f} "
              f"(bound {_phase_bound(want, ifg.size):.3f})")
        errs.append(abs(coh - want))
        assert abs(np.angle(acc)) < _phase_bound(want, ifg.size)
    assert max(errs) < 0.02


def test_deterministic_from_seed(tmp_path):
    kw = dict(mode="sm", dates=2, size=(64, 96), n_targets=2)
    a = simulate_stack(tmp_path / "a", seed=7, **kw)
    b = simulate_stack(tmp_path / "b", seed=7, **kw)
    c = simulate_stack(tmp_path / "c", seed=8, **kw)
    for pa, pb, pc in zip(a.products, b.products, c.products):
        assert pa.name == pb.name
        da, db, dc = _read_all(pa)[1], _read_all(pb)[1], _read_all(pc)[1]
        assert np.array_equal(da, db)
        assert not np.array_equal(da, dc)
    ta = _truth(a.out_dir, a.pairs[0])
    tb = _truth(b.out_dir, b.pairs[0])
    for k in TRUTH_BANDS:
        assert np.array_equal(ta[k], tb[k], equal_nan=True)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "diapsar", "simulate", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_writes_products_and_reports(tmp_path):
    r = _cli("--mode", "sm", "--out", str(tmp_path / "o"), "--dates", "3", "--size", "64", "80", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(".SAFE") == 3 and "truth.json" in r.stdout
    safes = sorted((tmp_path / "o").glob("*.SAFE"))
    assert len(safes) == 3 and (tmp_path / "o" / "dem" / "dem.tif").is_file()
    tj = json.loads((tmp_path / "o" / "truth" / "truth.json").read_text())
    assert len(tj["pairs"]) == 2 and tj["pairs"][0]["timing_error_lines"] == pytest.approx(0.02)
    assert tj["pairs"][1]["timing_error_lines"] == 0.0


def _far_dem(path):
    """A small lon/lat DEM far from the simulated scene (La Reunion)."""
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(2.0, 46.0, 0.01, 0.01)) as dst:
        dst.write(np.full((1, 20, 20), 100.0, np.float32))
    return path


@pytest.mark.parametrize("args, words", [
    (["--mode", "sm", "--out", "{tmp}", "--dates", "0"], "--dates"),
    (["--mode", "sm", "--out", "{tmp}", "--beam", "S9"], "S9"),
    (["--mode", "sm", "--out", "{tmp}", "--size", "5", "5"], "samples"),
    (["--mode", "iw", "--out", "{tmp}", "--from-safe", "x.SAFE"], "--swath"),
    (["--mode", "sm", "--out", "{tmp}", "--coherence", "0.2", "1.5"], "coherence"),
    (["--mode", "sm", "--out", "{tmp}", "--size", "64", "64", "--truth-master", "2"], "truth master index 2"),
    (["--mode", "sm", "--out", "{tmp}", "--size", "64", "64", "--dem", "{dem}"], "does not cover"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, words):
    dem = _far_dem(tmp_path / "far.tif")
    r = _cli(*[a.replace("{tmp}", str(tmp_path / "o")).replace("{dem}", str(dem)) for a in args])
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr and words in lines[0], r.stderr
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_failed_run_leaves_an_existing_folder_as_it_was(tmp_path):
    from diapsar.errors import DemError

    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("kept")
    with pytest.raises(DemError, match="does not cover"):
        simulate_stack(out, mode="sm", size=(64, 64), dem_file=_far_dem(tmp_path / "far.tif"))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def _morocco_pair(s1_data):
    """The two Morocco IW SLC products (skip when absent)."""
    pair = s1_data / "morocco_iw_pair_20230904_20230916"
    safes = sorted(pair.glob("S1A_IW_SLC__1SDV_*.SAFE"))
    if len(safes) != 2:
        pytest.skip(f"Morocco pair not found in {pair}")
    return safes


def test_real_geometry_keeps_the_real_layout(s1_data, tmp_path):
    """Morocco pair, IW1 bursts 2-3, 600 samples: real burst times and IDs, geolocation grid, Doppler and
    FM-rate polynomials kept; pixels consistent with the truth after deramping."""
    safes = _morocco_pair(s1_data)
    from diapsar.simulate.real import simulate_from_safe

    res = simulate_from_safe(tmp_path, safes, swath="IW1", bursts=(2, 3), samples=(8000, 600), seed=2,
                             n_targets=0, timing_error_lines=[0.0, 0.0])
    for real_safe, sim_safe in zip(safes, res.products):
        real = open_product(real_safe).swath("IW1", "VV")
        sim = open_product(sim_safe).swath()
        real_ids = [b.burst_id for b in real.bursts]
        L = real.lines_per_burst
        k0 = real_ids.index(sim.bursts[0].burst_id)
        assert [b.burst_id for b in sim.bursts] == real_ids[k0:k0 + 2]
        for sb, rb in zip(sim.bursts, real.bursts[k0:k0 + 2]):
            assert sb.azimuth_time_s == pytest.approx(rb.azimuth_time_s, abs=1e-6)
            ok = rb.first_valid_sample >= 0
            assert np.array_equal(sb.first_valid_sample >= 0, ok)
        assert sim.lines_per_burst == real.lines_per_burst and sim.number_of_samples == 600
        assert sim.azimuth_steering_rate_deg_s == real.azimuth_steering_rate_deg_s
        assert len(sim.dc_estimates) > 0 and len(sim.fm_rates) > 0
        near = min(real.dc_estimates, key=lambda p: abs(p.azimuth_time_s - sim.dc_estimates[0].azimuth_time_s))
        assert np.allclose(sim.dc_estimates[0].coefficients, near.coefficients, rtol=1e-6)
        rg = RadarGrid.from_metadata(sim)
        # the written grid carries ESA's bistatic term with the real product's own tau_ref
        tau_ref_real = RadarGrid.from_metadata(real).bistatic_reference_range_time_s
        assert tau_ref_real is not None and rg.bistatic_reference_range_time_s is not None
        assert abs(rg.bistatic_reference_range_time_s - tau_ref_real) < 1e-6
        g = sim.geolocation_grid
        t, tau = geo2rdr(Orbit(sim.orbit), g.latitude_deg, g.longitude_deg, g.height_m, t_guess_s=g.azimuth_time_s)
        line, pix = rg.times_to_radar(t, tau, burst=rg.burst_of_time(g.azimuth_time_s, range_time=tau))
        assert np.max(np.abs(line - g.line)) < 0.002 and np.max(np.abs(pix - g.pixel)) < 0.01
        # the real ESA grid points inside the window hold in the simulated product's frame
        rgr = real.geolocation_grid
        s0 = round((sim.slant_range_time_s - real.slant_range_time_s) * real.range_sampling_rate_hz)
        inside = (rgr.line >= k0 * L) & (rgr.line < (k0 + 2) * L) & (rgr.pixel >= s0) & (rgr.pixel < s0 + 600)
        assert inside.sum() >= 2
        t, tau = geo2rdr(Orbit(sim.orbit), rgr.latitude_deg[inside], rgr.longitude_deg[inside],
                         rgr.height_m[inside], t_guess_s=rgr.azimuth_time_s[inside])
        line, pix = rg.times_to_radar(t, tau, burst=rg.burst_of_time(rgr.azimuth_time_s[inside], range_time=tau))
        d_line = np.max(np.abs(line - (rgr.line[inside] - k0 * L)))
        print(f"{sim_safe.name[:40]}: {inside.sum()} real ESA grid points in the window, within {d_line:.4f} line "
              f"and {np.max(np.abs(pix - (rgr.pixel[inside] - s0))):.1e} px of the simulated geometry")
        assert d_line < 0.01
        assert np.max(np.abs(pix - (rgr.pixel[inside] - s0))) < 0.01
    tj = json.loads(res.truth_json.read_text())
    truth = _truth(tmp_path, tj["pairs"][0])
    m_meta, m = _read_all(res.products[0])
    s_meta, s = _read_all(res.products[1])
    L = m_meta.lines_per_burst
    assert tj["real_geometry"]["bursts"] == [2, 3]
    for b in range(2):
        rows = np.arange(b * L + 300, (b + 1) * L - 300, 3)
        ifg, mm, sr = _burst_interferogram(m, s_meta, s, truth, b, rows, np.arange(20, 580))
        acc = ifg.sum()
        coh = abs(acc) / np.sqrt((abs(mm) ** 2).sum() * (abs(sr) ** 2).sum())
        want = _expected_coherence(truth, slice(rows[0], rows[-1] + 1, 3), slice(20, 580))
        print(f"real geometry burst {b}: coherence {coh:.3f} truth {want:.3f} phase {np.angle(acc):+.3f} "
              f"(bound {_phase_bound(want, ifg.size):.3f})")
        assert abs(coh - want) < 0.02 and abs(np.angle(acc)) < _phase_bound(want, ifg.size)


def test_real_geometry_targets_are_where_the_reader_puts_them(s1_data, tmp_path):
    """Real geometry (Morocco IW1): geo2rdr of each point target with the written annotation (orbit, bursts,
    geolocation grid -> bistatic convention of RadarGrid) gives the line/pixel where the simulator put it (less
    the hidden timing error)."""
    safes = _morocco_pair(s1_data)
    from diapsar.simulate.real import simulate_from_safe

    res = simulate_from_safe(tmp_path, safes, swath="IW1", bursts=(2, 3), samples=(8000, 500), seed=1,
                             n_targets=8, timing_error_lines=[0.0, 0.02])
    tj = json.loads(res.truth_json.read_text())
    worst, n = 0.0, 0
    for k, safe in enumerate(res.products):
        meta = open_product(safe).swath()
        rg = RadarGrid.from_metadata(meta)
        te = tj["acquisitions"][k]["timing_error_lines"]
        for t in tj["point_targets"]:
            az, tau = geo2rdr(Orbit(meta.orbit), t["lat_deg"], t["lon_deg"], t["height_ellipsoidal_m"])
            for pos in (p for p in t["positions"] if p["acquisition"] == k):
                line, pix = rg.times_to_radar(az, tau, burst=pos["burst"])
                worst = max(worst, abs(float(line) - te - pos["line"]), abs(float(pix) - pos["pixel"]))
                n += 1
    print(f"real geometry: {n} target positions, reader prediction within {worst:.4f} px of the simulator's")
    assert n >= 8 and worst < 0.01


@pytest.mark.parametrize("mode, kw", [
    ("sm", dict(size=(160, 1200))),
    ("iw", dict(size=(0, 2500), bursts=2, lines_per_burst=100)),
])
def test_bistatic_convention_is_recovered_by_the_reader(tmp_path, mode, kw):
    """Pixels follow ESA's bistatic azimuth convention: the reader fits back from the written grid the tau_ref
    the simulator used (SM: the swath's mid-range; IW1 alone: where IW2's mid-range sits in the synthetic swath
    layout), and geo2rdr + times_to_radar puts the point targets and the grid's edge columns on the simulated
    lines (without the term they would be up to |tau - tau_ref| / 2 away, listed as ``term``)."""
    res = simulate_stack(tmp_path, mode=mode, dates=2, seed=11, n_targets=8, timing_error_lines=[0.0, 0.02],
                         **kw)
    tj = json.loads(res.truth_json.read_text())
    worst, worst_grid, term, d_ref, n = 0.0, 0.0, 0.0, 0.0, 0
    for k, safe in enumerate(res.products):
        meta = open_product(safe).swath()
        rg = RadarGrid.from_metadata(meta)
        used = tj["acquisitions"][k]["bistatic_reference_range_time_s"]
        fs, ns = meta.range_sampling_rate_hz, meta.number_of_samples
        mid = meta.sample_to_range_time(0.5 * (ns - 1))
        # IW1 alone: IW2 would follow with the layout's 10 % overlap
        want = mid if mode == "sm" else mid + (ns - round(0.1 * ns)) / fs
        assert used == pytest.approx(want, abs=1e-9)
        assert rg.bistatic_reference_range_time_s is not None
        d_ref = max(d_ref, abs(rg.bistatic_reference_range_time_s - used))
        assert abs(rg.bistatic_reference_range_time_s - used) < 1e-6  # grid times are written to 1 us
        dt = meta.azimuth_time_interval_s
        g = meta.geolocation_grid
        t, tau = geo2rdr(Orbit(meta.orbit), g.latitude_deg, g.longitude_deg, g.height_m, t_guess_s=g.azimuth_time_s)
        burst = rg.burst_of_time(g.azimuth_time_s, range_time=tau) if meta.is_tops else None
        line, _ = rg.times_to_radar(t, tau, burst=burst)
        worst_grid = max(worst_grid, float(np.max(np.abs(line - g.line))))
        term = max(term, float(np.max(np.abs(tau - used))) / 2 / dt)
        te = tj["acquisitions"][k]["timing_error_lines"]
        for tg in tj["point_targets"]:
            az, tau = geo2rdr(Orbit(meta.orbit), tg["lat_deg"], tg["lon_deg"], tg["height_ellipsoidal_m"])
            for pos in (p for p in tg["positions"] if p["acquisition"] == k):
                line, pix = rg.times_to_radar(az, tau, burst=pos.get("burst"))
                worst = max(worst, abs(float(line) - te - pos["line"]))
                assert abs(float(pix) - pos["pixel"]) < 0.01
                n += 1
    print(f"{mode}: tau_ref recovered within {d_ref * 1e6:.2f} us; {n} target positions within {worst:.4f} line, grid edges "
          f"within {worst_grid:.4f} line (bistatic term at the edges {term:.4f} line)")
    assert n >= 6 and worst < 0.002 and worst_grid < 0.002 and term > 0.004


@pytest.fixture(scope="module")
def iw_esd(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim_esd")
    res = simulate_stack(out, mode="iw", dates=2, size=(0, 256), bursts=2, lines_per_burst=400, seed=6,
                         n_targets=0, coherence=(0.95, 0.95), snr_db=30.0, timing_error_lines=[0.0, 0.05])
    return out, res


def test_timing_error_shows_only_in_burst_overlaps(iw_esd):
    """A 0.05-line timing error: coregistering with the annotation-only offsets (truth + error) leaves the
    burst-overlap double difference 2 pi (f_b - f_b+1) dt predicted by the steering ramps (what ESD
    measures); with the true offsets it vanishes."""
    out, res = iw_esd
    tj = json.loads(res.truth_json.read_text())
    pair = tj["pairs"][0]
    assert pair["timing_error_lines"] == pytest.approx(0.05)
    truth = _truth(out, pair)
    m_meta, m = _read_all(res.products[0])
    s_meta, s = _read_all(res.products[1])
    L = m_meta.lines_per_burst
    dt = m_meta.azimuth_time_interval_s
    n_ovl = int((m_meta.bursts[0].azimuth_time_s + L * dt - m_meta.bursts[1].azimuth_time_s) / dt)
    assert n_ovl > 30
    cols = np.arange(16, 240)
    rows0 = np.arange(L - n_ovl + 8, L - 12)  # end of burst 0
    rows1 = np.arange(L + 12, L + n_ovl - 8)  # start of burst 1 (same ground)
    orb = Orbit(m_meta.orbit)

    def doppler(b, lines):  # local frequency (Hz) of the steering ramp, averaged over the block
        f = (tops_phase_at(m_meta, orb, b, lines[:, None] + 0.5, cols[None, :])
             - tops_phase_at(m_meta, orb, b, lines[:, None] - 0.5, cols[None, :])) / (2 * np.pi * dt)
        return float(f.mean())

    f0, f1 = doppler(0, rows0), doppler(1, rows1 - L)
    results = {}
    for extra in (0.0, pair["timing_error_lines"]):
        i0, _, _ = _burst_interferogram(m, s_meta, s, truth, 0, rows0, cols, extra)
        i1, _, _ = _burst_interferogram(m, s_meta, s, truth, 1, rows1, cols, extra)
        results[extra] = float(np.angle(i0.sum() * np.conj(i1.sum())))
    want = -2 * np.pi * (f0 - f1) * pair["timing_error_lines"] * dt
    print(f"overlap Doppler difference {f0 - f1:.0f} Hz; ESD phase with true offsets {results[0.0]:+.3f}, "
          f"with annotation-only offsets {results[pair['timing_error_lines']]:+.3f} (expected {want:+.3f})")
    assert abs(f0 - f1) > 1000
    assert abs(results[0.0]) < 0.05
    assert abs(results[pair["timing_error_lines"]] - want) < 0.05 * abs(want) + 0.03


def test_iw_three_swaths_in_one_product(tmp_path):
    res = simulate_stack(tmp_path, mode="iw", dates=2, size=(0, 128), bursts=2, lines_per_burst=120, seed=9,
                         beam="all", n_targets=3)
    tj = json.loads(res.truth_json.read_text())
    assert tj["swaths"] == ["IW1", "IW2", "IW3"] and len(tj["pairs"]) == 3
    ids = {}
    for safe in res.products:
        prod = open_product(safe)
        assert prod.swaths == ["IW1", "IW2", "IW3"]
        taus = []
        for sw in prod.swaths:
            meta = prod.swath(sw)
            assert meta.is_tops and len(meta.bursts) == 2 and meta.number_of_samples == 128
            ids.setdefault(sw, []).append([b.burst_id for b in meta.bursts])
            taus.append((meta.slant_range_time_s, meta.sample_to_range_time(127)))
            assert np.abs(prod.read(sw, None, 0, 0, meta.number_of_lines, 128)).max() > 0
        # swaths side by side in range with some overlap
        assert taus[0][0] < taus[1][0] < taus[0][1] < taus[2][0] < taus[1][1]
    for per_date in ids.values():
        assert per_date[0] == per_date[1] and len(set(per_date[0])) == 2  # same, distinct burst IDs
    for p in tj["pairs"]:
        assert (res.out_dir / p["file"]).is_file() and p["file"].endswith(f"_{p['swath'].lower()}_truth.tif")


def test_real_geometry_on_a_real_dem(s1_data, tmp_path):
    """Morocco IW1 burst 0 on the real DEM tile shipped with the pair: the ground of the physics is that DEM,
    and the truth still matches the pixels."""
    safes = _morocco_pair(s1_data)
    dem = safes[0].parent / "dem" / "dem-b1-s1a-iw1-slc-vv-20230904t063731-20230904t063756-050174-0609e3-004.tiff"
    if not dem.is_file():
        pytest.skip(f"Morocco DEM tile {dem} not found")
    from diapsar.errors import DemError
    from diapsar.simulate.real import simulate_from_safe

    kw = dict(swath="IW1", bursts=(0, 0), seed=1, n_targets=0, timing_error_lines=[0.0, 0.0], node_step=8,
              dem_file=dem)
    with pytest.raises(DemError, match="does not cover"):
        simulate_from_safe(tmp_path / "far", safes, samples=(200, 64), **kw)
    res = simulate_from_safe(tmp_path / "ok", safes, samples=(8000, 400), **kw)
    tj = json.loads(res.truth_json.read_text())
    assert tj["dem"]["source"] == str(dem)
    with rasterio.open(res.dem_path) as ds, rasterio.open(dem) as src:
        written = ds.read(1)
        assert ds.res == pytest.approx(src.res)
        assert 200 < np.median(written) < 1500  # the Haouz plain and foothills, not the synthetic volcano
    truth = _truth(res.out_dir, tj["pairs"][0])
    m_meta, m = _read_all(res.products[0])
    s_meta, s = _read_all(res.products[1])
    for r0 in (200, 700, 1150):
        rows = np.arange(r0, r0 + 200, 2)
        ifg, mm, sr = _burst_interferogram(m, s_meta, s, truth, 0, rows, np.arange(20, 380))
        acc = ifg.sum()
        coh = abs(acc) / np.sqrt((abs(mm) ** 2).sum() * (abs(sr) ** 2).sum())
        want = _expected_coherence(truth, slice(r0, r0 + 200, 2), slice(20, 380))
        print(f"real DEM rows {r0}-{r0 + 199}: coherence {coh:.3f} truth {want:.3f} phase {np.angle(acc):+.3f} "
              f"(bound {_phase_bound(want, ifg.size):.3f})")
        assert abs(coh - want) < 0.02 and abs(np.angle(acc)) < _phase_bound(want, ifg.size)


def test_tops_ramp_sign_matches_real_sentinel1_pixels(s1_data):
    """The steering ramp the simulator puts in IW bursts has the sign and rate of real data: the local
    Doppler (lag-one phase, cycles/line) of the real Terceira IW3 crop sweeps along azimuth at the rate
    d f / d line that ``tops_phase_at`` predicts from its annotation (not at minus that rate)."""
    crop = s1_data / "terceira_iw3_20220918_real_crop"
    tif = crop / "s1a-iw3-slc-vv_subset_hight9800_10400_width11000_11000.tiff"
    xml = crop / "s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.xml"
    if not (tif.is_file() and xml.is_file()):
        pytest.skip(f"Terceira crop not found in {crop}")
    from diapsar.io.safe import open_annotation

    meta = open_annotation(xml)
    with rasterio.open(tif) as ds:
        x = ds.read(1).astype(np.complex128)
    line0, sample0 = 9799, 10999  # window of the crop in the full swath (README of the test data)
    L = meta.lines_per_burst
    b = line0 // L
    centres, cycles = [], []
    for q in range(0, x.shape[0] - 21, 10):
        cycles.append(np.angle(np.sum(x[q + 1:q + 20] * np.conj(x[q:q + 19]))) / (2 * np.pi))
        centres.append(q + 10)
    measured = np.polyfit(centres, np.unwrap(np.array(cycles) * 2 * np.pi) / (2 * np.pi), 1)[0]
    orb = Orbit(meta.orbit)
    cols = (np.arange(x.shape[1]) + sample0)[None, :]

    def local_doppler(line):  # cycles per line of the ramp at a burst line, averaged over the columns
        up = tops_phase_at(meta, orb, b, np.array([[line + 0.5]]), cols)
        down = tops_phase_at(meta, orb, b, np.array([[line - 0.5]]), cols)
        return float(np.mean(up - down)) / (2 * np.pi)

    lb = line0 - b * L
    predicted = (local_doppler(lb + 450) - local_doppler(lb + 150)) / 300.0
    print(f"Doppler sweep: real pixels {measured:.5f}, simulator ramp {predicted:.5f} cycles/line per line")
    assert predicted > 0.004 and abs(measured - predicted) < 0.1 * predicted
