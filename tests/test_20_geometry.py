"""Range-Doppler geometry against ESA's own geolocation grids (real annotations), round trips, DEM intersection.

Run with ``-s`` to see the per-annotation figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diapsar.errors import SelectionError
from diapsar.geometry import (
    RadarGrid,
    ecef_to_llh,
    geo2rdr,
    llh_to_ecef,
    rdr2geo,
    rdr2geo_dem,
)
from diapsar.io.eof import select_orbit_file
from diapsar.io.safe import open_annotation, open_product
from diapsar.metadata import StateVectors
from diapsar.orbit import Orbit

# annotations rewritten by upstream tools (burst2safe / eos-sar): their grids are not ESA's
EXCLUDED = ("sitka_", "albania_")


def _slc_annotations(root: Path):
    """(label, SwathMetadata) of every SLC annotation in the test data, zipped products included."""
    out = []
    for xml in sorted(root.rglob("*.xml")):
        if xml.parent.name != "annotation" and "terceira" not in str(xml):
            continue
        if not xml.name.startswith("s1") or any(x in str(xml) for x in EXCLUDED):
            continue
        meta = open_annotation(xml)
        if meta.product_type == "SLC":
            out.append((xml.name, meta))
    for z in sorted(root.rglob("*.zip")):
        if any(x in str(z) for x in EXCLUDED) or "SLC" not in z.name:
            continue
        prod = open_product(z)
        for meta in prod.all_swaths():
            if meta.product_type == "SLC":
                out.append((f"{z.name}:{meta.swath}-{meta.polarisation}", meta))
    return out


@pytest.fixture(scope="module")
def annotations(s1_data):
    items = _slc_annotations(s1_data)
    assert len(items) >= 30, f"expected the ~40 SLC annotations of the test data, found {len(items)}"
    return items


def _grid_residuals(meta, orbit):
    g = meta.geolocation_grid
    az, tau = geo2rdr(orbit, g.latitude_deg, g.longitude_deg, g.height_m)
    d_line = (az - g.azimuth_time_s) / meta.azimuth_time_interval_s
    d_pix = (tau - g.slant_range_time_s) * meta.range_sampling_rate_hz
    return d_line, d_pix


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def test_geo2rdr_reproduces_esa_geolocation_grids(annotations):
    worst = {}
    print()
    for label, meta in annotations:
        d_line, d_pix = _grid_residuals(meta, Orbit(meta.orbit))
        assert np.all(np.isfinite(d_line)) and np.all(np.isfinite(d_pix)), label
        a, r = _rms(d_line), _rms(d_pix)
        print(f"  {meta.mode} {meta.swath:3s} {meta.mission} {meta.date} {meta.polarisation} n={d_line.size:4d} "
              f"azimuth {d_line.mean():+.4f} rms {a:.4f} max {np.abs(d_line).max():.4f} line | "
              f"range rms {r:.5f} max {np.abs(d_pix).max():.5f} pixel   {label}")
        limit = 0.01 if meta.mode == "IW" else 0.5
        assert a <= limit and r <= limit, f"{label}: azimuth rms {a:.4f}, range rms {r:.5f} (limit {limit})"
        worst[meta.mode] = max(worst.get(meta.mode, 0.0), a, r)
    assert {"IW", "EW", "SM"} <= set(worst), worst
    # with the annotated velocities (ESA's zero-Doppler convention) SM and EW are as good as IW
    assert worst["SM"] < 0.01 and worst["EW"] < 0.01, worst


def test_position_derivative_velocity_explains_sm_ew_offsets(annotations):
    """The +0.23 (S3) / -0.09 (EW) line offsets come from using d(position)/dt instead of ESA's velocities."""
    seen = set()
    for label, meta in annotations:
        if meta.mode not in ("SM", "EW") or meta.mode in seen:
            continue
        seen.add(meta.mode)
        d_ann, _ = _grid_residuals(meta, Orbit(meta.orbit, velocity="annotated"))
        d_der, _ = _grid_residuals(meta, Orbit(meta.orbit, velocity="derived"))
        print(f"\n  {meta.mode}: azimuth offset with derived velocity {d_der.mean():+.4f} line, "
              f"with annotated velocity {d_ann.mean():+.4f} line ({label})")
        assert abs(d_der.mean()) > 0.05  # the offset the data README reports
        assert abs(d_ann.mean()) < 0.005
    assert seen == {"SM", "EW"}


def test_radar_grid_lines_match_esa_grid(annotations):
    """geo2rdr + times_to_radar of each grid point lands on its grid line/pixel (IW: the burst ESA's grid uses).

    Lines include the residual bistatic azimuth shift (tau - tau_ref)/2; without it the nominal line of a
    grid time is off by up to 0.14 line, which the second check shows.
    """
    print()
    for label, meta in annotations:
        g = meta.geolocation_grid
        rg = RadarGrid.from_metadata(meta)
        assert rg.bistatic_reference_range_time_s is not None, label
        az, tau = geo2rdr(Orbit(meta.orbit), g.latitude_deg, g.longitude_deg, g.height_m)
        line, pixel = rg.times_to_radar(az, tau)
        dl, dp = line - g.line, pixel - g.pixel
        print(f"  {meta.mode} {meta.swath:3s} {meta.date} line rms {_rms(dl):.4f} max {np.abs(dl).max():.4f} | "
              f"pixel max {np.abs(dp).max():.4f} | tau_ref {rg.bistatic_reference_range_time_s * 1e3:.4f} ms"
              f"   {label}")
        assert np.abs(dl).max() < 0.01, f"{label}: line mismatch up to {np.abs(dl).max():.4f}"
        assert np.abs(dp).max() < 0.01, f"{label}: pixel mismatch up to {np.abs(dp).max():.4f}"
        nominal = rg.time_to_line(g.azimuth_time_s) - g.line  # no bistatic term
        assert 0.02 < np.abs(nominal).max() < 0.3, label
        # radar_to_times inverts times_to_radar; line_to_time inverts time_to_line on the image lines
        # (50 lines later, away from the burst boundaries where the grid rows lie: a boundary line maps to
        # the burst that starts there)
        t_in = az + 50 * meta.azimuth_time_interval_s
        line_in, pixel_in = rg.times_to_radar(t_in, tau)
        t2, tau2 = rg.radar_to_times(line_in, pixel_in)
        np.testing.assert_allclose((t2 - t_in) / meta.azimuth_time_interval_s, 0.0, atol=1e-4)
        np.testing.assert_allclose(tau2, tau, rtol=0, atol=1e-15)
        lines = np.arange(0, meta.number_of_lines, 97, dtype=float)
        back = rg.time_to_line(rg.line_to_time(lines), burst=rg.burst_of_line(lines) if rg.is_tops else None)
        np.testing.assert_allclose(back, lines, atol=1e-4)  # float64 seconds since 2000: ~1e-7 s


def test_bistatic_reference_is_the_centre_swath_mid_range(s1_data):
    """The fitted tau_ref of IW1, IW2 and IW3 is the IW2 mid-range time (the IPF's bistatic reference)."""
    for folder in ("morocco_iw_pair_20230904_20230916", "haida_gwaii_iw_pair_20250406_20250418"):
        for safe in sorted((s1_data / folder).glob("*.SAFE")):
            prod = open_product(safe)
            iw2 = prod.swath("IW2")
            mid = iw2.slant_range_time_s + 0.5 * (iw2.number_of_samples - 1) / iw2.range_sampling_rate_hz
            for sw in ("IW1", "IW2", "IW3"):
                ref = RadarGrid.from_metadata(prod.swath(sw)).bistatic_reference_range_time_s
                # 5 us of range time = 0.0012 line of azimuth shift
                assert abs(ref - mid) < 5e-6, (safe.name, sw, ref, mid)


def test_radar_grid_overlap_uses_later_burst(annotations):
    meta = next(m for _, m in annotations if m.mode == "IW")
    rg = RadarGrid.from_metadata(meta)
    b1 = meta.bursts[1]
    t = b1.azimuth_time_s + 10 * meta.azimuth_time_interval_s  # inside the overlap of bursts 0 and 1
    assert t < meta.bursts[0].azimuth_time_s + meta.lines_per_burst * meta.azimuth_time_interval_s
    assert int(rg.burst_of_time(t)) == 1
    assert rg.time_to_line(t) == pytest.approx(b1.first_line + 10, abs=1e-4)
    # explicit burst: the same time seen in burst 0
    in0 = rg.time_to_line(t, burst=0)
    assert in0 == pytest.approx((t - meta.bursts[0].azimuth_time_s) / meta.azimuth_time_interval_s, abs=1e-4)
    assert meta.lines_per_burst / 2 < in0 < meta.lines_per_burst
    with pytest.raises(SelectionError):
        rg.time_to_line(t, burst=len(meta.bursts))


def test_rdr2geo_round_trip_and_esa_positions(annotations):
    for label, meta in annotations[::4]:
        g = meta.geolocation_grid
        orbit = Orbit(meta.orbit)
        lat, lon, h = rdr2geo(orbit, g.azimuth_time_s, g.slant_range_time_s, g.height_m)
        # distance to ESA's grid position (its times are rounded to 1 us = ~7 mm along track)
        d = np.linalg.norm(llh_to_ecef(lat, lon, h) - llh_to_ecef(g.latitude_deg, g.longitude_deg, g.height_m),
                           axis=-1)
        assert np.nanmax(d) < 0.5, f"{label}: rdr2geo differs from ESA grid by {np.nanmax(d):.3f} m"
        np.testing.assert_allclose(h, g.height_m, atol=1e-4)
        az, tau = geo2rdr(orbit, lat, lon, h)
        assert np.abs(az - g.azimuth_time_s).max() / meta.azimuth_time_interval_s < 1e-4
        assert np.abs(tau - g.slant_range_time_s).max() * meta.range_sampling_rate_hz < 1e-4


def test_rdr2geo_left_looking_is_on_the_other_side(annotations):
    meta = annotations[0][1]
    orbit = Orbit(meta.orbit)
    t = meta.geolocation_grid.azimuth_time_s[:5]
    tau = meta.geolocation_grid.slant_range_time_s[:5]
    r = llh_to_ecef(*rdr2geo(orbit, t, tau, 0.0, "RIGHT"))
    left = llh_to_ecef(*rdr2geo(orbit, t, tau, 0.0, "LEFT"))
    s, v = orbit.position_velocity(t)
    side_r = np.einsum("ij,ij->i", np.cross(v, -s), r - s)
    side_l = np.einsum("ij,ij->i", np.cross(v, -s), left - s)
    assert np.all(side_r * side_l < 0)
    az, _ = geo2rdr(orbit, *ecef_to_llh(left))
    np.testing.assert_allclose(az, t, atol=1e-6)
    with pytest.raises(SelectionError):
        rdr2geo(orbit, t, tau, 0.0, "UP")


def test_ecef_llh_round_trip_and_pyproj():
    pyproj = pytest.importorskip("pyproj")
    rng = np.random.default_rng(3)
    lat = rng.uniform(-89.99, 89.99, 2000)
    lon = rng.uniform(-180, 180, 2000)
    h = rng.uniform(-500, 9000, 2000)
    xyz = llh_to_ecef(lat, lon, h)
    tr = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    x, y, z = tr.transform(lon, lat, h)
    np.testing.assert_allclose(xyz, np.stack([x, y, z], -1), atol=1e-6)
    la, lo, hh = ecef_to_llh(xyz)
    np.testing.assert_allclose(la, lat, atol=1e-11)
    np.testing.assert_allclose(lo, lon, atol=1e-11)
    np.testing.assert_allclose(hh, h, atol=1e-6)
    assert llh_to_ecef(np.zeros((2, 3)), 0.0, 0.0).shape == (2, 3, 3)


def test_rdr2geo_dem_lands_on_the_surface(annotations):
    meta = next(m for _, m in annotations if m.mode == "IW")
    orbit = Orbit(meta.orbit)
    g = meta.geolocation_grid
    # a DEM with a 1500 m Gaussian hill (ellipsoidal heights) over the scene, 0.001 deg posts
    lat0, lat1 = g.latitude_deg.min() - 0.1, g.latitude_deg.max() + 0.1
    lon0, lon1 = g.longitude_deg.min() - 0.1, g.longitude_deg.max() + 0.1
    d = 0.002
    lats = np.arange(lat1, lat0, -d) - d / 2
    lons = np.arange(lon0, lon1, d) + d / 2
    cla, clo = g.latitude_deg.mean(), g.longitude_deg.mean()
    dem = 100.0 + 1500.0 * np.exp(-(((lats[:, None] - cla) / 0.1) ** 2 + ((lons[None, :] - clo) / 0.15) ** 2))
    gt = (lon0, d, 0.0, lat1, 0.0, -d)
    rg = RadarGrid.from_metadata(meta)
    lines = np.linspace(0, meta.number_of_lines - 1, 60)
    pix = np.linspace(0, meta.number_of_samples - 1, 50)
    L, P = np.meshgrid(lines, pix, indexing="ij")
    t, tau = rg.line_to_time(L), rg.pixel_to_range_time(P)
    lat, lon, h = rdr2geo_dem(orbit, t, tau, dem, gt)
    ok = np.isfinite(lat)
    assert ok.mean() > 0.95
    # on the surface: the DEM (bilinear) at the found lon/lat equals the found height
    from scipy.interpolate import RegularGridInterpolator

    interp = RegularGridInterpolator((lats[::-1], lons), dem[::-1], method="linear")
    hd = interp(np.stack([lat[ok], lon[ok]], -1))
    assert np.abs(hd - h[ok]).max() < 0.01
    assert h[ok].max() > 1000  # the hill was hit
    # and back to the same radar coordinates
    az, tau2 = geo2rdr(orbit, lat[ok], lon[ok], h[ok])
    assert np.abs(az - t[ok]).max() / meta.azimuth_time_interval_s < 1e-3
    assert np.abs(tau2 - tau[ok]).max() * meta.range_sampling_rate_hz < 1e-3
    # outside the DEM: NaN
    lat_o, _, _ = rdr2geo_dem(orbit, t[:1, :1], tau[:1, :1], dem[:5, :5], gt)
    assert np.isnan(lat_o).all()


def test_geo2rdr_with_orbit_file_on_terceira(s1_data):
    folder = s1_data / "terceira_iw3_20220918_real_crop"
    meta = open_annotation(next(folder.glob("s1a-iw3-*.xml")))
    sv = select_orbit_file(folder, meta.mission, meta.start_time_s, meta.stop_time_s)
    assert sv.source.startswith("S1A_OPER_AUX_RESORB_OPOD_20220918")
    d_line, d_pix = _grid_residuals(meta, Orbit(sv))
    print(f"\n  Terceira IW3 with {sv.source}: azimuth rms {_rms(d_line):.4f} line, range rms {_rms(d_pix):.5f} px")
    assert _rms(d_line) < 0.01 and _rms(d_pix) < 0.01


def test_geo2rdr_outside_orbit_gives_nan(annotations):
    meta = annotations[0][1]
    sv = meta.orbit
    short = StateVectors(sv.time_s[:6], sv.position_m[:6], sv.velocity_m_s[:6])
    g = meta.geolocation_grid
    orbit = Orbit(short)
    az, tau = geo2rdr(orbit, g.latitude_deg, g.longitude_deg, g.height_m)
    inside = (g.azimuth_time_s > sv.time_s[0]) & (g.azimuth_time_s < sv.time_s[5])
    assert np.isnan(az[~inside]).all() and np.isnan(tau[~inside]).all()
    # a guess is accepted and gives the same answer as the coarse search
    full = Orbit(sv)
    a1, t1 = geo2rdr(full, g.latitude_deg, g.longitude_deg, g.height_m)
    a2, t2 = geo2rdr(full, g.latitude_deg, g.longitude_deg, g.height_m, t_guess_s=g.azimuth_time_s.mean())
    np.testing.assert_allclose(a1, a2, atol=1e-8)
    np.testing.assert_allclose(t1, t2, atol=1e-14)


# ------------------------------------------------------------------------------------ diapsar geo2rdr (CLI)

def _run_cli(argv, capsys):
    from diapsar.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_geo2rdr_command_reproduces_grid(s1_data, tmp_path, capsys):
    from diapsar.timeutil import iso_to_seconds

    folder = s1_data / "terceira_iw3_20220918_real_crop"
    xml = next(folder.glob("s1a-iw3-*.xml"))
    meta = open_annotation(xml)
    g = meta.geolocation_grid
    sel = np.arange(0, g.line.size, 7)
    csv_path = tmp_path / "points.csv"
    rows = ["lat,lon,h"] + [f"{g.latitude_deg[i]:.15g},{g.longitude_deg[i]:.15g},{g.height_m[i]:.15g}" for i in sel]
    csv_path.write_text("\n".join(rows) + "\n")
    for extra in ([], ["--orbit", str(folder)]):
        code, out, err = _run_cli(["geo2rdr", str(xml), "--llh", str(csv_path), *extra], capsys)
        assert code == 0, err
        lines = out.strip().splitlines()
        assert lines[0] == "line,pixel,azimuth_time,slant_range_time"
        assert len(lines) == sel.size + 1
        vals = [r.split(",") for r in lines[1:]]
        line = np.array([float(v[0]) for v in vals])
        pixel = np.array([float(v[1]) for v in vals])
        az = np.array([iso_to_seconds(v[2]) for v in vals])
        tau = np.array([float(v[3]) for v in vals])
        assert all(len(v[2]) == 26 and v[2][10] == "T" for v in vals)  # YYYY-MM-DDTHH:MM:SS.ffffff
        assert np.abs(line - g.line[sel]).max() < 0.01
        assert np.abs(pixel - g.pixel[sel]).max() < 0.01
        assert np.abs(az - g.azimuth_time_s[sel]).max() / meta.azimuth_time_interval_s < 0.01
        assert np.abs(tau - g.slant_range_time_s[sel]).max() * meta.range_sampling_rate_hz < 0.01


def test_geo2rdr_command_on_a_grd_annotation(s1_data, tmp_path, capsys):
    """GRD: the pixel is the ground range column (slant-to-ground polynomial), as in ESA's GRD grid."""
    xml = next((s1_data / "rome_iw_grd_metadata").glob("S1B_IW_GRDH_*.SAFE/annotation/s1b-iw-grd-vv-*.xml"))
    g = open_annotation(xml).geolocation_grid
    csv_path = tmp_path / "points.csv"
    rows = ["lat,lon,h"] + [f"{a:.15g},{b:.15g},{c:.15g}" for a, b, c in
                            zip(g.latitude_deg, g.longitude_deg, g.height_m)]
    csv_path.write_text("\n".join(rows) + "\n")
    code, out, err = _run_cli(["geo2rdr", str(xml), "--llh", str(csv_path)], capsys)
    assert code == 0, err
    vals = np.array([[float(v) for v in r.split(",")[:2]] for r in out.strip().splitlines()[1:]])
    d_line, d_pix = vals[:, 0] - g.line, vals[:, 1] - g.pixel
    print(f"\n  GRD grid: line max {np.abs(d_line).max():.4f}, pixel max {np.abs(d_pix).max():.4f}")
    assert np.abs(d_line).max() < 0.01 and np.abs(d_pix).max() < 0.02


def test_geo2rdr_command_errors(s1_data, tmp_path, capsys):
    xml = next((s1_data / "terceira_iw3_20220918_real_crop").glob("s1a-iw3-*.xml"))
    cases = {
        "noheader.csv": "38.7,-27.2,0\n",
        "nonnumeric.csv": "lat,lon,h\n38.7,abc,0\n",
        "short.csv": "lat,lon,h\n38.7,-27.2\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        code, out, err = _run_cli(["geo2rdr", str(xml), "--llh", str(tmp_path / name)], capsys)
        assert code != 0 and out == ""
        assert len(err.strip().splitlines()) == 1 and name in err, err
    good = tmp_path / "good.csv"
    good.write_text("lat,lon,h\n38.7,-27.2,0\n")
    orbits = s1_data / "zipped_safe_annotations" / "orbits"
    code, out, err = _run_cli(["geo2rdr", str(xml), "--orbit", str(orbits), "--llh", str(good)], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "covers the acquisition" in err
    bad_eof = tmp_path / "S1A_OPER_AUX_POEORB_OPOD_20221008T080000_V20220917T225942_20220919T005942.EOF"
    bad_eof.write_bytes(b"\x00\x01garbage")
    code, out, err = _run_cli(["geo2rdr", str(xml), "--orbit", str(bad_eof), "--llh", str(good)], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "not readable" in err, err
    # a folder or a missing file instead of the annotation XML
    for wrong, words in ((xml.parent, "is a folder"), (tmp_path / "absent.xml", "does not exist")):
        code, out, err = _run_cli(["geo2rdr", str(wrong), "--llh", str(good)], capsys)
        assert code != 0 and out == "" and len(err.strip().splitlines()) == 1 and words in err, err


def test_geo2rdr_ecef_matches_geo2rdr(annotations):
    from diapsar.geometry import geo2rdr_ecef

    meta = annotations[-1][1]
    g = meta.geolocation_grid
    orbit = Orbit(meta.orbit)
    a1, t1 = geo2rdr(orbit, g.latitude_deg, g.longitude_deg, g.height_m)
    xyz = llh_to_ecef(g.latitude_deg, g.longitude_deg, g.height_m).reshape(-1, 7, 3)
    a2, t2 = geo2rdr_ecef(orbit, xyz)
    assert a2.shape == xyz.shape[:-1]
    np.testing.assert_allclose(a2.ravel(), a1, atol=1e-8)
    np.testing.assert_allclose(t2.ravel(), t1, atol=1e-15)
    a3, _ = geo2rdr_ecef(orbit, xyz, t_guess_s=float(g.azimuth_time_s.mean()))
    np.testing.assert_allclose(a3.ravel(), a1, atol=1e-8)


def test_rdr2geo_dem_on_real_srtm_terceira(s1_data):
    """The Terceira crop window on the real SRTM tile (ellipsoidal heights): every pixel lands on the DEM."""
    from diapsar.io.dem import read_dem

    folder = s1_data / "terceira_iw3_20220918_real_crop"
    meta = open_annotation(next(folder.glob("s1a-iw3-*.xml")))
    orbit = Orbit(meta.orbit)
    rg = RadarGrid.from_metadata(meta)
    L, P = np.meshgrid(np.arange(9799, 10400, 3.0), np.arange(10999, 12400, 3.0), indexing="ij")
    t, tau = rg.line_to_time(L), rg.pixel_to_range_time(P)
    la, lo, _ = rdr2geo(orbit, t, tau, 0.0)
    bbox = (lo.min() - 0.05, la.min() - 0.05, lo.max() + 0.05, la.max() + 0.05)
    dem, gt, _ = read_dem(folder / "dem" / "N38W028.SRTMGL3.hgt.zip", bbox)
    lat, lon, h = rdr2geo_dem(orbit, t, tau, dem, gt)
    assert np.isfinite(lat).all()
    assert h.max() > 300  # the island's relief is reached
    az, tau2 = geo2rdr(orbit, lat, lon, h)
    assert np.abs(az - t).max() / meta.azimuth_time_interval_s < 1e-3
    assert np.abs(tau2 - tau).max() * meta.range_sampling_rate_hz < 1e-3
    # the returned height is the DEM's (bilinear between post centres) at the returned position
    from scipy.interpolate import RegularGridInterpolator

    lats = gt[3] + (np.arange(dem.shape[0]) + 0.5) * gt[5]
    lons = gt[0] + (np.arange(dem.shape[1]) + 0.5) * gt[1]
    interp = RegularGridInterpolator((lats[::-1], lons), dem[::-1].astype(np.float64))
    assert np.abs(interp(np.stack([lat.ravel(), lon.ravel()], -1)) - h.ravel()).max() < 0.01


def test_bistatic_reference_absent_from_grid_without_it(annotations):
    """A grid written with plain line times (no bistatic term) gives no correction."""
    import copy

    meta = copy.deepcopy(next(m for _, m in annotations if m.mode == "IW"))
    rg = RadarGrid.from_metadata(meta, bistatic=False)
    assert rg.bistatic_reference_range_time_s is None
    meta.geolocation_grid.azimuth_time_s = rg.line_to_time(meta.geolocation_grid.line)
    assert RadarGrid.from_metadata(meta).bistatic_reference_range_time_s is None
    t = meta.geolocation_grid.azimuth_time_s
    np.testing.assert_allclose(rg.time_to_line(t, range_time=meta.geolocation_grid.slant_range_time_s),
                               rg.time_to_line(t))


def test_parallel_and_serial_kernels_agree(annotations):
    import numba

    from diapsar.geometry import PARALLEL_MIN_POINTS

    meta = next(m for _, m in annotations if m.mode == "IW")
    orbit = Orbit(meta.orbit)
    rg = RadarGrid.from_metadata(meta)
    rng = np.random.default_rng(5)
    n = PARALLEL_MIN_POINTS + 1000
    t, tau = rg.radar_to_times(rng.uniform(0, meta.number_of_lines - 1, n),
                               rng.uniform(0, meta.number_of_samples - 1, n))
    h = rng.uniform(0, 2000, n)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, max(2, before)):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            lat, lon, hh = rdr2geo(orbit, t, tau, h)
            az, rt = geo2rdr(orbit, lat, lon, hh)
            results.append((lat, lon, hh, az, rt))
    finally:
        numba.set_num_threads(before)
    (a, b) = results
    # the chunk layout depends on the number of points only: the same bits on one thread as on several
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert np.abs(a[3] - t).max() / meta.azimuth_time_interval_s < 1e-4
